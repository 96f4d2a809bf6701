"""Scoring against dev-corpus references: speech detection (with collar), 4-class accuracy, SI-SDR.

NumPy only, so that benchmark scripts can score any system's output with the same code.
Frames are 10 ms, judged at their centre; no speech frame is scored within `collar`
seconds of a reference speech boundary. Counts pool over files.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .frames import FRAME_RATE
from .segments import LABELS

DEFAULT_COLLAR = 0.25  # seconds not scored either side of a reference speech boundary


def intervals_to_frames(intervals: Iterable[Sequence[float]], n_frames: int) -> np.ndarray:
    """Boolean per frame: is the frame centre inside one of the [start, end) intervals."""
    out = np.zeros(n_frames, dtype=bool)
    centres = (np.arange(n_frames) + 0.5) / FRAME_RATE
    for s, e in intervals:
        out[_centred_in(centres, s, e)] = True
    return out


def labels_to_frames(segments: Iterable[Sequence], n_frames: int) -> np.ndarray:
    """Class index per frame (-1 where no segment covers the frame centre)."""
    out = np.full(n_frames, -1, dtype=np.int8)
    centres = (np.arange(n_frames) + 0.5) / FRAME_RATE
    for s, e, label in segments:
        out[_centred_in(centres, s, e)] = LABELS.index(label)
    return out


def _centred_in(centres: np.ndarray, start: float, end: float) -> slice:
    """The frames whose (ascending) centres lie in [start, end), found by bisection, so that a long
    output's thousands of segments are not each compared with every frame."""
    return slice(*np.searchsorted(centres, (start, end), side="left"))


def collar_mask(ref: np.ndarray, collar: float) -> np.ndarray:
    """True for frames that are scored: farther than `collar` s from any reference boundary."""
    n = len(ref)
    scored = np.ones(n, dtype=bool)
    change = np.flatnonzero(ref[1:] != ref[:-1]) + 1  # boundary at time change / FRAME_RATE
    centres = (np.arange(n) + 0.5) / FRAME_RATE
    for b in change / FRAME_RATE:
        lo, hi = np.searchsorted(centres, [b - collar, b + collar], side="right")
        scored[lo:hi] = False
    return scored


@dataclass
class DetectionCounts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    correct4: int = 0
    total4: int = 0

    def add(self, ref: np.ndarray, hyp: np.ndarray, collar: float) -> None:
        m = collar_mask(ref, collar)
        r, h = ref[m], hyp[m]
        self.tp += int(np.sum(r & h))
        self.fp += int(np.sum(~r & h))
        self.fn += int(np.sum(r & ~h))

    def add_classes(self, ref: np.ndarray, hyp: np.ndarray) -> None:
        valid = ref >= 0
        self.correct4 += int(np.sum(ref[valid] == hyp[valid]))
        self.total4 += int(np.sum(valid))

    def summary(self) -> dict[str, float]:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        out = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
               "detection_error_rate": (self.fp + self.fn) / (self.tp + self.fn) if self.tp + self.fn else 0.0}
        if self.total4:
            out["frame_accuracy_4class"] = self.correct4 / self.total4
        return out


def reference_files(ref_dir: Path) -> list[Path]:
    return sorted(Path(ref_dir).glob("*.json"))


def load_reference(ref_json: Path) -> tuple[dict, np.ndarray]:
    """The reference dict and its per-frame speech presence (the .npy beside it, else from `speech`)."""
    ref = json.loads(Path(ref_json).read_text())
    npy = Path(ref_json).with_suffix(".npy")
    if npy.exists():
        frames = np.load(npy).astype(bool)
    else:
        frames = intervals_to_frames(ref["speech"], int(round(ref["duration"] * FRAME_RATE)))
    return ref, frames


def score_directory(ref_dir: Path, hypotheses: dict[str, dict], collar: float = DEFAULT_COLLAR) -> dict[str, float]:
    """Score hypotheses keyed by reference stem: {'speech': [[s, e]], 'segments': [[s, e, label]]?}."""
    counts = DetectionCounts()
    for ref_json in reference_files(ref_dir):
        ref, ref_frames = load_reference(ref_json)
        hyp = hypotheses[ref_json.stem]
        n = len(ref_frames)
        counts.add(ref_frames, intervals_to_frames(hyp["speech"], n), collar)
        if hyp.get("segments") is not None:
            counts.add_classes(labels_to_frames(ref["segments"], n), labels_to_frames(hyp["segments"], n))
    out = counts.summary()
    out["files"] = len(reference_files(ref_dir))
    return out


def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant SDR in dB, means removed."""
    est = estimate.astype(np.float64) - np.mean(estimate)
    ref = reference.astype(np.float64) - np.mean(reference)
    n = min(len(est), len(ref))
    est, ref = est[:n], ref[:n]
    target = (np.dot(est, ref) / (np.dot(ref, ref) + 1e-12)) * ref
    noise = est - target
    return float(10 * np.log10((np.dot(target, target) + 1e-12) / (np.dot(noise, noise) + 1e-12)))
