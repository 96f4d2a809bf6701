"""End to end through the real production server (gunicorn on 127.0.0.1), real model, real media."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import check_tiling, error_message, media_duration, source_mmif

FINE = ["speech", "music", "noise", "silence"]
BINARY = ["speech", "non-speech"]


@pytest.fixture(scope="module")
def three_docs(media):
    body = source_mmif(("audio/wav", media["wav"]), ("audio/mpeg", media["mp3"]), ("video/mp4", media["mp4"]))
    durations = {"d1": media_duration(media["wav"]), "d2": media_duration(media["mp3"]),
                 "d3": media_duration(media["mp4"])}
    return body, durations


def assert_still_serving(server, media):
    assert server.alive()
    status, _, out = server.request(source_mmif(("audio/wav", media["wav"])))
    assert status == 200, out[:2000]
    check_tiling(out, {"d1": media_duration(media["wav"])})


def normalise(out: str) -> dict:
    """The output without what legitimately differs between runs (timestamps, running time)."""
    d = json.loads(out)
    for v in d["views"]:
        v["metadata"].pop("timestamp", None)
        v["metadata"].pop("appProfiling", None)
    return d


def test_metadata_over_http(server):
    status, ctype, out = server.request("", method="GET")
    assert status == 200 and ctype.startswith("application/json")
    assert json.loads(out)["name"] == "Speech Segmenter"


@pytest.mark.parametrize("labels", ["fine", "binary"])
def test_wav_mp3_and_video(server, three_docs, labels):
    body, durations = three_docs
    status, ctype, out = server.request(body, labels=labels)
    assert status == 200, out[:3000]
    assert ctype.startswith("application/json")
    frames = check_tiling(out, durations, FINE if labels == "fine" else BINARY)
    assert set(frames) == {"d1", "d2", "d3"}
    assert len(json.loads(out)["views"]) == 3  # one view per document, no warnings view


def test_concurrent_requests_match_sequential(server, three_docs):
    body, durations = three_docs
    sequential = [server.request(body) for _ in range(2)]
    assert all(s == 200 for s, _, _ in sequential)
    reference = normalise(sequential[0][2])
    assert normalise(sequential[1][2]) == reference
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: server.request(body, timeout=300), range(8)))
    for status, _, out in results:
        assert status == 200, out[:2000]
        check_tiling(out, durations, FINE)
        assert normalise(out) == reference


@pytest.mark.parametrize("case, reason", [
    ("missing", "no such file"),
    ("folder", "not a regular file"),
    ("garbage", "cannot decode"),
    ("silent_video", "no audio stream"),
])
def test_media_errors(server, media, tmp_path, case, reason):
    path = {"missing": tmp_path / "does-not-exist.wav", "folder": tmp_path}.get(case) or media[case]
    mime = "video/mp4" if case == "silent_video" else "audio/wav"
    status, ctype, out = server.request(source_mmif((mime, path)))
    assert status == 500 and ctype.startswith("application/json")
    msg = error_message(out)
    assert "d1" in msg and str(path) in msg and reason in msg, msg
    assert_still_serving(server, media)


def test_zero_length_audio_gives_a_warning(server, media):
    status, _, out = server.request(source_mmif(("audio/wav", media["zero"])))
    assert status == 200, out[:2000]
    from mmif import Mmif
    m = Mmif(out)
    assert len(m.views) == 1
    warnings = m.views[0].metadata.warnings
    assert warnings and "d1" in str(warnings[0]) and "zero length" in str(warnings[0])
    assert_still_serving(server, media)


@pytest.mark.parametrize("param, value", [
    ("threshold", "2"), ("threshold", "abc"), ("minSpeech", "-1"), ("padding", "100"), ("labels", "coarse"),
])
def test_bad_parameter(server, media, param, value):
    status, ctype, out = server.request(source_mmif(("audio/wav", media["wav"])), **{param: value})
    assert status == 500 and ctype.startswith("application/json")
    msg = error_message(out)
    assert param in msg, msg
    assert_still_serving(server, media)


@pytest.mark.parametrize("body", ["not json", '{"documents": []}', '{"metadata": {"mmif": "x"}}'])
def test_invalid_mmif(server, media, body):
    status, ctype, out = server.request(body)
    assert status == 500 and ctype.startswith("text/plain")
    assert out.startswith("Invalid input data")
    assert_still_serving(server, media)
