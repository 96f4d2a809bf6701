"""Shared fixtures for the CLAMS app tests: real media made with ffmpeg, the real model, and the
real production server (gunicorn on loopback), started once per test module that asks for it."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import wave
from pathlib import Path

import numpy as np
import pytest

pytest_plugins = ["engine_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from segmenter.pipeline import DEFAULT_SEGMENTER, PRETRAINED  # noqa: E402
from segmenter.separation import DEFAULT_SEPARATOR  # noqa: E402

PYTHON = sys.executable
EXAMPLE = ROOT / "examples" / "speech_music.ogg"


def segmenter_model_dir() -> Path:
    return Path(os.environ.get("SEGMENTER_MODEL") or PRETRAINED / DEFAULT_SEGMENTER)


@pytest.fixture(scope="session")
def require_model():
    """The app tests exercise the real model: without it they fail loudly rather than skip."""
    d = segmenter_model_dir()
    if not (d / "weights.npz").is_file():
        pytest.fail(f"no segmentation model at {d} (weights.npz): the app tests need the real model; "
                    f"commit pretrained/{DEFAULT_SEGMENTER}/ or point $SEGMENTER_MODEL at a model folder",
                    pytrace=False)


def ffmpeg(*args: str) -> None:
    from segmenter.media import ffmpeg_binary
    subprocess.run([ffmpeg_binary(), "-nostdin", "-v", "error", "-y", *args], check=True)


def _audio_source_args(seconds: float) -> list[str]:
    """A few seconds of real recording (the bundled example) if present, else a synthetic mix."""
    if EXAMPLE.is_file():
        return ["-t", str(seconds), "-i", str(EXAMPLE)]
    return ["-f", "lavfi", "-i",
            f"sine=f=220:d={seconds}[a];anoisesrc=d={seconds}:a=0.05[b];[a][b]amix=inputs=2"]


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    """Small media files, made once per session."""
    d = tmp_path_factory.mktemp("media")
    m = {k: d / v for k, v in dict(wav="speech.wav", mp3="speech.mp3", mp4="video.mp4",
                                   zero="zero.wav", garbage="garbage.wav", silent_video="silent.mp4",
                                   gappy="gappy.wav").items()}
    ffmpeg(*_audio_source_args(4.0), "-ac", "1", "-ar", "16000", str(m["wav"]))
    ffmpeg("-i", str(m["wav"]), "-t", "3.3", str(m["mp3"]))
    ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=64x48:r=10:d=2.5", "-i", str(m["wav"]),
           "-map", "0:v", "-map", "1:a", "-shortest", "-c:v", "mpeg4", "-c:a", "aac", str(m["mp4"]))
    ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=64x48:r=10:d=1", "-c:v", "mpeg4", str(m["silent_video"]))
    with wave.open(str(m["zero"]), "wb") as w:  # a valid WAV holding 0 samples
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
    # Fixed bytes: about one random draw in a hundred probes as some non-audio format in ffmpeg
    # ("no audio stream" instead of "cannot decode"); these are undecodable with both ffmpegs.
    m["garbage"].write_bytes(np.random.default_rng(0).bytes(8000))
    # speech (or the synthetic stand-in), 2 s of a loud tone, then silence: has non-speech stretches
    ffmpeg(*_audio_source_args(3.0), "-f", "lavfi", "-i", "sine=f=1000:d=2", "-f", "lavfi", "-i",
           "anullsrc=r=16000:cl=mono:d=1.5", "-filter_complex",
           "[0:a]aresample=16000,pan=mono|c0=c0[s];[1:a]aresample=16000[t];[2:a]aresample=16000[z];"
           "[s][t][z]concat=n=3:v=0:a=1", "-ac", "1", "-ar", "16000", str(m["gappy"]))
    return m


def source_mmif(*docs: tuple[str, str | Path], doc_ids: list[str] | None = None) -> str:
    """A `clams source`-style MMIF: docs are (mime, absolute path)."""
    from mmif.utils.cli.source import generate_source_mmif_from_file
    s = generate_source_mmif_from_file([f"{mime}:{path}" for mime, path in docs])
    if doc_ids:
        d = json.loads(s)
        for doc, new in zip(d["documents"], doc_ids):
            doc["properties"]["id"] = new
        s = json.dumps(d)
    return s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, url: str, proc: subprocess.Popen, log: Path):
        self.url, self.proc, self.log = url, proc, log

    def request(self, body: str | bytes, method: str = "POST", timeout: float = 120, **params) -> tuple[int, str, str]:
        query = "&".join(f"{k}={urllib.request.quote(str(v))}" for k, v in params.items())
        req = urllib.request.Request(self.url + ("?" + query if query else ""), method=method,
                                     data=body.encode() if isinstance(body, str) else body)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.headers.get("Content-Type", ""), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type", ""), e.read().decode()

    def alive(self) -> bool:
        return self.proc.poll() is None


@pytest.fixture(scope="module")
def server(tmp_path_factory, require_model):
    """`python app.py --production` (gunicorn, 2 workers) on a free loopback port."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = dict(os.environ, CLAMS_GUNICORN_WORKERS=os.environ.get("CLAMS_GUNICORN_WORKERS", "2"))
    with open(log, "wb") as out:
        proc = subprocess.Popen([PYTHON, "app.py", "--production", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    srv = Server(f"http://127.0.0.1:{port}/", proc, log)
    deadline = time.time() + 180
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if srv.request("", method="GET", timeout=5)[0] == 200:
                break
        except OSError:
            pass
        if time.time() > deadline:
            os.killpg(proc.pid, signal.SIGTERM)
            pytest.fail(f"the server did not answer within 180 s:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    yield srv
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def check_tiling(out: str, docs: dict[str, float], labelset: list[str] | None = None) -> dict:
    """Validate the output MMIF and the tiling rules; docs maps document id -> duration (s).

    Returns {doc id: [(start, end, label, classification), ...]}.
    """
    from mmif import AnnotationTypes, Mmif
    m = Mmif(out)  # validates
    result = {}
    for doc_id, duration in docs.items():
        views = [v for v in m.get_views_for_document(doc_id)
                 if v.metadata.contains and AnnotationTypes.TimeFrame in v.metadata.contains]
        assert len(views) == 1, f"{doc_id}: expected one segmentation view, got {len(views)}"
        v = views[0]
        assert "speech-segmentation" in (v.metadata.get("appTags") or [])
        c = v.metadata.contains[AnnotationTypes.TimeFrame]
        assert c["document"] == doc_id and c["timeUnit"] == "milliseconds"
        ls = list(c["labelset"])
        if labelset is not None:
            assert ls == labelset
        frames = []
        for a in v.get_annotations(AnnotationTypes.TimeFrame):
            start, end = a.get("start"), a.get("end")
            assert isinstance(start, int) and isinstance(end, int)
            label, cls = a.get("label"), a.get("classification")
            assert label in ls
            assert set(cls) == set(ls) and all(0.0 <= x <= 1.0 for x in cls.values())
            frames.append((start, end, label, dict(cls)))
        assert frames, f"{doc_id}: no TimeFrames"
        assert frames[0][0] == 0
        assert frames[-1][1] == int(duration * 1000 + 0.5), (frames[-1], duration)
        for (s1, e1, *_), (s2, *_rest) in zip(frames, frames[1:]):
            assert s1 < e1 == s2, "gap or overlap"
        result[doc_id] = frames
    return result


def media_duration(path: Path) -> float:
    from segmenter.media import read_audio
    return len(read_audio(path)) / 16000


def error_message(out: str) -> str:
    d = json.loads(out)
    errs = [v["metadata"]["error"]["message"] for v in d["views"] if "error" in v["metadata"]]
    assert len(errs) == 1, out[:2000]
    return errs[0]
