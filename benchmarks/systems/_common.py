"""Shared by the runners (stdlib + numpy only, so it works in every system's venv).

Each runner decodes its inputs with ffmpeg to 16 kHz mono and writes DIR/<stem>.json =
{"speech": [[start_s, end_s], ...], "segments": [[s, e, label], ...] or null}.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

SR = 16000
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                     "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
                     "TF_CPP_MIN_LOG_LEVEL": "2"}
for _k, _v in SINGLE_THREAD_ENV.items():
    os.environ.setdefault(_k, _v)


def decode(path: str | os.PathLike, dtype: str = "float32") -> np.ndarray:
    """Any ffmpeg-readable file -> 16 kHz mono samples (float32 in [-1, 1) or int16), downmixed
    before resampling as the segmenter's decode is (segmenter.media.DOWNMIX_RESAMPLE), so that no
    system's timing carries the costlier order."""
    fmt = "f32le" if dtype == "float32" else "s16le"
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-threads", "1", "-i", str(path),
           "-map", "0:a:0", "-af", f"aformat=channel_layouts=mono,aresample={SR}", "-f", fmt, "-"]
    raw = subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout
    return np.frombuffer(raw, dtype=np.float32 if dtype == "float32" else np.int16)


def parse_args(description: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("inputs", nargs="+", help="media files")
    ap.add_argument("--out", required=True, help="output directory for <stem>.json")
    return ap.parse_args()


def write_result(out_dir: str | os.PathLike, src: str | os.PathLike, speech, segments=None,
                 seconds: float | None = None) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    p = out / (Path(src).stem + ".json")
    doc = {"speech": [[round(float(s), 4), round(float(e), 4)] for s, e in speech],
           "segments": None if segments is None else
           [[round(float(s), 4), round(float(e), 4), str(lab)] for s, e, lab in segments]}
    if seconds is not None:
        doc["processing_seconds"] = round(seconds, 3)
    p.write_text(json.dumps(doc))
    return p


def run_files(inputs, out_dir, process) -> None:
    """process(path) -> (speech, segments); times each file (decode included)."""
    for path in inputs:
        t0 = time.perf_counter()
        speech, segments = process(path)
        write_result(out_dir, path, speech, segments, time.perf_counter() - t0)
        print(f"{path}: {len(speech)} speech segments", file=sys.stderr)


def merge(intervals):
    out = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return out


# ---- separation runners: SEP_DIR (NNNN/mix.wav) -> OUT/NNNN.wav (16 kHz mono float32) ----

def sep_items(sep_dir: str | os.PathLike) -> list[Path]:
    return sorted(p for p in Path(sep_dir).iterdir() if (p / "mix.wav").is_file())


def write_wav_f32(path: str | os.PathLike, x: np.ndarray, sr: int = SR) -> None:
    """A mono float32 WAV (no quantisation of the estimate), stdlib + numpy only."""
    import struct
    data = np.asarray(x, dtype="<f4").tobytes()
    hdr = b"RIFF" + struct.pack("<I", 4 + 26 + 12 + 8 + len(data)) + b"WAVE"
    hdr += b"fmt " + struct.pack("<IHHIIHHH", 18, 3, 1, sr, sr * 4, 4, 32, 0)
    hdr += b"fact" + struct.pack("<II", 4, len(x))
    hdr += b"data" + struct.pack("<I", len(data))
    Path(path).write_bytes(hdr + data)


def parse_sep_args(description: str, flags: tuple[str, ...] = (),
                   more: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    """The runners' common arguments, plus the boolean options `flags` (e.g. "--speech-only") and
    whatever `more` adds."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("sep_dir", help="dev SEP folder (NNNN/mix.wav ...)")
    ap.add_argument("--out", required=True, help="writes OUT/NNNN.wav and OUT/timing.json")
    for flag in flags:
        ap.add_argument(flag, action="store_true")
    if more:
        more(ap)
    return ap.parse_args()


def read_wav16(path: str | os.PathLike) -> np.ndarray:
    """A 16 kHz mono PCM16 WAV (the SEP files) -> float32, stdlib + numpy only."""
    import wave
    with wave.open(str(path), "rb") as w:
        if w.getframerate() != SR or w.getnchannels() != 1 or w.getsampwidth() != 2:
            return decode(path)
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0


def run_separation(sep_dir, out_dir, separate, load_seconds: float = 0.0) -> None:
    """separate(mix_path, item_dir, out_wav) writes the estimate and returns the seconds spent
    processing (the system itself: array in, array out), or None to count the whole call (file
    in, file out). timing.json gets the RTF = processing seconds / audio seconds."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    total_proc = total_audio = 0.0
    per_item = {}
    for item in sep_items(sep_dir):
        mix = item / "mix.wav"
        t0 = time.perf_counter()
        proc = separate(mix, item, out / f"{item.name}.wav")
        dt = time.perf_counter() - t0 if proc is None else proc
        n_samples = (mix.stat().st_size - 44) / 2  # PCM16 mono
        total_proc += dt
        total_audio += n_samples / SR
        per_item[item.name] = round(dt, 4)
    (out / "timing.json").write_text(json.dumps({
        "processing_seconds": total_proc, "audio_seconds": total_audio,
        "rtf": total_proc / total_audio if total_audio else None,
        "load_seconds": load_seconds, "per_item": per_item}, indent=1))
    print(f"{out}: RTF {total_proc / max(total_audio, 1e-9):.4f}", file=sys.stderr)


def run_array_separation(sep_dir, out_dir, process: Callable[..., np.ndarray],
                         inputs: tuple[str, ...] = ("mix.wav",)) -> None:
    """`run_separation` for a system that maps arrays to an estimate: process(*arrays of `inputs`),
    timed alone (reading and writing the WAVs left out)."""
    def separate(mix, item, out_wav):
        arrays = [read_wav16(item / name) for name in inputs]
        t0 = time.perf_counter()
        est = process(*arrays)
        proc = time.perf_counter() - t0
        write_wav_f32(out_wav, est)
        return proc

    run_separation(sep_dir, out_dir, separate)
