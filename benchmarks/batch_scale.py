"""batch.py on Dask: scale-out, resume and a 100-file collection, on the dev programmes.

(a) The 12 dev programmes (seg/prog_NN.wav), 1 worker then 2, in interleaved rounds, two ways:
    end to end: `batch.py seg/ --out NEW --workers N` (its own LocalCluster started and stopped,
                imports and model loading included: what a user waits for);
    warm:       batch.py's local cluster of N single-threaded workers started here, each worker's models loaded
                by one pinned warm-up file, then the 12 programmes through batch.run_jobs (what a long
                collection's throughput scales with).
(b) The end-to-end command again over the finished outputs of (a)'s first 2-worker run.
(c) 100 symlinks to the programmes under other names through a fresh 2-worker cluster (cold workers,
    timed from the first submission): files per hour, each worker's peak RSS (getrusage), and every
    output compared with cli.py's for a `clams source` of the same file (timestamps, appProfiling
    and the app version left out).
(d) The collection end to end with 1 worker, then 2, then the 2-worker command again over its
    finished outputs: (a) and (b) on a collection long enough for start-up not to dominate.

Run in the main venv:  .venv/bin/python benchmarks/batch_scale.py [--rounds 2] [--files 100] [--separate]
Writes benchmarks/out/batch_scale[-separate].{md,json}.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _bench import DEFAULT_CORPUS, MAIN_PY, OUT, REPO, run_measured

sys.path.insert(0, str(REPO))  # the workers started here import batch.py (their server copies sys.path)
# batch.py runs as a user runs it: no core pinning, no thread limits beyond Dask's own
ENV = dict(os.environ, PYTHONUNBUFFERED="1")


def peak_rss_mb() -> float:
    """Runs on a worker: its own peak RSS so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def end_to_end(workers: int, inputs: Path, out: Path, params: list[str], log: Path) -> dict:
    import batch
    r = run_measured([MAIN_PY, "batch.py", str(inputs), "--out", str(out), "--workers", str(workers), *params],
                     env=ENV, log=log)
    r["index"] = batch.read_index(out / batch.INDEX_NAME)
    return r


def on_cluster(workers: int, inputs: Path, out: Path, params: list[str], warm: Path | None) -> dict:
    """The inputs through batch.run_jobs on a fresh local cluster of `workers` single-threaded workers,
    batch.py's own (batch.dask_client); with `warm`, that file is first processed once on every
    worker (loading its models)."""
    import batch
    import cli
    from segmenter.output_paths import prepare_output_dir
    md = batch.app_metadata()
    out_dir = prepare_output_dir(out)
    runtime = batch.with_output_dir(cli.runtime_params(batch.argument_parser(md).parse_args(
        ["-", "--out", str(out), *params]), md), out_dir)
    jobs = batch.collect_jobs([str(inputs)], out_dir)
    version = batch.app_version()
    t0 = time.perf_counter()
    with batch.dask_client(workers, None) as client:
        client.wait_for_workers(workers)
        start = time.perf_counter() - t0
        if warm is not None:
            client.gather([client.submit(batch.process, str(warm), batch.media_type(warm),
                                         str(out_dir / f".warm-{i}.mmif"), runtime, version, workers=[w],
                                         pure=False) for i, w in enumerate(client.scheduler_info()["workers"])])
        t1 = time.perf_counter()
        rows = list(batch.run_jobs(client, jobs, runtime, version))
        span = time.perf_counter() - t1
        rss = sorted(client.run(peak_rss_mb).values())
    assert all(r["status"] == batch.OK for r in rows), rows
    return {"seconds": span, "cluster_start": start, "worker_rss": rss,
            "busy_seconds": sum(float(r["seconds"]) for r in rows)}


def normalised(mmif_text: str) -> dict:
    d = json.loads(mmif_text)
    for v in d["views"]:
        v["metadata"].pop("timestamp", None)
        v["metadata"].pop("appProfiling", None)
        v["metadata"]["app"] = re.sub(r"/[^/]*$", "/<version>", v["metadata"]["app"])
    return d


def same_as_cli(media: Path, batch_out: Path, work: Path, params: list[str]) -> bool:
    """cli.py on a `clams source` of `media`, compared with batch.py's output for it."""
    import batch
    from mmif.utils.cli.source import generate_source_mmif_from_file
    src, out = work / (media.name + ".source.mmif"), work / (media.name + ".cli.mmif")
    src.write_text(generate_source_mmif_from_file([f"{batch.media_type(media)}:{media}"]))
    subprocess.run([MAIN_PY, "cli.py", *params, str(src), str(out)], cwd=REPO, check=True,
                   capture_output=True)
    return normalised(out.read_text()) == normalised(batch_out.read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--files", type=int, default=100, help="size of the collection in (c)")
    ap.add_argument("--separate", action="store_true", help="run the app with separate=true")
    args = ap.parse_args()
    import soundfile as sf
    progs = sorted((args.corpus / "seg").glob("prog_*.wav"))
    assert len(progs) == 12, f"expected 12 programmes in {args.corpus / 'seg'}, found {len(progs)}"
    audio_hours = sum(sf.info(p).duration for p in progs) / 3600
    work = Path(tempfile.mkdtemp(prefix="batch_scale-"))
    # separated tracks into one folder for batch.py and cli.py alike, so that their MMIFs can match
    params = ["--separate", "true", "--outputDir", str(work / "tracks")] if args.separate else []
    name = "batch_scale" + ("-separate" if args.separate else "")
    OUT.mkdir(exist_ok=True)
    log = OUT / f"{name}.log"
    log.write_text("")
    seg = work / "seg"  # the programmes only (seg/ also holds their references)
    seg.mkdir()
    for p in progs:
        (seg / p.name).symlink_to(p)
    res: dict = {"date": time.strftime("%Y-%m-%d"), "audio_hours": audio_hours, "params": params, "rounds": []}

    for i in range(args.rounds):
        rnd = {}
        for n in (1, 2):
            load = os.getloadavg()[0]  # other work on the machine shows here
            e = end_to_end(n, seg, work / f"e2e-{n}-{i}", params, log)
            assert e["returncode"] == 0 and len(e["index"]) == 12, e
            w = on_cluster(n, seg, work / f"warm-{n}-{i}", params, warm=progs[0])
            rnd[n] = {"end_to_end": e["seconds"], "warm": w["seconds"], "busy": w["busy_seconds"],
                      "cluster_start": w["cluster_start"], "load": load}
            print(f"round {i}, {n} worker(s): end to end {e['seconds']:.1f} s, warm {w['seconds']:.1f} s "
                  f"(busy {w['busy_seconds']:.1f} s), cluster start {w['cluster_start']:.1f} s", file=sys.stderr)
        res["rounds"].append(rnd)

    rerun = end_to_end(2, seg, work / "e2e-2-0", params, log)
    assert rerun["returncode"] == 0 and all(x["status"] == "skipped" for x in rerun["index"].values()), rerun
    res["rerun"] = {"seconds": rerun["seconds"], "first": res["rounds"][0][2]["end_to_end"]}
    print(f"rerun {rerun['seconds']:.2f} s", file=sys.stderr)

    coll = work / "collection"
    coll.mkdir()
    for k in range(args.files):
        p = progs[k % len(progs)]
        (coll / f"item_{k:03d}_{p.stem}.wav").symlink_to(p)
    files = sorted(coll.iterdir())
    coll_hours = sum(sf.info(f).duration for f in files) / 3600
    c = on_cluster(2, coll, work / "collection-out", params, warm=None)
    print(f"collection: {c['seconds']:.1f} s", file=sys.stderr)
    (work / "cli").mkdir()
    with ThreadPoolExecutor(2) as pool:
        same = list(pool.map(lambda f: same_as_cli(f, work / "collection-out" / (f.name + ".mmif"), work / "cli",
                                                   params), files))
    res["collection"] = {"files": len(files), "audio_hours": coll_hours, "seconds": c["seconds"],
                         "busy": c["busy_seconds"], "cluster_start": c["cluster_start"],
                         "worker_rss": c["worker_rss"], "identical_to_cli": sum(same)}
    coll_e2e = {}
    for n in (1, 2):
        e = end_to_end(n, coll, work / f"collection-e2e-{n}", params, log)
        assert e["returncode"] == 0 and len(e["index"]) == len(files), e
        coll_e2e[n] = e["seconds"]
        print(f"collection end to end, {n} worker(s): {e['seconds']:.1f} s", file=sys.stderr)
    again = end_to_end(2, coll, work / "collection-e2e-2", params, log)
    assert again["returncode"] == 0 and all(x["status"] == "skipped" for x in again["index"].values()), again
    res["collection_end_to_end"] = {"1": coll_e2e[1], "2": coll_e2e[2], "rerun": again["seconds"]}
    (OUT / f"{name}.json").write_text(json.dumps(res, indent=2))
    (OUT / f"{name}.md").write_text(report(res))
    print(report(res))
    return 0


def report(res: dict) -> str:
    rows = ["| round | end to end, 1 worker (s) | 2 workers (s) | speed-up | warm, 1 worker (s) | 2 workers (s) "
            "| speed-up |", "|---|---|---|---|---|---|---|"]
    e_ratio, w_ratio = [], []
    for i, r in enumerate(res["rounds"]):
        e, w = r[1]["end_to_end"] / r[2]["end_to_end"], r[1]["warm"] / r[2]["warm"]
        e_ratio.append(e), w_ratio.append(w)
        rows.append(f"| {i} | {r[1]['end_to_end']:.1f} | {r[2]['end_to_end']:.1f} | {e:.2f}x | "
                    f"{r[1]['warm']:.1f} | {r[2]['warm']:.1f} | {w:.2f}x |")
    rr, col, ce = res["rerun"], res["collection"], res["collection_end_to_end"]
    return "\n".join([
        f"{res['date']}, 12 dev programmes ({res['audio_hours']:.3f} h), parameters: {' '.join(res['params']) or 'defaults'}",
        "", *rows, "",
        f"median speed-up of 2 workers over 1: end to end {statistics.median(e_ratio):.2f}x, warm "
        f"{statistics.median(w_ratio):.2f}x. Cluster start-up (in the end-to-end times only): "
        + ", ".join(f"{r[n]['cluster_start']:.1f} s" for r in res["rounds"] for n in (1, 2))
        + ". Load average before each pair: " + ", ".join(f"{r[n]['load']:.1f}" for r in res["rounds"] for n in (1, 2)),
        "",
        f"rerun over finished outputs: {rr['seconds']:.2f} s = {100 * rr['seconds'] / rr['first']:.1f} % of the "
        f"first 2-worker run ({rr['first']:.1f} s)", "",
        f"collection: {col['files']} files ({col['audio_hours']:.2f} h) on a fresh 2-worker cluster in "
        f"{col['seconds']:.1f} s (+{col['cluster_start']:.1f} s start-up) = {col['files'] / col['seconds'] * 3600:.0f} "
        f"files/h, {col['audio_hours'] * 3600 / col['seconds']:.0f}x real time; worker peak RSS "
        + ", ".join(f"{x:.0f} MB" for x in col["worker_rss"])
        + f"; identical to cli.py: {col['identical_to_cli']} of {col['files']}", "",
        f"collection end to end: 1 worker {ce['1']:.1f} s, 2 workers {ce['2']:.1f} s = {ce['1'] / ce['2']:.2f}x; "
        f"rerun over its outputs {ce['rerun']:.2f} s = {100 * ce['rerun'] / ce['2']:.1f} % of the 2-worker run",
    ]) + "\n"


if __name__ == "__main__":
    sys.exit(main())
