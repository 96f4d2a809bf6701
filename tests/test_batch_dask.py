"""batch.py as a user runs it: real Dask clusters (its own LocalCluster, and a `dask scheduler` +
`dask worker` pair started as a deployment would), real model, real media, one broken file."""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PYTHON, ROOT, check_tiling, media_duration, source_mmif

import batch

DASK = str(Path(sys.executable).with_name("dask"))


def run_batch(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "batch.py", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def read_index(out: Path) -> dict[str, dict]:
    with open(out / batch.INDEX_NAME, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert list(rows[0]) == list(batch.INDEX_COLUMNS)
    return {Path(r["path"]).name: r for r in rows}


def normalised(mmif_text: str) -> dict:
    """An output MMIF without what differs between two runs of the same request (and the app
    version, which a commit landing between the two runs changes)."""
    d = json.loads(mmif_text)
    for v in d["views"]:
        v["metadata"].pop("timestamp", None)
        v["metadata"].pop("appProfiling", None)
        v["metadata"]["app"] = v["metadata"]["app"].rsplit("/", 1)[0]
    return d


@pytest.fixture(scope="module")
def collection(media, tmp_path_factory) -> Path:
    """A folder of media (real recordings cut short, a video, an empty WAV) and one broken file."""
    d = tmp_path_factory.mktemp("collection")
    (d / "sub").mkdir()
    for name, src in {"a.wav": "wav", "sub/b.mp3": "mp3", "sub/c.mp4": "mp4", "sub/empty.wav": "zero",
                      "sub/broken.wav": "garbage"}.items():
        shutil.copy(media[src], d / name)
    (d / "notes.txt.bak").write_text("not a medium")
    return d


def scheduler_address(sched_file: Path, sched: subprocess.Popen, log: Path, timeout: float = 60) -> str:
    """The address in the scheduler file, once the scheduler has written it whole: the file exists
    before its JSON does, and a busy machine can show it empty."""
    deadline = time.time() + timeout
    while True:
        try:
            return json.loads(sched_file.read_text())["address"]
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            assert time.time() < deadline and sched.poll() is None, log.read_text()
            time.sleep(0.2)


@pytest.fixture(scope="module")
def scheduler(require_model, tmp_path_factory):
    """An existing cluster as the README deploys one: `dask scheduler` and `dask worker` processes on
    loopback, the workers started outside the app folder with it on PYTHONPATH."""
    d = tmp_path_factory.mktemp("dask")
    sched_file = d / "scheduler.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = []

    def start(*args: str) -> subprocess.Popen:
        with open(d / f"{args[0]}.log", "wb") as log:
            procs.append(subprocess.Popen([DASK, *args, "--host", "127.0.0.1", "--no-dashboard"], cwd=d, env=env,
                                          start_new_session=True, stdout=log, stderr=subprocess.STDOUT))
        return procs[-1]
    try:
        sched = start("scheduler", "--port", "0", "--scheduler-file", str(sched_file))
        address = scheduler_address(sched_file, sched, d / "scheduler.log")
        start("worker", address, "--nworkers", "2", "--nthreads", "1")
        from distributed import Client
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for p in reversed(procs):
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(30)


def test_local_cluster_collection(collection, media, tmp_path, require_model):
    out = tmp_path / "out"
    p = run_batch(collection, "--out", out, "--workers", "2")
    assert p.returncode == 1, p.stderr[-3000:]  # the broken file fails the run, at the end
    assert "5 media: 4 processed, 0 already done, 1 failed" in p.stderr
    assert "file/s" not in p.stderr and "it/s" not in p.stderr  # no progress bar off a terminal
    rows = read_index(out)
    assert sorted(rows) == ["a.wav", "b.mp3", "broken.wav", "c.mp4", "empty.wav"]
    assert rows["broken.wav"]["status"] == "failed" and "cannot decode" in rows["broken.wav"]["error"]
    assert not (out / "sub" / "broken.wav.mmif").exists()
    assert rows["empty.wav"]["status"] == "ok" and float(rows["empty.wav"]["speech_ratio"]) == 0.0
    assert 0.0 < float(rows["a.wav"]["speech_ratio"]) <= 1.0
    assert all(float(r["seconds"]) > 0 for r in rows.values())
    assert sorted(str(f.relative_to(out)) for f in out.rglob("*.mmif")) == [
        "a.wav.mmif", "sub/b.mp3.mmif", "sub/c.mp4.mmif", "sub/empty.wav.mmif"]
    assert not list(out.rglob(".*.tmp"))

    video = json.loads((out / "sub" / "c.mp4.mmif").read_text())["documents"][0]
    assert video["@type"].split("/")[-2] == "VideoDocument" and video["properties"]["mime"] == "video/mp4"
    check_tiling((out / "sub" / "b.mp3.mmif").read_text(), {"d1": media_duration(media["mp3"])})

    # the same MMIF as cli.py gives for a `clams source` of the file
    src = tmp_path / "a.source.mmif"
    src.write_text(source_mmif(("audio/wav", collection / "a.wav")))
    c = subprocess.run([PYTHON, "cli.py", str(src), str(tmp_path / "a.cli.mmif")], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert c.returncode == 0, c.stderr[-3000:]
    assert normalised((out / "a.wav.mmif").read_text()) == normalised((tmp_path / "a.cli.mmif").read_text())


def test_resume_on_existing_cluster(scheduler, collection, tmp_path):
    """Separated tracks go into the output folder, here inside the collection: a rerun must neither
    take them as inputs nor redo finished media."""
    col = tmp_path / "col"
    shutil.copytree(collection, col)
    out = col / "segmented"
    args = [col, "--out", out, "--scheduler", scheduler, "--labels", "binary", "--separate", "true"]
    version = batch.app_version()
    p = run_batch(*args)
    assert p.returncode == 1, p.stderr[-3000:]
    first = {f: f.stat().st_mtime_ns for f in out.rglob("*.mmif")}
    assert len(first) == 4
    a = json.loads((out / "a.wav.mmif").read_text())
    # workers outside the checkout record the client's version (a commit may land meanwhile)
    assert a["views"][0]["metadata"]["app"].rsplit("/", 1)[1] in {version, batch.app_version()}
    (track,) = [d for d in a["views"][0]["annotations"] if d["@type"].split("/")[-2] == "AudioDocument"]
    assert Path(track["properties"]["location"].removeprefix("file://")).parent == out.resolve()

    # an interrupted run: one output missing, a temp file left behind
    (out / "sub" / "b.mp3.mmif").unlink()
    (out / "sub" / ".b.mp3.mmif.x1y2.tmp").write_text("{")
    p = run_batch(*args)
    assert p.returncode == 1, p.stderr[-3000:]
    assert "5 media: 1 processed, 3 already done, 1 failed" in p.stderr
    rows = read_index(out)
    assert rows["b.mp3"]["status"] == "ok" and rows["broken.wav"]["status"] == "failed"
    assert {rows[n]["status"] for n in ("a.wav", "c.mp4", "empty.wav")} == {"skipped"}
    assert all(rows[n]["speech_ratio"] for n in ("a.wav", "c.mp4", "empty.wav"))
    again = {f: f.stat().st_mtime_ns for f in out.rglob("*.mmif")}
    assert {f: t for f, t in again.items() if f.name != "b.mp3.mmif"} == {
        f: t for f, t in first.items() if f.name != "b.mp3.mmif"}
    check_tiling((out / "sub" / "b.mp3.mmif").read_text(), {"d1": media_duration(col / "sub" / "b.mp3")},
                 ["speech", "non-speech"])
    from distributed import Client
    with Client(scheduler, timeout=60) as client:  # inference, separation included, needs no Keras
        loaded = client.run(lambda: sorted(m for m in ("keras", "tensorflow") if m in sys.modules))
    assert list(loaded.values()) == [[], []]


def test_rerun_over_finished_outputs(media, tmp_path, require_model):
    """The same command again does no work and loads nothing of the app or Dask; other parameters
    are still checked by the app, and a bad one refused."""
    col, out = tmp_path / "col", tmp_path / "out"
    col.mkdir()
    shutil.copy(media["wav"], col / "a.wav")
    shutil.copy(media["zero"], col / "empty.wav")
    args = [col, "--out", out, "--workers", "1", "--labels", "binary"]
    p = run_batch(*args)
    assert p.returncode == 0, p.stderr[-3000:]
    first = {f: f.stat().st_mtime_ns for f in out.rglob("*.mmif")}
    ratios = {n: r["speech_ratio"] for n, r in read_index(out).items()}
    assert len(first) == 2 and all(ratios.values())

    p = subprocess.run([PYTHON, "-X", "importtime", "batch.py", *map(str, args)], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0 and "2 media: 0 processed, 2 already done, 0 failed" in p.stderr, p.stderr[-3000:]
    imported = {line.rsplit("|", 1)[1].strip() for line in p.stderr.splitlines() if line.startswith("import time:")}
    assert "segmenter.media_files" in imported
    assert not imported & {"app", "clams", "mmif", "distributed", "numpy"}
    rows = read_index(out)
    assert {r["status"] for r in rows.values()} == {"skipped"}
    assert {n: r["speech_ratio"] for n, r in rows.items()} == ratios

    p = run_batch(col, "--out", out, "--workers", "1", "--labels", "fine")  # valid, other: checked, skipped
    assert p.returncode == 0 and "2 media: 0 processed, 2 already done, 0 failed" in p.stderr, p.stderr[-3000:]
    p = run_batch(*args, "--threshold", "2")
    assert p.returncode == 2 and "threshold" in p.stderr, p.stderr[-3000:]
    p = run_batch(*args, "--labls", "binary")
    assert p.returncode == 2 and "--labls" in p.stderr, p.stderr[-3000:]
    assert {f: f.stat().st_mtime_ns for f in out.rglob("*.mmif")} == first


def test_inputs_map_to_outputs(tmp_path):
    col, other, out = tmp_path / "col", tmp_path / "other", tmp_path / "col" / "out"
    (col / "x").mkdir(parents=True)
    other.mkdir()
    for f in (col / "a.wav", col / "x" / "b.MP4", other / "c.ogg", other / "odd.bin"):
        f.write_bytes(b"")
    out.mkdir()
    (out / "a-0123.wav").write_bytes(b"")  # a separated track from an earlier run
    (col / "list.txt").write_text(f"x/b.MP4\n\n# comment\n{other / 'c.ogg'}\n")
    jobs = batch.collect_jobs([str(col), str(col / "list.txt"), str(other / "odd.bin"), str(col / "a.wav")], out)
    assert [(j.source, j.mime, j.output) for j in jobs] == [
        (col / "a.wav", "audio/wav", out / "a.wav.mmif"),
        (col / "x" / "b.MP4", "video/mp4", out / "x" / "b.MP4.mmif"),
        (other / "c.ogg", "audio/ogg", out / Path(*other.parts[1:]) / "c.ogg.mmif"),
        (other / "odd.bin", "audio", out / "odd.bin.mmif"),
    ]
    (other / "a.wav").write_bytes(b"")
    with pytest.raises(batch.InputError, match="both be written"):
        batch.collect_jobs([str(col), str(other)], out)


def test_bad_parameter_refused_before_any_work(collection, tmp_path):
    out = tmp_path / "out"
    p = run_batch(collection, "--out", out, "--threshold", "2")
    assert p.returncode == 2 and "threshold" in p.stderr
    assert not out.exists()
