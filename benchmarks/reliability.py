"""Reliability of the HTTP app under load, long input, awkward input and malformed requests.

Every part talks to the real production server (`app.py --production`, gunicorn on 127.0.0.1):

  load     N requests at concurrency C mixing good documents, partly bad MMIFs, invalid MMIF
           and separate=true; every answer must equal the same request's answer in a
           sequential run (TimeFrames, error messages, separated-track bytes; not timestamps);
           counts failures, files left in outputDir, and server RSS before / during / after.
  long     an H-hour WAV (the dev corpus's 1-hour file concatenated with ffmpeg in the work
           folder) against the 1-hour file (with --long-separate, also writing the separated
           track): peak worker RSS must not grow with the duration.
  awkward  an http:// location served by http.server on 127.0.0.1, and file names with
           non-ASCII letters, spaces and brackets; results must equal the plain file's.
  fuzz     K hypothesis cases of malformed MMIF, parameters and locations (tests/request_fuzz.py):
           no answer outside the error contract, and the server stays up.

Not run in CI (the long part takes most of an hour on a 2-core machine). Examples:

  .venv/bin/python benchmarks/reliability.py                      # everything, full size
  .venv/bin/python benchmarks/reliability.py --parts load,fuzz --requests 40 --fuzz-cases 100
  .venv/bin/python benchmarks/reliability.py --parts long --hours 2 --work-dir /tmp/rel

Prints one JSON summary per part, and all of them at the end (also to --json).
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import http.server
import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]
from conftest import Server, ffmpeg, free_port, source_mmif  # noqa: E402
from request_fuzz import Files, classify, mmif_bodies, parameters, send  # noqa: E402

CORPUS = Path(os.environ.get("SPEECH_CORPUS", Path.home() / ".cache/speech-corpus/dev"))
PARTS = ("load", "long", "awkward", "fuzz")
AWKWARD_NAME = "Émission spéciale [1984] (partie 2) – été.wav"


# -- the server and its memory ---------------------------------------------------------------

def start_server(work: Path, name: str, workers: int | None = None) -> Server:
    """The production server on a free loopback port, its temp folder inside `work` (so that
    files it leaves behind can be counted)."""
    tmp = work / f"{name}-tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TMPDIR=str(tmp), SEGMENTER_OUTPUT_DIR=str(work / f"{name}-default-out"))
    if workers:
        env["CLAMS_GUNICORN_WORKERS"] = str(workers)
    port = free_port()
    log = work / f"{name}-server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "app.py", "--production", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    srv = Server(f"http://127.0.0.1:{port}/", proc, log)
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if srv.request("", method="GET", timeout=5)[0] == 200:
                return srv
        except OSError:
            time.sleep(0.5)
    stop_server(srv)
    raise RuntimeError("server did not answer")


def stop_server(srv: Server) -> None:
    os.killpg(srv.proc.pid, signal.SIGTERM)
    try:
        srv.proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait()


def _rss_mb(pid: int) -> float:
    try:
        return _status_mb("VmRSS", pid)
    except OSError:  # the process has just ended
        return 0.0


def _children(pid: int) -> list[int]:
    kids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(p.name))
            except (OSError, IndexError, ValueError):
                pass
    return kids


def memory(srv: Server) -> dict:
    """RSS (MB) of the gunicorn master, of each worker, and of the workers' children (ffmpeg)."""
    workers = _children(srv.proc.pid)
    grandchildren = [g for w in workers for g in _children(w)]
    return {"master": _rss_mb(srv.proc.pid), "workers": [_rss_mb(w) for w in workers],
            "decoders": sum(_rss_mb(g) for g in grandchildren)}


class PeakMemory:
    """Samples `memory` every `every` seconds in a thread; keeps the peaks."""

    def __init__(self, srv: Server, every: float = 0.25):
        self.srv, self.every = srv, every
        self.worker = self.master = self.decoders = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            m = memory(self.srv)
            self.master = max(self.master, m["master"])
            self.worker = max([self.worker, *m["workers"]])
            self.decoders = max(self.decoders, m["decoders"])
            time.sleep(self.every)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# -- comparing answers -----------------------------------------------------------------------

def digest(out: str) -> list:
    """What must not differ between two runs of one request: per view, its document, its
    TimeFrames (with contains merged in), its error message (without the stack trace) and
    warnings, and the bytes (sha256) of each separated track it names."""
    d = json.loads(out)
    result = []
    for v in d["views"]:
        md = v["metadata"]
        shared = {k: c for k, c in md.get("contains", {}).items()}
        frames, tracks = [], []
        for a in v["annotations"]:
            props = {**shared.get(a["@type"], {}), **a["properties"]}
            if "TimeFrame" in a["@type"]:
                frames.append((props["start"], props["end"], props["label"],
                               json.dumps(props.get("classification"), sort_keys=True)))
            elif "AudioDocument" in a["@type"]:
                path = Path(urllib.parse.urlparse(props["location"]).path)  # raw, as the app writes it
                tracks.append((path.name, hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None))
        doc = md.get("document") or next(iter(md.get("contains", {}).values()), {}).get("document")
        result.append((doc, md.get("error", {}).get("message"), md.get("warnings"), frames, tracks))
    return result


# -- media -----------------------------------------------------------------------------------

def corpus_file(*parts: str) -> Path:
    p = CORPUS.joinpath(*parts)
    if not p.is_file():
        sys.exit(f"missing {p}: build the dev corpus first (python3 ../shared/corpus/build.py)")
    return p


def make_media(work: Path) -> dict[str, Path]:
    """Good media cut from dev programmes (20 s WAV, 15 s MP3, 10 s MP4), and bad media."""
    d = work / "media"
    d.mkdir(parents=True, exist_ok=True)
    m = {"wav": d / "prog.wav", "mp3": d / "prog.mp3", "mp4": d / "prog.mp4", "garbage": d / "garbage.wav",
         "missing": d / "missing.wav", "zero": d / "zero.wav", "folder": d / "a-folder"}
    if not m["mp4"].exists():
        ffmpeg("-i", str(corpus_file("seg", "prog_00.wav")), "-t", "20", str(m["wav"]))
        ffmpeg("-ss", "30", "-i", str(corpus_file("seg", "prog_01.wav")), "-t", "15", str(m["mp3"]))
        ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=64x48:r=10:d=10", "-i", str(corpus_file("seg", "prog_02.wav")),
               "-map", "0:v", "-map", "1:a", "-t", "10", "-c:v", "mpeg4", "-c:a", "aac", str(m["mp4"]))
        m["garbage"].write_bytes(random.Random(0).randbytes(8000))
        ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "0", str(m["zero"]))
        m["folder"].mkdir(exist_ok=True)
    return m


# -- load ------------------------------------------------------------------------------------

def load_templates(m: dict[str, Path], out_dir: Path) -> list[dict]:
    """The request kinds of the load mix: expected status, body, query parameters."""
    good = source_mmif(("audio/wav", m["wav"]))
    three = source_mmif(("audio/wav", m["wav"]), ("audio/mpeg", m["mp3"]), ("video/mp4", m["mp4"]))
    partly_bad = source_mmif(("audio/wav", m["garbage"]), ("audio/mpeg", m["mp3"]), ("audio/wav", m["missing"]),
                             ("video/mp4", m["mp4"]))
    sep = {"separate": "true", "outputDir": str(out_dir)}
    return [
        dict(name="good", status=200, body=good, params={}),
        dict(name="good-binary", status=200, body=good, params={"labels": "binary"}),
        dict(name="three-docs", status=200, body=three, params={"minGap": "0.8"}),
        dict(name="partly-bad", status=200, body=partly_bad, params={}),
        dict(name="all-bad", status=500, body=source_mmif(("audio/wav", m["garbage"])), params={}),
        dict(name="invalid-mmif", status=500, body='{"documents": [', params={}),
        dict(name="separate", status=200, body=good, params=sep),
        dict(name="separate-speech-only", status=200, body=source_mmif(("audio/mpeg", m["mp3"])),
             params={**sep, "speechOnly": "true"}),
        dict(name="separate-partly-bad", status=200, body=partly_bad, params=sep),
    ]


def difference(want: tuple, got: tuple) -> str:
    """Where two answer digests first differ, briefly."""
    if want[0] != got[0] or not isinstance(want[1], list) or len(want[1]) != len(got[1]):
        return f"status/shape: {str(want)[:200]} != {str(got)[:200]}"
    fields = ("document", "error", "warnings", "timeframes", "tracks")
    for i, (a, b) in enumerate(zip(want[1], got[1])):
        for field, x, y in zip(fields, a, b):
            if x != y:
                return f"view {i} {field}: {str(x)[:200]} != {str(y)[:200]}"
    return "?"


def answer_digest(status: int, out: str) -> object:
    return (status, out.splitlines()[0] if not out.startswith("{") else digest(out))


def run_load(work: Path, m: dict[str, Path], requests: int, concurrency: int, workers: int | None) -> dict:
    seq_dir, load_dir = work / "load-seq-out", work / "load-out"
    srv = start_server(work, "load", workers)
    try:
        # sequential reference: every template once, into its own outputDir
        reference = {}
        for t in load_templates(m, seq_dir):
            status, _, out = srv.request(t["body"], timeout=600, **t["params"])
            reference[t["name"]] = answer_digest(status, out)
            assert status == t["status"], (t["name"], status, out[:500])
        templates = load_templates(m, load_dir)
        mix = [templates[i % len(templates)] for i in range(requests)]
        random.Random(1).shuffle(mix)
        time.sleep(5)  # let the recycled workers settle
        before = memory(srv)
        failures, errors = [], []
        t0 = time.perf_counter()
        with PeakMemory(srv) as peak, ThreadPoolExecutor(concurrency) as pool:
            def one(t):
                try:
                    status, _, out = srv.request(t["body"], timeout=1800, **t["params"])
                except OSError as e:
                    return t["name"], None, repr(e)
                return t["name"], status, answer_digest(status, out)
            for name, status, got in pool.map(one, mix):
                if status is None:
                    errors.append((name, got))
                elif got != reference[name]:
                    failures.append((name, difference(reference[name], got)))
        wall = time.perf_counter() - t0
        time.sleep(2)
        after = memory(srv)
        alive = srv.alive() and srv.request("", method="GET")[0] == 200
    finally:
        stop_server(srv)
    expected = {n for _, d in reference.items() if isinstance(d[1], list) for v in d[1] for n, _ in v[4]}
    present = {p.name for p in load_dir.iterdir()} if load_dir.exists() else set()
    good_requests = sum(t["status"] == 200 for t in mix)
    return {"part": "load", "requests": requests, "concurrency": concurrency, "good_requests": good_requests,
            "failed": len(failures) + len(errors), "failed_kinds": sorted({n for n, _ in failures}),
            "failure_examples": failures[:3], "errors": errors[:5],
            "identical_to_sequential": not failures and not errors,
            "leftovers_in_outputDir": sorted(present - expected), "tracks_in_outputDir": len(present & expected),
            "server_tmp_leftovers": len(list((work / "load-tmp").iterdir())),
            "seconds": round(wall, 1), "server_alive_after": alive,
            "rss_mb_before": before, "rss_mb_after": after,
            "peak_worker_rss_mb": round(peak.worker, 1), "peak_master_rss_mb": round(peak.master, 1)}


# -- long ------------------------------------------------------------------------------------

def long_file(work: Path, hours: int) -> Path:
    one = corpus_file("long", "long.wav")
    if hours == 1:
        return one
    out = work / f"long-{hours}h.wav"
    if not out.exists():
        listing = work / "long-concat.txt"
        listing.write_text("".join(f"file '{one}'\n" for _ in range(hours)))
        ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(out))
    return out


def one_long_request(srv: Server, path: Path, out_dir: Path, separate: bool) -> dict:
    from segmenter.media import SAMPLE_RATE
    import soundfile as sf
    duration = sf.info(str(path)).frames / SAMPLE_RATE
    t0 = time.perf_counter()
    with PeakMemory(srv, every=0.5) as peak:
        params = {"separate": "true", "outputDir": str(out_dir)} if separate else {}
        status, _, out = srv.request(source_mmif(("audio/wav", path)), timeout=6 * 3600, **params)
    wall = time.perf_counter() - t0
    result = {"file": path.name, "hours": round(duration / 3600, 3), "separate": separate, "status": status,
              "seconds": round(wall, 1),
              "x_real_time": round(wall / duration, 4), "peak_worker_rss_mb": round(peak.worker, 1),
              "peak_decoder_rss_mb": round(peak.decoders, 1), "output_mb": round(len(out) / 1e6, 2)}
    if status == 200:
        (view,) = json.loads(out)["views"]
        frames = [a for a in view["annotations"] if "TimeFrame" in a["@type"]]
        result.update(timeframes=len(frames), tiles_to_end=frames[0]["properties"]["start"] == 0
                      and frames[-1]["properties"]["end"] == int(duration * 1000 + 0.5))
        for track in [a for a in view["annotations"] if "AudioDocument" in a["@type"]]:
            track_path = Path(urllib.parse.urlparse(track["properties"]["location"]).path)
            result["track_samples_match"] = sf.info(str(track_path)).frames == int(round(duration * SAMPLE_RATE))
            track_path.unlink()
    return result


def output_cost_mb(timeframes: int, media: str) -> float:
    """Peak MB that building and serialising one view of `timeframes` TimeFrames costs a fresh
    app (its segmentation replaced by a fixed list): the part of a worker's memory that grows
    with the output, not with the audio. Run it in a fresh process (VmHWM is per process)."""
    import app as clams_app
    from segmenter.segments import LABELS, Segment, Segmentation
    a = clams_app.get_app()
    segments = [Segment(float(i), i + 1.0, LABELS[i % 4], {k: 0.25 for k in LABELS}) for i in range(timeframes)]
    a.segmenter.segment = lambda path, params: Segmentation(float(timeframes), segments)
    before = _status_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    a.annotate(source_mmif(("audio/wav", media)))
    return _status_mb("VmHWM") - before


def _status_mb(field: str, pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_long(work: Path, hours: int, separate: bool) -> dict:
    big = long_file(work, hours)
    srv = start_server(work, "long", workers=1)
    try:
        runs = [one_long_request(srv, p, work / "long-out", separate) for p in (long_file(work, 1), big)]
    finally:
        stop_server(srv)
    small, large = runs
    with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        cost = [pool.apply(output_cost_mb, (r["timeframes"], str(long_file(work, 1)))) for r in runs]
    growth = large["peak_worker_rss_mb"] - small["peak_worker_rss_mb"]
    return {"part": "long", "runs": runs,
            "worker_rss_growth_mb": round(growth, 1),
            "output_mmif_cost_mb": [round(c, 1) for c in cost],
            "growth_not_from_output_mb": round(growth - (cost[1] - cost[0]), 1),
            "worker_rss_ratio": round(large["peak_worker_rss_mb"] / max(small["peak_worker_rss_mb"], 1), 3),
            "leftovers_in_outputDir": sorted(p.name for p in (work / "long-out").glob("*"))}


# -- awkward input ---------------------------------------------------------------------------

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def run_awkward(work: Path, m: dict[str, Path]) -> dict:
    served = work / "served"
    served.mkdir(exist_ok=True)
    odd = served / AWKWARD_NAME
    shutil.copyfile(m["wav"], odd)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(served)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/{urllib.parse.quote(AWKWARD_NAME)}"
    out_dir = work / "awkward out [ü]"
    srv = start_server(work, "awkward", workers=2)
    cases = {
        "plain file": source_mmif(("audio/wav", m["wav"])),
        "odd name, raw file:// (as clams source writes it)": source_mmif(("audio/wav", odd)),
        "odd name, percent-encoded file://": source_mmif(("audio/wav", m["wav"])).replace(
            m["wav"].as_uri(), odd.as_uri()),
        "odd name over http://": source_mmif(("audio/wav", m["wav"])).replace(m["wav"].as_uri(), url),
    }
    results = {}
    try:
        reference = None
        for name, body in cases.items():
            for separate in (False, True):
                params = {"separate": "true", "outputDir": str(out_dir)} if separate else {}
                status, _, out = srv.request(body, timeout=600, **params)
                got = digest(out) if status == 200 else out[:300]
                frames = [v[3] for v in got] if status == 200 else None
                reference = reference or frames
                results[f"{name}{', separate' if separate else ''}"] = {
                    "status": status, "same_timeframes_as_plain": frames == reference,
                    "track": got[0][4] if status == 200 else None}
        two = source_mmif(("audio/wav", m["wav"]), ("audio/wav", m["wav"]))
        status, _, out = srv.request(two.replace(m["wav"].as_uri(), url + ".missing", 1), timeout=600)
        got = digest(out) if status == 200 else out[:300]
        missing = {"status": status, "error": got[0][1] if status == 200 else got,
                   "other_document_same_timeframes": status == 200 and [got[1][3]] == reference}
    finally:
        stop_server(srv)
        httpd.shutdown()
    tracks = {r["track"][0][1] for r in results.values() if r["track"]}
    return {"part": "awkward", "cases": results, "all_ok": all(r["status"] == 200 and r["same_timeframes_as_plain"]
                                                             for r in results.values()),
            "http_404_beside_a_good_document": missing,
            "identical_track_bytes": len(tracks) == 1,
            "outputDir": sorted(p.name for p in out_dir.iterdir()),
            "server_tmp_leftovers": sorted(p.name for p in (work / "awkward-tmp").iterdir())}


# -- fuzz ------------------------------------------------------------------------------------

def run_fuzz(work: Path, m: dict[str, Path], cases: int, seed: int, concurrency: int) -> dict:
    """`cases` hypothesis cases, drawn first (seeded), then sent `concurrency` at a time: the
    server answers each in a fresh worker, so one client at a time mostly waits for respawns."""
    from hypothesis import HealthCheck, Phase, given, seed as hseed, settings
    from hypothesis import strategies as st
    out_root = work / "fuzz-out"
    out_root.mkdir(exist_ok=True)
    (out_root / "file.txt").write_text("a file, not a folder")
    files = Files(good=m["wav"].with_name("short.wav"), garbage=m["garbage"], zero=m["zero"], folder=m["folder"],
                  out_root=out_root, closed_port=free_port())
    if not files.good.exists():
        ffmpeg("-i", str(m["wav"]), "-t", "5", str(files.good))
    drawn: list[tuple] = []

    @hseed(seed)
    @settings(max_examples=cases, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(body=mmif_bodies(files), params=parameters(files) | st.just({}))
    def draw(body, params):
        drawn.append((body, params))

    draw()
    srv = start_server(work, "fuzz")
    kinds: dict[str, int] = {}
    crashes: list[dict] = []
    down = []

    def one(case: tuple) -> tuple:
        body, params = case
        try:
            return case, classify(*send(srv.url, body, params, timeout=600)), srv.alive()
        except OSError as e:
            return case, classify(0, "", repr(e)), srv.alive()

    t0 = time.perf_counter()
    try:
        with ThreadPoolExecutor(concurrency) as pool:
            for (body, params), outcome, alive in pool.map(one, drawn):
                kinds[outcome.kind] = kinds.get(outcome.kind, 0) + 1
                if outcome.kind == "crash":
                    crashes.append({"detail": outcome.detail, "body": str(body)[:400], "params": params})
                if not alive:
                    down.append(sum(kinds.values()))
                if sum(kinds.values()) % 100 == 0:
                    print(json.dumps({"fuzz_cases_done": sum(kinds.values()), "outcomes": kinds,
                                      "crashes": len(crashes)}), flush=True)
        alive = srv.alive() and srv.request("", method="GET")[0] == 200
    finally:
        stop_server(srv)
    escaped = [str(p) for p in (work / "fuzz-default-out").rglob("*")] if (work / "fuzz-default-out").exists() else []
    return {"part": "fuzz", "cases": sum(kinds.values()), "concurrency": concurrency, "outcomes": kinds,
            "crashes": len(crashes), "crash_examples": crashes[:5], "server_down_after_case": down[:1],
            "server_alive_after": alive, "written_to_default_outputDir": escaped,
            "seconds": round(time.perf_counter() - t0, 1)}


# -- main ------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from {','.join(PARTS)}")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--workers", type=int, default=None,
                    help="gunicorn workers for the load part (default: the SDK's, 2 x CPUs + 1)")
    ap.add_argument("--hours", type=int, default=10, help="length of the long input (whole hours)")
    ap.add_argument("--long-separate", action="store_true",
                    help="the long part also writes the separated track (about 40 s per hour on an idle core)")
    ap.add_argument("--fuzz-cases", type=int, default=1000)
    ap.add_argument("--fuzz-concurrency", type=int, default=4)
    ap.add_argument("--seed", type=int, default=20261202, help="hypothesis seed for the fuzz part")
    ap.add_argument("--work-dir", type=Path, help="kept (and reused: the long file is built once); "
                                                  "default a temp folder, removed at the end")
    ap.add_argument("--json", type=Path, help="also write the summary here")
    args = ap.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        ap.error(f"unknown parts {sorted(unknown)}")
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="reliability-"))
    work.mkdir(parents=True, exist_ok=True)
    summary = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "argv": sys.argv[1:], "parts": {}}
    try:
        m = make_media(work)
        for part in parts:
            t0 = time.perf_counter()
            if part == "load":
                r = run_load(work, m, args.requests, args.concurrency, args.workers)
            elif part == "long":
                r = run_long(work, args.hours, args.long_separate)
            elif part == "awkward":
                r = run_awkward(work, m)
            else:
                r = run_fuzz(work, m, args.fuzz_cases, args.seed, args.fuzz_concurrency)
            r["part_seconds"] = round(time.perf_counter() - t0, 1)
            summary["parts"][part] = r
            print(json.dumps(r, ensure_ascii=False), flush=True)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(summary, indent=1, ensure_ascii=False)
    if args.json:
        args.json.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
