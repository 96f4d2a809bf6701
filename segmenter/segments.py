"""Smoothing: frame class probabilities -> an exhaustive, ordered list of labelled segments.

Frames are 10 ms: frame i covers [i/100, (i+1)/100). Speech is decided first (threshold,
gap filling, minimum duration, padding, gap filling again); the rest of the timeline is then split
into music, noise and silence by the locally averaged class probabilities. It runs chunk by chunk
(`Smoother`), so memory does not grow with the duration.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Iterator

import numpy as np

from .frames import FRAME_RATE
from .streaming import ChunkedStream, Window

LABELS: tuple[str, ...] = ("speech", "music", "noise", "silence")
SPEECH, NON_SPEECH = "speech", "non-speech"
BINARY_LABELS: tuple[str, ...] = (SPEECH, NON_SPEECH)
# Music / noise / silence are decided on probabilities averaged over this window, so that a
# few noisy frames inside a song do not cut it into pieces.
LABEL_WINDOW_FRAMES = 101
MAX_SMOOTHING_SECONDS = 60.0  # upper bound of the duration knobs: beyond it a request is surely a mistake


class ParameterValueError(ValueError):
    """A smoothing parameter is out of range; `field` names it."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field} {message}")


@dataclass(frozen=True)
class SmoothingParams:
    """The smoothing knobs, in seconds (threshold: probability).

    Defaults chosen for the default model on the held-out programmes of its recipe
    (benchmarks/tune_smoothing.py), never on the dev corpus. The model's score is calibrated;
    the best threshold sits well above 0.5 because min_gap and padding then add speech around
    every stretch, which a higher threshold offsets.
    """

    threshold: float = 0.8
    min_speech: float = 0.25
    min_gap: float = 0.3
    padding: float = 0.2
    padding_floor: float = 0.1

    def validate(self) -> "SmoothingParams":
        if not 0.0 < self.threshold < 1.0:
            raise ParameterValueError("threshold", f"must be between 0 and 1, got {self.threshold}")
        if not 0.0 <= self.padding_floor < 1.0:
            raise ParameterValueError("padding_floor", f"must be at least 0 and below 1, got {self.padding_floor}")
        for f in ("min_speech", "min_gap", "padding"):
            v = getattr(self, f)
            if not 0.0 <= v <= MAX_SMOOTHING_SECONDS:
                raise ParameterValueError(f, f"must be between 0 and {MAX_SMOOTHING_SECONDS:g} seconds, got {v}")
        return self

    def with_values(self, **changes: float) -> "SmoothingParams":
        return replace(self, **changes).validate()

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


# What each knob does, as `SmoothingParams.validate` and `speech_mask` apply it: the one text that
# the command line and the app's metadata show.
SMOOTHING_HELP = {
    "threshold": f"Speech probability (between 0 and 1, exclusive) at or above which a {1000 // FRAME_RATE} ms "
                 "frame counts as speech. Lower it to catch more quiet or distorted speech, raise it to "
                 "reject more music and noise.",
    "min_speech": f"Shortest speech stretch kept, in seconds (0 to {MAX_SMOOTHING_SECONDS:g}); shorter speech "
                  "is relabelled.",
    "min_gap": f"Shortest pause between two speech stretches, in seconds (0 to {MAX_SMOOTHING_SECONDS:g}); "
               "shorter pauses are filled and become speech.",
    "padding": f"Seconds (0 to {MAX_SMOOTHING_SECONDS:g}) added to both ends of every speech stretch, over "
               "frames whose speech probability reaches the padding floor, so that word onsets and tails are "
               "not cut; a pause it narrows below min_gap is filled.",
    "padding_floor": "Speech probability (at least 0, below 1) under which padding stops: padding covers the "
                     "faint onsets and tails around speech, not the silence or music beyond them. 0 pads "
                     "regardless.",
}


@dataclass(frozen=True, slots=True)
class Segment:
    start: float  # seconds, inclusive
    end: float  # seconds, exclusive
    label: str
    scores: dict[str, float]

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Segmentation:
    """The fine (4-class) segments of one medium; they tile [0, duration] in order."""

    duration: float
    segments: list[Segment]

    def binary(self) -> list[Segment]:
        """The same timeline collapsed to speech / non-speech (adjacent non-speech merged)."""
        out: list[Segment] = []
        for s in self.segments:
            label = SPEECH if s.label == SPEECH else NON_SPEECH
            p = s.scores[SPEECH]
            if out and out[-1].label == label:
                prev = out[-1]
                total = prev.duration + s.duration
                p = (prev.scores[SPEECH] * prev.duration + p * s.duration) / total if total else p
                out[-1] = Segment(prev.start, s.end, label, _binary_scores(p))
            else:
                out.append(Segment(s.start, s.end, label, _binary_scores(p)))
        return out

    def speech(self) -> list[tuple[float, float]]:
        return [(s.start, s.end) for s in self.segments if s.label == SPEECH]

    def speech_ratio(self) -> float:
        return sum(e - s for s, e in self.speech()) / self.duration if self.duration else 0.0


def _binary_scores(p_speech: float) -> dict[str, float]:
    return {SPEECH: round(p_speech, 4), NON_SPEECH: round(1.0 - p_speech, 4)}


def runs(values: np.ndarray) -> Iterator[tuple[int, int, int]]:
    """(start, end, value) of each run of equal values."""
    if len(values) == 0:
        return
    change = np.flatnonzero(values[1:] != values[:-1]) + 1
    bounds = np.concatenate(([0], change, [len(values)]))
    for s, e in zip(bounds[:-1], bounds[1:]):
        yield int(s), int(e), int(values[s])


def _fill_pauses(mask: np.ndarray, shorter_than: int) -> None:
    """Pauses between two speech stretches shorter than `shorter_than` frames become speech."""
    for s, e, v in list(runs(mask)):
        if not v and 0 < s and e < len(mask) and e - s < shorter_than:
            mask[s:e] = True


def _pad(mask: np.ndarray, pad: int, paddable: np.ndarray) -> None:
    """Extend every speech stretch by up to `pad` frames each way, over `paddable` frames only
    (it stops at the first frame that is not)."""
    n = len(mask)
    for s, e, v in list(runs(mask)):
        if v:
            before = np.flatnonzero(~paddable[max(0, s - pad):s])
            start = max(0, s - pad) + (int(before[-1]) + 1 if len(before) else 0)
            after = np.flatnonzero(~paddable[e:min(n, e + pad)])
            end = e + int(after[0]) if len(after) else min(n, e + pad)
            mask[start:end] = True


def speech_mask(p_speech: np.ndarray, params: SmoothingParams) -> np.ndarray:
    """Threshold, fill short gaps inside speech, drop short speech, then pad (in that order).
    Padding stops at frames under padding_floor. It narrows a pause by up to twice its width, so
    the pauses it leaves shorter than min_gap are filled too: no pause in the output is shorter
    than min_gap."""
    scale = 255 if p_speech.dtype == np.uint8 else 1
    mask = p_speech >= params.threshold * scale
    gap = round(params.min_gap * FRAME_RATE)
    shortest = round(params.min_speech * FRAME_RATE)
    pad = round(params.padding * FRAME_RATE)
    _fill_pauses(mask, gap)
    for s, e, v in list(runs(mask)):
        if v and e - s < shortest:
            mask[s:e] = False
    if pad:
        _pad(mask, pad, p_speech >= params.padding_floor * scale)
        _fill_pauses(mask, gap)
    return mask


def moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred running mean along axis 0 (odd width), edges repeating the end values."""
    half = width // 2
    padded = np.concatenate((np.repeat(x[:1], half, 0), x, np.repeat(x[-1:], half, 0)))
    c = np.cumsum(padded, axis=0, dtype=np.float64)
    c = np.concatenate((np.zeros((1, x.shape[1])), c))
    return ((c[width:] - c[:-width]) / width).astype(np.float32)


def background_labels(probs: np.ndarray) -> np.ndarray:
    """Per-frame argmax of music / noise / silence on window-averaged probabilities (1..3)."""
    return (1 + np.argmax(moving_average(probs[:, 1:].astype(np.float32), LABEL_WINDOW_FRAMES), axis=1)
            ).astype(np.uint8)


def frame_labels(probs: np.ndarray, params: SmoothingParams) -> np.ndarray:
    """Final class index of every frame: speech where the speech mask says so, else the background."""
    labels = background_labels(probs)
    labels[speech_mask(probs[:, 0], params)] = 0
    return labels


class Smoother:
    """Streaming smoothing: push probability chunks, then `finish` gives the Segmentation.

    Every rule looks at most `margin` frames away (gap filling, then minimum speech, padding and
    gap filling again; the background window), so each chunk of `chunk_frames` frames is labelled
    inside a window with `margin` real frames either side and comes out exactly as over the whole file,
    while memory stays flat whatever the duration.
    """

    def __init__(self, params: SmoothingParams = SmoothingParams(), chunk_frames: int = 60_000):
        self.params = params.validate()
        self.chunk_frames = chunk_frames  # ten minutes by default
        self.margin = (round((2 * params.min_gap + params.min_speech + params.padding) * FRAME_RATE)
                       + LABEL_WINDOW_FRAMES // 2 + 2)
        self._chunks: ChunkedStream | None = None  # made at the first push, for its dtype
        self._scale = 1.0
        self._segments: list[Segment] = []
        self._open: list | None = None  # [start frame, label, probability sums, frames] of the last run

    def push(self, probs: np.ndarray) -> None:
        if self._chunks is None:
            self._chunks = ChunkedStream(self.chunk_frames, self.margin, probs.shape[1:], probs.dtype)
            self._scale = 255.0 if probs.dtype == np.uint8 else 1.0
        for w in self._chunks.push(probs):
            self._label(w)

    def _label(self, w: Window) -> None:
        labels, probs = frame_labels(w.data, self.params)[w.core], w.data[w.core]
        for s, e, v in runs(labels):
            sums = probs[s:e].sum(axis=0, dtype=np.float64)
            if self._open is not None and self._open[1] == v:
                self._open[2] += sums
                self._open[3] += e - s
            else:
                self._close()
                self._open = [w.start + s, v, sums, e - s]

    def _close(self, end: float | None = None) -> None:
        if self._open is None:
            return
        start, v, sums, n = self._open
        mean = sums / n / self._scale
        self._segments.append(Segment(start / FRAME_RATE, (start + n) / FRAME_RATE if end is None else end,
                                      LABELS[v], {lab: round(float(x), 4) for lab, x in zip(LABELS, mean)}))
        self._open = None

    def finish(self, duration: float) -> Segmentation:
        """All segments; the last ends exactly at `duration` (frame i starts before it for every
        i < ceil(duration * 100))."""
        for w in self._chunks.finish() if self._chunks is not None else ():
            self._label(w)
        if duration <= 0 or self._open is None:
            return Segmentation(max(duration, 0.0), [])
        self._close(end=duration)
        return Segmentation(duration, self._segments)


def smooth(probs: np.ndarray, duration: float, params: SmoothingParams = SmoothingParams()) -> Segmentation:
    """Turn (frames x 4) probabilities (uint8 or float) into a Segmentation of `duration` s."""
    smoother = Smoother(params)
    smoother.push(probs)
    return smoother.finish(duration)
