"""Media -> features -> frame scores -> segments, streamed, with the model loaded once."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .features import FeatureStream, log_mel
from .media import SAMPLE_RATE, stream_audio
from .network import NumpyNet
from .segments import Segmentation, SmoothingParams, Smoother, smooth

PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained"
DEFAULT_SEGMENTER = "segmenter-v1"
MODEL_ENV = "SEGMENTER_MODEL"


def resolve_model_dir(model_dir: str | os.PathLike | None, env: str, default: str) -> Path:
    """An explicit directory, else `$env`, else `pretrained/<default>`."""
    chosen = Path(model_dir or os.environ.get(env) or PRETRAINED / default)
    if not (chosen / "weights.npz").is_file():
        raise FileNotFoundError(f"no model at {chosen} (expected weights.npz there)")
    return chosen


class Segmenter:
    """A loaded frame classifier; `segment` is safe to call from several threads."""

    def __init__(self, net: NumpyNet, model_dir: Path):
        self.net = net
        self.model_dir = model_dir

    @classmethod
    def load(cls, model_dir: str | os.PathLike | None = None) -> "Segmenter":
        d = resolve_model_dir(model_dir, MODEL_ENV, DEFAULT_SEGMENTER)
        segmenter = cls(NumpyNet.load(d / "weights.npz"), d)
        segmenter.warm_up()
        return segmenter

    def warm_up(self) -> None:
        """Run features and network once on a second of zeros.

        librosa loads its submodules lazily on first use (about a second). Doing it at load
        time means a server pays it once, before gunicorn forks, not in every recycled worker.
        """
        feats = FeatureStream()
        for _ in self.net.stream(iter([feats.push(np.zeros(SAMPLE_RATE, np.float32)), feats.finish()])):
            pass

    def _features(self, path: str | os.PathLike, counter: list[int],
                  progress: Callable[[float], None] | None) -> Iterator[np.ndarray]:
        feats = FeatureStream()
        for block in stream_audio(path):
            yield feats.push(block)
            if progress:
                progress(len(block) / SAMPLE_RATE)
        yield feats.finish()
        counter.append(feats.samples)

    def _probs(self, path: str | os.PathLike, samples: list[int],
               progress: Callable[[float], None] | None) -> Iterator[np.ndarray]:
        """Class probabilities as uint8 (1/255 steps), chunk by chunk."""
        for p in self.net.stream(self._features(path, samples, progress)):
            yield np.round(p * 255).astype(np.uint8)

    def frame_probs(self, path: str | os.PathLike,
                    progress: Callable[[float], None] | None = None) -> tuple[np.ndarray, float]:
        """All (frames x 4) probabilities at once, and the duration: for tuning and short files."""
        samples: list[int] = []
        chunks = list(self._probs(path, samples, progress))
        probs = np.concatenate(chunks) if chunks else np.zeros((0, 4), np.uint8)
        return probs, samples[0] / SAMPLE_RATE

    def segment_audio(self, audio: np.ndarray, params: SmoothingParams = SmoothingParams()) -> Segmentation:
        """Segment a short signal already in memory (16 kHz mono), e.g. an excerpt to plot."""
        return smooth(self.net.forward(log_mel(audio)), len(audio) / SAMPLE_RATE, params)

    def segment(self, path: str | os.PathLike, params: SmoothingParams = SmoothingParams(),
                progress: Callable[[float], None] | None = None) -> Segmentation:
        """Streamed end to end: memory does not grow with the duration (beyond the segments)."""
        smoother = Smoother(params)
        samples: list[int] = []
        for chunk in self._probs(path, samples, progress):
            smoother.push(chunk)
        return smoother.finish(samples[0] / SAMPLE_RATE)
