"""One bad document costs only itself: over the real production server and the real CLI.

Also: an http:// location beside a 404; and two requests writing the same separated track at the
same moment leave one intact file and no temporary file.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import PYTHON, ROOT, check_tiling, error_message, ffmpeg, media_duration, source_mmif


def views_by_document(out: str) -> dict[str, dict]:
    """document id -> the one view of this app about it (a results view or an error view)."""
    found = {}
    for v in json.loads(out)["views"]:
        md = v["metadata"]
        doc = md.get("document") or next(iter(md.get("contains", {}).values()), {}).get("document")
        assert doc and doc not in found, md
        found[doc] = v
    return found


@pytest.fixture(scope="module")
def mixed(media, tmp_path_factory):
    """Two good documents between bad ones (undecodable, missing, a name too long for the file
    system); and the good ones alone."""
    missing = tmp_path_factory.mktemp("gone") / "not-there.wav"
    body = source_mmif(("audio/wav", media["wav"]), ("audio/wav", media["garbage"]),
                       ("audio/wav", missing), ("video/mp4", media["mp4"]), ("audio/wav", "/" + "x" * 5000))
    good_only = source_mmif(("audio/wav", media["wav"]), ("video/mp4", media["mp4"]), doc_ids=["d1", "d4"])
    durations = {"d1": media_duration(media["wav"]), "d4": media_duration(media["mp4"])}
    reasons = {"d2": (media["garbage"], "cannot decode"), "d3": (missing, "no such file"),
               "d5": ("/" + "x" * 5000, "File name too long")}
    return body, good_only, durations, reasons


def check_partial(out: str, mixed) -> dict:
    _, _, durations, reasons = mixed
    frames = check_tiling(out, durations)
    views = views_by_document(out)
    assert sorted(views) == ["d1", "d2", "d3", "d4", "d5"]  # one view per document
    for doc, (path, reason) in reasons.items():
        md = views[doc]["metadata"]
        assert views[doc]["annotations"] == [] and "contains" not in md
        msg = md["error"]["message"]
        assert "DocumentMediaError" in msg and f"document {doc}" in msg and str(path) in msg and reason in msg, msg
        assert md["error"]["stackTrace"]
        assert "speech-segmentation" in md["appTags"]
    return frames


def test_http_partial_failure(server, mixed):
    body, good_only, durations, _ = mixed
    status, ctype, out = server.request(body)
    assert status == 200 and ctype.startswith("application/json"), out[:3000]
    frames = check_partial(out, mixed)
    status, _, alone = server.request(good_only)
    assert status == 200
    assert frames == check_tiling(alone, durations)  # the bad documents changed nothing for the good


def test_http_partial_failure_with_separate(server, media, tmp_path):
    body = source_mmif(("audio/wav", media["garbage"]), ("audio/wav", media["wav"]))
    status, _, out = server.request(body, separate="true", outputDir=str(tmp_path))
    assert status == 200, out[:3000]
    views = views_by_document(out)
    assert "cannot decode" in views["d1"]["metadata"]["error"]["message"]
    (track,) = [a for a in views["d2"]["annotations"] if "AudioDocument" in a["@type"]]
    assert [p.name for p in tmp_path.iterdir()] == [Path(track["properties"]["location"]).name]


def test_http_location_beside_a_missing_one(server, media, tmp_path):
    """An http:// location (a local http.server, a file name with spaces, brackets and accents)
    gives the same TimeFrames as the file itself; a 404 beside it costs only its own document."""
    name = "Émission spéciale [1984] (partie 2).wav"
    shutil.copyfile(media["wav"], tmp_path / name)
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/{urllib.parse.quote(name)}"
    try:
        body = source_mmif(("audio/wav", media["wav"]), ("audio/wav", media["wav"]))
        body = body.replace(media["wav"].as_uri(), url, 1).replace(media["wav"].as_uri(), url + ".gone", 1)
        status, _, out = server.request(body)
    finally:
        httpd.shutdown()
    assert status == 200, out[:3000]
    frames = check_tiling(out, {"d1": media_duration(media["wav"])})["d1"]
    assert frames == check_tiling(server.request(source_mmif(("audio/wav", media["wav"])))[2],
                                  {"d1": media_duration(media["wav"])})["d1"]
    msg = views_by_document(out)["d2"]["metadata"]["error"]["message"]
    assert "document d2" in msg and url + ".gone" in msg and "404" in msg, msg


def test_http_every_document_failed(server, media, tmp_path):
    """Nothing to return: the SDK's contract for a failed request, one error naming every document."""
    missing = tmp_path / "gone.wav"
    status, ctype, out = server.request(source_mmif(("audio/wav", media["garbage"]), ("audio/wav", missing)))
    assert status == 500 and ctype.startswith("application/json")
    msg = error_message(out)
    assert "document d1" in msg and "cannot decode" in msg, msg
    assert "document d2" in msg and str(missing) in msg and "no such file" in msg, msg


def test_cli_partial_failure(require_model, mixed, tmp_path):
    body = mixed[0]
    src, dst = tmp_path / "in.mmif", tmp_path / "out.mmif"
    src.write_text(body)
    p = subprocess.run([PYTHON, "cli.py", str(src), str(dst)], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    import cli
    assert p.returncode == cli.PARTIAL_FAILURE_EXIT, p.stderr[-3000:]
    assert "3 document(s) failed" in p.stderr and "d2, d3, d5" in p.stderr, p.stderr[-3000:]
    check_partial(dst.read_text(), mixed)


@pytest.fixture(scope="module")
def long_wav(media, tmp_path_factory) -> Path:
    """A minute of audio: long enough for two writers of its track to overlap for a while."""
    out = tmp_path_factory.mktemp("long") / "one-minute.wav"
    ffmpeg("-stream_loop", "15", "-i", str(media["wav"]), "-t", "60", str(out))
    return out


def _race(server, body: str, race_dir: Path, final: Path) -> tuple[int, set[int]]:
    """Two identical separate=true requests at once into `race_dir`, watched: the most `.part`
    files seen at one moment, and every size seen under the `final` name."""
    race_dir.mkdir()
    seen = {"parts": 0, "sizes": set()}
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            names = os.listdir(race_dir)
            seen["parts"] = max(seen["parts"], sum(n.endswith(".part") for n in names))
            try:
                seen["sizes"].add(final.stat().st_size)
            except FileNotFoundError:
                pass
            time.sleep(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda _: server.request(body, separate="true", outputDir=str(race_dir)),
                                    range(2)))
    finally:
        done.set()
        watcher.join()
    for status, _, out in results:
        assert status == 200, out[:3000]
        (doc,) = [a for v in json.loads(out)["views"] for a in v["annotations"] if "AudioDocument" in a["@type"]]
        assert doc["properties"]["location"] == final.as_uri()
    return seen["parts"], seen["sizes"]


def test_concurrent_writers_of_one_track(server, long_wav, tmp_path):
    """Two identical separate=true requests at once: both succeed and name the same file; the
    folder ends with that one intact file; at no moment does the name hold a partial file.
    Gunicorn may hand both requests to one worker, which serialises them, so the race is rerun
    until the two writers have overlapped."""
    reference_dir = tmp_path / "reference"
    body = source_mmif(("audio/wav", long_wav))
    status, _, out = server.request(body, separate="true", outputDir=str(reference_dir))
    assert status == 200, out[:3000]
    (reference,) = reference_dir.iterdir()
    for attempt in range(5):
        race_dir = tmp_path / f"race{attempt}"
        final = race_dir / reference.name  # the name depends on the source and options, not the folder
        parts, sizes = _race(server, body, race_dir, final)
        assert sizes == {reference.stat().st_size}, "a partial file was visible under the final name"
        assert os.listdir(race_dir) == [final.name]
        assert final.read_bytes() == reference.read_bytes()
        if parts == 2:
            break
    assert parts == 2, "the two writers never overlapped in 5 races: the test raced nothing"
