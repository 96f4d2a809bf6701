"""Batch segmentation of files and folders into `segmented.tsv` (the original tool's format).

Each row: the file path, then start/end pairs (seconds) of each speech segment, then the
speech ratio. `--slice DIR` also writes every speech segment as its own WAV.
"""
from __future__ import annotations

import sys
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

from .media import SAMPLE_RATE, MediaError, stream_audio
from .media_files import media_files
from .pipeline import Segmenter
from .segments import Segmentation, SmoothingParams


def tsv_row(path: Path, seg: Segmentation) -> str:
    cells = [str(path)] + [f"{x:.2f}" for s, e in seg.speech() for x in (s, e)] + [f"{seg.speech_ratio():.4f}"]
    return "\t".join(cells)


def slice_name(path: Path, start: float) -> str:
    return f"{path.stem}_{start:.2f}.wav"


def write_slices(path: Path, seg: Segmentation, out_dir: Path) -> list[Path]:
    """Each speech segment of `path` as 16 kHz mono WAV in `out_dir`, decoded once more, streamed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    spans = [(round(s * SAMPLE_RATE), round(e * SAMPLE_RATE)) for s, e in seg.speech()]
    files = [out_dir / slice_name(path, s) for s, _ in seg.speech()]
    writers = [None] * len(spans)
    pos = 0
    try:
        for block in stream_audio(path):
            end = pos + len(block)
            for i, (a, b) in enumerate(spans):
                if a < end and b > pos:
                    if writers[i] is None:
                        writers[i] = sf.SoundFile(files[i], "w", samplerate=SAMPLE_RATE, channels=1,
                                                  subtype="PCM_16")
                    writers[i].write(block[max(a, pos) - pos:min(b, end) - pos])
                elif writers[i] is not None and b <= pos:
                    writers[i].close()
                    writers[i] = None
            pos = end
    finally:
        for w in writers:
            if w is not None:
                w.close()
    return files


def run(paths: list[str], out: Path, model_dir: str | None, slice_dir: Path | None,
        params: SmoothingParams, limit: int | None) -> int:
    """Segment everything; return the number of files that failed (each reported on stderr)."""
    segmenter = Segmenter.load(model_dir)
    files = list(media_files(paths))[:limit]
    failed = 0
    with open(out, "w", encoding="utf-8") as tsv, tqdm(files, unit="file", file=sys.stderr,
                                                       disable=None) as bar:
        audio_bar = tqdm(unit="s", desc="audio", file=sys.stderr, leave=False, disable=None,
                         bar_format="{desc}: {n:.0f} s [{elapsed}, {rate_fmt}]")
        for f in bar:
            bar.set_postfix_str(f.name[-40:])
            try:
                seg = segmenter.segment(f, params, progress=lambda s: audio_bar.update(s))
                tsv.write(tsv_row(f, seg) + "\n")
                tsv.flush()
                if slice_dir is not None:
                    write_slices(f, seg, slice_dir)
            except MediaError as e:
                failed += 1
                tqdm.write(f"error: {e}", file=sys.stderr)
        audio_bar.close()
    return failed
