"""Speech separation: STFT -> learned speech mask -> masked STFT -> inverse STFT.

`Separator.load` returns the separator of the kind its model folder's config.json names (its
"model": separator-v2's complex mask, `cmask`, or separator-v20's magnitude mask, below); every
kind streams blocks of samples to exactly as many separated samples with flat memory, so the
track writing, the one-decode `segment_and_separate` and the speech-only gating work with any.

Separator-v20 (`MagnitudeMaskSeparator`): the network sees every other frame of a half-hop STFT
(a 256-sample hop); its mask is interpolated to the frames between and applied on the half-hop grid. Overlap-adding four
frames per sample instead of two smooths the mask's frame-to-frame errors: +0.16 dB SI-SDR
improvement for the same network (benchmarks/RESULTS.md).

The learned mask is multiplied by a gain against steady background noise, estimated from the
mixture alone (`stationary_noise`): +0.23 dB on the dev set, where rain, rivers and wind are
kinds the training data hardly holds.

Long files are processed in overlapping chunks (each core chunk sees two seconds of real
audio either side, more than the mask network's 1.5 s context and the noise floor's 0.75 s),
so memory is flat and the output has exactly the source's samples and timeline.
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

import librosa
import numpy as np
import soundfile as sf

from .asr_track import AsrTrack
from .media import SAMPLE_RATE, stream_audio
from .models import DEFAULT_SEPARATOR, SEPARATOR_ENV, resolve_model_dir
from .network import NumpyNet
from .pipeline import Segmenter
from .segments import Segmentation, SmoothingParams
from .stationary_noise import stationary_noise_gain
from .streaming import windows

N_FFT = 512
STFT_HOP = 256  # both separators' network frame step (16 ms); the segmenter's is frames.FRAME_HOP
SYNTH_HOP = STFT_HOP // 2  # the mask is applied, and the speech resynthesised, on this grid
N_BINS = N_FFT // 2 + 1
MAGNITUDE_MASK = "magnitude-mask"  # config.json "model" of separator-v20 (and of a folder that names none)
CORE_SECONDS = 30.0
MARGIN_SECONDS = 2.0
FADE_SECONDS = 0.02  # speech-only gating ramps, short enough to keep onsets, long enough to avoid clicks
SPEECH_ONLY_HELP = ("give the track to hand to ASR: the separator's mask limited (attenuation limit and mixture "
                    "mixed back, which keep the separator's mistakes from costing recognition) and the stretches "
                    "the segmenter labels non-speech silenced (with short fades). Under music or noise as loud as "
                    "the speech the segmenter misses speech, which is then silenced too.")


def stft(audio: np.ndarray) -> np.ndarray:
    """Complex STFT on the synthesis grid; its even frames are the network's frames."""
    return librosa.stft(audio, n_fft=N_FFT, hop_length=SYNTH_HOP, window="hann", center=True)


def istft(spec: np.ndarray, length: int) -> np.ndarray:
    return librosa.istft(spec, hop_length=SYNTH_HOP, window="hann", length=length)


def network_frames(frames: np.ndarray, offset: int = 0) -> np.ndarray:
    """The network's frames of a (bins, frames) array on the synthesis grid: the even frames, or
    with `offset` 1 the odd ones, which are the same analysis shifted by half a network hop."""
    return frames[:, offset::2]


def to_synthesis_grid(mask: np.ndarray, frames: int, offset: int = 0) -> np.ndarray:
    """(bins, network frames) taken at synthesis frames `offset`, `offset` + 2, ... -> (bins,
    `frames`) on the synthesis grid: each frame between two network frames gets their mean, a
    frame before the first or past the last that frame's value."""
    if offset:
        return np.concatenate((mask[:, :1], to_synthesis_grid(mask, frames - 1)), axis=1)
    out = np.empty((mask.shape[0], frames), mask.dtype)
    out[:, ::2] = mask
    out[:, 1::2] = 0.5 * (mask + np.concatenate((mask[:, 1:], mask[:, -1:]), axis=1))[:, :frames // 2]
    return out


def power(spec: np.ndarray) -> np.ndarray:
    return spec.real ** 2 + spec.imag ** 2


MASK_FEATURES_SCALING = "(10*log10(|X|^2+1e-10)+40)/20"  # what `mask_features` computes, as config.json records it


def mask_features(p: np.ndarray) -> np.ndarray:
    """(bins, frames) power -> (frames, bins) log power, scaled like the segmenter's features."""
    return ((10.0 * np.log10(p.T + 1e-10) + 40.0) / 20.0).astype(np.float32)


def speech_gain(intervals: list[tuple[float, float]], start: int, n: int) -> np.ndarray:
    """Gain for samples [start, start + n): 1 inside speech, 0 outside, with linear ramps outside speech."""
    fade = FADE_SECONDS * SAMPLE_RATE
    t = np.arange(start, start + n, dtype=np.float64)
    gain = np.zeros(n, np.float32)
    for s, e in intervals:
        s, e = s * SAMPLE_RATE, e * SAMPLE_RATE
        if e + fade < start or s - fade > start + n:
            continue
        g = np.clip(np.minimum(t - (s - fade), (e + fade) - t) / fade, 0.0, 1.0)
        np.maximum(gain, g, out=gain)
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
        kind = config.get("model", MAGNITUDE_MASK)
        if kind == MAGNITUDE_MASK:
            return MagnitudeMaskSeparator(NumpyNet.load(d / "weights.npz"), d, config.get("mask_gain", 1.0))
        from .cmask import MODEL_KIND, ComplexMaskSeparator  # cmask builds on this module
        if kind == MODEL_KIND:
            return ComplexMaskSeparator.load(d)
        raise ValueError(f"{d / 'config.json'} names the model kind {kind!r}; known: {MAGNITUDE_MASK!r}, "
                         f"{MODEL_KIND!r}")

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


class MagnitudeMaskSeparator(Separator):
    """Separator-v20: a loaded speech-mask network on log power spectra."""

    def __init__(self, net: NumpyNet, model_dir: Path, gain: float = 1.0):
        self.net = net
        self.model_dir = model_dir
        self.gain = gain

    def mask(self, spec: np.ndarray) -> np.ndarray:
        """(bins, frames) speech gain for a complex STFT from `stft`: the network's mask times the
        model's fixed `mask_gain`, which restores the speech level that a scale-invariant loss
        leaves open, times the gain against steady background noise.

        The network runs on both halves of the synthesis grid, the even frames it was trained on
        and the odd ones (its analysis shifted by half a hop), and the two masks, each brought to
        the whole grid, are averaged: a two-member ensemble that costs a second network pass and
        gains about 0.07 dB SI-SDR (benchmarks/RESULTS.md)."""
        p = power(spec)
        n = spec.shape[1]
        net_mask = np.mean([to_synthesis_grid(self.net.forward(mask_features(network_frames(p, k))).T, n, k)
                            for k in range(min(2, n))], axis=0)
        steady = stationary_noise_gain(p, SAMPLE_RATE / SYNTH_HOP)
        return self.gain * net_mask * steady

    def separate_audio(self, audio: np.ndarray, limit: MaskLimit | None = None) -> np.ndarray:
        """One pass over the whole of `audio`."""
        spec = stft(audio)
        mask = self.mask(spec)
        return istft(spec * (limit(mask) if limit else mask), len(audio))

    def stream(self, blocks: Iterable[np.ndarray], limit: MaskLimit | None = None,
               core_seconds: float = CORE_SECONDS, margin_seconds: float = MARGIN_SECONDS) -> Iterator[np.ndarray]:
        """The separated speech of consecutive blocks, in chunks of `core_seconds` each separated
        with `margin_seconds` of real audio either side."""
        # Whole network hops, so that every chunk's STFT frames (and which of them are the
        # network's) fall where the whole file's would.
        core, margin = (int(sec * SAMPLE_RATE) // STFT_HOP * STFT_HOP for sec in (core_seconds, margin_seconds))
        for w in windows(iter(blocks), core, margin):
            yield self.separate_audio(w.data, limit)[w.core].astype(np.float32)


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
