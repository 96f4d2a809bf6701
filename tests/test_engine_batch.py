"""Batch CLI: folders walked, TSV rows, slicing, failures reported without stopping the batch."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import soundfile as sf

from engine_fixtures import REPO
from segmenter.batch import media_files, tsv_row
from segmenter.segments import Segment, Segmentation


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "segmenter", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def test_tsv_row_format() -> None:
    seg = Segmentation(10.0, [Segment(0.0, 1.5, "music", {}), Segment(1.5, 4.0, "speech", {}),
                              Segment(4.0, 6.0, "silence", {}), Segment(6.0, 10.0, "speech", {})])
    assert tsv_row(Path("a/b.wav"), seg) == "a/b.wav\t1.50\t4.00\t6.00\t10.00\t0.6500"


def test_folders_are_walked_for_media(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("sub/b.mp3", "a.wav", "notes.txt", "c.MP4"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in media_files([tmp_path])] == ["a.wav", "c.MP4", "b.mp3"]


def test_segment_folder_with_slices_and_a_bad_file(example_wav: Path, tmp_path: Path) -> None:
    data = tmp_path / "in"
    data.mkdir()
    shutil.copy(example_wav, data / "good.wav")
    (data / "broken.mp3").write_bytes(b"not audio at all" * 100)
    out, slices = tmp_path / "segmented.tsv", tmp_path / "slices"
    r = run_cli("segment", str(data), "--out", str(out), "--slice", str(slices))
    assert r.returncode == 1  # one file failed
    assert "broken.mp3" in r.stderr and "cannot decode" in r.stderr
    rows = out.read_text().splitlines()
    assert len(rows) == 1
    cells = rows[0].split("\t")
    assert cells[0].endswith("good.wav") and len(cells) % 2 == 0 and len(cells) >= 4
    times = [float(c) for c in cells[1:-1]]
    assert times == sorted(times) and 0.0 < float(cells[-1]) <= 1.0
    files = sorted(slices.glob("good_*.wav"))
    assert len(files) == len(times) // 2
    for f, (s, e) in zip(files, zip(times[::2], times[1::2])):
        assert f.name == f"good_{s:.2f}.wav"
        assert abs(sf.info(f).duration - (e - s)) < 0.011


def test_bad_parameter_is_a_usage_error(example_wav: Path, tmp_path: Path) -> None:
    r = run_cli("segment", str(example_wav), "--out", str(tmp_path / "x.tsv"), "--threshold", "1.5")
    assert r.returncode == 2 and "threshold" in r.stderr
