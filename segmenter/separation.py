"""Speech separation: STFT -> learned speech mask -> masked STFT -> inverse STFT.

`Separator.load` returns the separator its model folder's config.json names (its "model"; today
one kind, separator-v2's complex mask in `cmask`). A separator streams blocks of samples to
exactly as many separated samples with flat memory, so the track writing, the one-decode
`segment_and_separate` and the speech-only gating work with any kind.

`segment_and_separate` gives the segmentation and the separated track from one decode of the
medium.
"""
from __future__ import annotations

import json
import os
import tempfile
from bisect import bisect_left, bisect_right
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import soundfile as sf

from .asr_track import AsrTrack
from .media import SAMPLE_RATE, stream_audio
from .models import DEFAULT_SEPARATOR, SEPARATOR_ENV, resolve_model_dir
from .pipeline import Segmenter
from .segments import Segmentation, SmoothingParams

N_FFT = 512
STFT_HOP = 256  # the separator's frame step (16 ms); the segmenter's is frames.FRAME_HOP
N_BINS = N_FFT // 2 + 1
FADE_SECONDS = 0.02  # speech-only gating ramps, short enough to keep onsets, long enough to avoid clicks
SPEECH_ONLY_HELP = ("give the track to hand to ASR: the separated speech with the stretches the segmenter labels "
                    "non-speech silenced (with short fades), where a recogniser would otherwise invent words; "
                    "an attenuation limit and a mix-back can limit the separator's mask for a recogniser that its "
                    "mistakes cost more. Under music or noise as loud as the speech the segmenter misses speech, "
                    "which is then silenced too.")


def speech_gain(intervals: list[tuple[float, float]], start: int, n: int) -> np.ndarray:
    """Gain for samples [start, start + n): 1 inside speech, 0 outside, with linear ramps outside speech."""
    fade = FADE_SECONDS * SAMPLE_RATE
    gain = np.zeros(n, np.float32)
    for s, e in intervals:
        s, e = s * SAMPLE_RATE, e * SAMPLE_RATE
        lo, hi = max(start, int(np.floor(s - fade))), min(start + n, int(np.ceil(e + fade)) + 1)
        if lo >= hi:
            continue
        t = np.arange(lo, hi, dtype=np.float64)  # only the samples this interval can reach
        g = np.clip(np.minimum(t - (s - fade), (e + fade) - t) / fade, 0.0, 1.0)
        np.maximum(gain[lo - start:hi - start], g, out=gain[lo - start:hi - start])
    return gain


# A per-bin mask -> the mask to apply (asr_track.AsrTrack.limit); None applies the model's own.
MaskLimit = Callable[[np.ndarray], np.ndarray]


class Separator:
    """A loaded separation model; `separate` writes the speech track of a medium. A kind of model
    implements `stream`; `separate_audio` and `stream` take a `limit` on the mask."""

    model_dir: Path | None = None

    @staticmethod
    def load(model_dir: str | os.PathLike | None = None) -> "Separator":
        """The separator in `model_dir` (else $SEPARATOR_MODEL, else the default), of the kind
        its config.json names in "model"."""
        d = resolve_model_dir(model_dir, SEPARATOR_ENV, DEFAULT_SEPARATOR)
        config = json.loads((d / "config.json").read_text()) if (d / "config.json").exists() else {}
        from .cmask import MODEL_KIND, ComplexMaskSeparator  # cmask builds on this module
        kind = config.get("model")
        if kind != MODEL_KIND:
            raise ValueError(f"{d / 'config.json'} names the model kind {kind!r}; this version runs "
                             f"{MODEL_KIND!r} separators (separator-v2 and later)")
        return ComplexMaskSeparator.load(d, config)

    def stream(self, blocks: Iterable[np.ndarray], limit: MaskLimit | None = None) -> Iterator[np.ndarray]:
        """The separated samples of a stream of 16 kHz mono float blocks, in order, exactly as
        many as came in."""
        raise NotImplementedError

    def separate_audio(self, audio: np.ndarray, limit: MaskLimit | None = None) -> np.ndarray:
        return np.concatenate([*self.stream([audio], limit), np.zeros(0, np.float32)])

    def separate(self, path: str | os.PathLike, out_wav: str | os.PathLike, limit: MaskLimit | None = None) -> Path:
        """Write the separated speech of `path` as 16 kHz mono PCM WAV, atomically."""
        with _hidden_temp(path, out_wav) as tmp:
            self.write_blocks(stream_audio(path, reuse_buffer=True), tmp, limit)
            os.replace(tmp, out_wav)
        return Path(out_wav)

    def write_blocks(self, blocks: Iterable[np.ndarray], wav: Path, limit: MaskLimit | None = None) -> None:
        with sf.SoundFile(wav, "w", samplerate=SAMPLE_RATE, channels=1, subtype="PCM_16", format="WAV") as f:
            for block in self.stream(blocks, limit):
                f.write(np.clip(block, -1.0, 1.0))


def segment_and_separate(segmenter: Segmenter, separator: Separator, path: str | os.PathLike,
                         out_wav: str | os.PathLike, params: SmoothingParams = SmoothingParams(),
                         speech_only: bool = False, asr: AsrTrack = AsrTrack()) -> tuple[Segmentation, Path | None]:
    """The segmentation and the separated speech of `path` from one decode: each block goes to
    the segmenter as the separator reads it, so a long medium is decoded (and read from its
    storage) once. With `speech_only`, the ASR track: the mask limited by `asr`, and the
    stretches that the segmentation calls non-speech then silenced in a second pass over the
    separated track, since that needs the finished segmentation. A medium without samples gives
    no track (None)."""
    segmentation = segmenter.segment_stream(params)

    def shared(blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        for block in blocks:
            segmentation.push(block)
            yield block

    with _hidden_temp(path, out_wav) as tmp:
        separator.write_blocks(shared(stream_audio(path, reuse_buffer=True)), tmp,
                               asr.validate().limit if speech_only else None)
        seg = segmentation.finish()
        if seg.duration == 0:
            return seg, None
        if speech_only:
            _gate(tmp, seg.speech())
        os.replace(tmp, out_wav)
    return seg, Path(out_wav)


def _gate(wav: Path, intervals: list[tuple[float, float]], block: int = 30 * SAMPLE_RATE) -> None:
    """Silence `wav` outside the speech `intervals` (sorted, disjoint; with short ramps), in place,
    block by block. Samples are scaled as integers, so where the gain is 1 they stay exactly as
    written. Each block gets only the intervals that can reach it: a long file has thousands."""
    starts, ends = [s for s, _ in intervals], [e for _, e in intervals]
    with sf.SoundFile(wav, "r+") as f:
        for start in range(0, f.frames, block):
            f.seek(start)
            x = f.read(block, dtype="int16")
            near = intervals[bisect_left(ends, start / SAMPLE_RATE - FADE_SECONDS):
                             bisect_right(starts, (start + len(x)) / SAMPLE_RATE + FADE_SECONDS)]
            f.seek(start)
            f.write(np.round(x * speech_gain(near, start, len(x))).astype(np.int16))


@contextmanager
def _hidden_temp(source: str | os.PathLike, out_wav: str | os.PathLike) -> Iterator[Path]:
    """A hidden temporary file next to `out_wav`, to write and then rename to it: whoever watches
    the output folder never sees a partial track. Whatever is not renamed is removed at the end.
    `out_wav` must not be the input `source`."""
    out = Path(out_wav)
    if out.exists() and out.resolve() == Path(source).resolve():
        raise ValueError(f"refusing to overwrite the input {source}")
    fd, name = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".part", dir=out.parent)
    os.close(fd)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)
