"""Batch segmentation of files and folders into `segmented.tsv` (the original tool's format).

Each row: the file path, then start/end pairs (seconds) of each speech segment, then the
speech ratio. `--slice DIR` also writes every speech segment as its own WAV.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable, Iterator

import soundfile as sf
from tqdm import tqdm

from .media import SAMPLE_RATE, MediaError, stream_audio
from .pipeline import Segmenter
from .segments import Segmentation, SmoothingParams

# Suffix -> MIME type (the IANA name where one is registered), fixed here rather than taken from
# the `mimetypes` module, whose answers depend on the machine's /etc/mime.types. The top-level
# type says whether a file is audio or video (the CLAMS layer makes an Audio- or VideoDocument).
# MXF is registered as application/mxf, which names neither; archives hold video in it.
MEDIA_TYPES = {
    ".wav": "audio/wav", ".mp3": "audio/mpeg", ".flac": "audio/flac", ".ogg": "audio/ogg",
    ".opus": "audio/opus", ".m4a": "audio/mp4", ".aac": "audio/aac", ".wma": "audio/x-ms-wma",
    ".aif": "audio/aiff", ".aiff": "audio/aiff", ".amr": "audio/amr", ".au": "audio/basic",
    ".gsm": "audio/x-gsm", ".g722": "audio/G722",
    ".mp4": "video/mp4", ".mkv": "video/x-matroska", ".webm": "video/webm", ".mov": "video/quicktime",
    ".avi": "video/x-msvideo", ".mpg": "video/mpeg", ".mpeg": "video/mpeg", ".ts": "video/mp2t",
    ".mxf": "video/mxf", ".m4v": "video/x-m4v", ".3gp": "video/3gpp",
}
MEDIA_SUFFIXES = set(MEDIA_TYPES)


def media_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files as given; folders walked (sorted) for files with a media suffix."""
    for p in map(Path, paths):
        if p.is_dir():
            yield from (f for f in sorted(p.rglob("*")) if f.is_file() and f.suffix.lower() in MEDIA_SUFFIXES)
        else:
            yield p


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
