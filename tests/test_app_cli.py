"""cli.py as a user runs it: a subprocess, real model, real media, MMIF files in and out."""
from __future__ import annotations

import subprocess

import pytest

from conftest import PYTHON, ROOT, check_tiling, error_message, media_duration, source_mmif


@pytest.fixture(scope="module")
def cli(require_model, tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")

    def run(body: str, *args: str) -> tuple[int, str, str]:
        src, out = d / "in.mmif", d / "out.mmif"
        src.write_text(body)
        out.unlink(missing_ok=True)
        p = subprocess.run([PYTHON, "cli.py", *args, str(src), str(out)], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
        return p.returncode, out.read_text() if out.exists() else "", p.stderr
    return run


def test_cli_three_documents(cli, media):
    body = source_mmif(("audio/wav", media["wav"]), ("audio/mpeg", media["mp3"]), ("video/mp4", media["mp4"]))
    rc, out, err = cli(body, "--labels", "binary")
    assert rc == 0, err[-3000:]
    check_tiling(out, {"d1": media_duration(media["wav"]), "d2": media_duration(media["mp3"]),
                       "d3": media_duration(media["mp4"])}, ["speech", "non-speech"])


def test_cli_stdin_stdout(require_model, media):
    # stdin -> stdout, the pipe form of the SDK convention
    p = subprocess.run([PYTHON, "cli.py"], cwd=ROOT, input=source_mmif(("audio/wav", media["wav"])),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    check_tiling(p.stdout, {"d1": media_duration(media["wav"])})


@pytest.mark.parametrize("case, reason", [
    ("missing", "no such file"),
    ("folder", "not a regular file"),
    ("garbage", "cannot decode"),
    ("silent_video", "no audio stream"),
])
def test_cli_media_errors(cli, media, tmp_path, case, reason):
    path = {"missing": tmp_path / "does-not-exist.wav", "folder": tmp_path}.get(case) or media[case]
    mime = "video/mp4" if case == "silent_video" else "audio/wav"
    rc, out, err = cli(source_mmif((mime, path)))
    assert rc == 1
    msg = error_message(out)
    assert "d1" in msg and str(path) in msg and reason in msg, msg


def test_cli_zero_length(cli, media):
    rc, out, err = cli(source_mmif(("audio/wav", media["zero"])))
    assert rc == 0, err[-3000:]
    from mmif import Mmif
    (view,) = Mmif(out).views
    assert "zero length" in str(view.metadata.warnings[0])


@pytest.mark.parametrize("param, value", [("threshold", "2"), ("minGap", "abc")])
def test_cli_bad_parameter(cli, media, param, value):
    rc, out, err = cli(source_mmif(("audio/wav", media["wav"])), f"--{param}", value)
    assert rc == 1
    assert param in error_message(out)


def test_cli_bad_choice_is_refused_by_argparse(cli, media):
    rc, out, err = cli(source_mmif(("audio/wav", media["wav"])), "--labels", "coarse")
    assert rc == 2 and "labels" in err


def test_cli_invalid_mmif(cli):
    rc, out, err = cli('{"documents": []}')
    assert rc == 1 and "Invalid input data" in err


def test_cli_segment_only_does_not_load_the_separator(require_model, media, tmp_path):
    """Without separate=true the separator is never loaded (a server loads it before forking):
    a run with an unloadable separator folder still segments; asking it to separate fails."""
    import os
    broken = tmp_path / "broken-separator"
    broken.mkdir()
    (broken / "weights.npz").write_bytes(b"not a model")
    src, out = tmp_path / "in.mmif", tmp_path / "out.mmif"
    src.write_text(source_mmif(("audio/wav", media["wav"])))

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([PYTHON, "cli.py", *args, str(src), str(out)], cwd=ROOT, capture_output=True,
                              text=True, timeout=300, env=dict(os.environ, SEPARATOR_MODEL=str(broken)))
    p = run()
    assert p.returncode == 0, p.stderr[-3000:]
    check_tiling(out.read_text(), {"d1": media_duration(media["wav"])})
    assert run("--separate", "true", "--outputDir", str(tmp_path / "tracks")).returncode == 1


@pytest.mark.parametrize("param, value", [("attenuationLimit", "150"), ("mixBack", "-0.5")])
def test_cli_bad_asr_track_parameter(cli, media, tmp_path, param, value):
    rc, out, err = cli(source_mmif(("audio/wav", media["wav"])), "--separate", "true", "--speechOnly", "true",
                       "--outputDir", str(tmp_path), f"--{param}", value)
    assert rc == 1
    assert param in error_message(out)
