"""Media -> features -> frame scores -> segments, streamed, with the model loaded once."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .features import FeatureStream, digital_silence, log_mel
from .media import SAMPLE_RATE, stream_audio
# PRETRAINED is imported here only for the tests, which name it as pipeline's (they stay unchanged).
from .models import DEFAULT_SEGMENTER, PRETRAINED, SEGMENTER_ENV, resolve_model_dir  # noqa: F401
from .network import NetStream, NumpyNet
from .segments import LABELS, Segmentation, SmoothingParams, Smoother, smooth


class Segmenter:
    """A loaded frame classifier; `segment` is safe to call from several threads."""

    def __init__(self, net: NumpyNet, model_dir: Path):
        self.net = net
        self.model_dir = model_dir

    @classmethod
    def load(cls, model_dir: str | os.PathLike | None = None) -> "Segmenter":
        d = resolve_model_dir(model_dir, SEGMENTER_ENV, DEFAULT_SEGMENTER)
        segmenter = cls(NumpyNet.load(d / "weights.npz"), d)
        segmenter.warm_up()
        return segmenter

    def warm_up(self) -> None:
        """Run features and network once on a second of zeros, at load time.

        A model that does not fit the features then fails when it is loaded, not in the first
        request. The first run also loads the stored filterbank and sets up the FFT and BLAS
        (about 1.5 ms of CPU, single-threaded), which a server thus pays before gunicorn forks.
        """
        scorer = self.scorer()
        scorer.push(np.zeros(SAMPLE_RATE, np.float32))
        scorer.finish()

    def scorer(self) -> "FrameScorer":
        return FrameScorer(self.net)

    def frame_probs(self, path: str | os.PathLike,
                    progress: Callable[[float], None] | None = None) -> tuple[np.ndarray, float]:
        """All (frames x 4) probabilities at once, and the duration: for tuning and short files."""
        scorer = self.scorer()
        blocks = _reported(stream_audio(path, reuse_buffer=True), progress)
        chunks = [p for block in blocks for p in scorer.push(block)]
        chunks += scorer.finish()
        probs = np.concatenate(chunks) if chunks else np.zeros((0, 4), np.uint8)
        return probs, scorer.seconds

    def segment_audio(self, audio: np.ndarray, params: SmoothingParams = SmoothingParams()) -> Segmentation:
        """Segment a short signal already in memory (16 kHz mono), e.g. an excerpt to plot."""
        feats = log_mel(audio)
        return smooth(_silence_where(self.net.forward(feats), digital_silence(feats)), len(audio) / SAMPLE_RATE,
                      params)

    def segment_stream(self, params: SmoothingParams = SmoothingParams()) -> "SegmentationStream":
        return SegmentationStream(self.scorer(), params)

    def segment(self, path: str | os.PathLike, params: SmoothingParams = SmoothingParams(),
                progress: Callable[[float], None] | None = None) -> Segmentation:
        """Streamed end to end: memory does not grow with the duration (beyond the segments)."""
        stream = self.segment_stream(params)
        for block in _reported(stream_audio(path, reuse_buffer=True), progress):
            stream.push(block)
        return stream.finish()


def _reported(blocks: Iterator[np.ndarray], progress: Callable[[float], None] | None) -> Iterator[np.ndarray]:
    """The blocks, each reported to `progress` (in seconds of audio) once it has been used."""
    for block in blocks:
        yield block
        if progress:
            progress(len(block) / SAMPLE_RATE)


class FrameScorer:
    """Audio blocks in, class probabilities out as uint8 (1/255 steps), chunk by chunk."""

    def __init__(self, net: NumpyNet):
        self._features = FeatureStream()
        self._net = NetStream(net)
        self._silent = np.zeros(0, bool)  # digital_silence of the frames fed to the network, not yet out

    def push(self, block: np.ndarray) -> list[np.ndarray]:
        return self._scored(self._fed(self._features.push_chunks(block)))

    def finish(self) -> list[np.ndarray]:
        return self._scored(self._fed(self._features.finish_chunks()) + self._net.finish())

    def _fed(self, feature_chunks: list[np.ndarray]) -> list[np.ndarray]:
        """The network's outputs complete after `feature_chunks`; their frames' digital silence is kept."""
        out = []
        for f in feature_chunks:
            self._silent = np.concatenate((self._silent, digital_silence(f)))
            out += self._net.push(f)
        return out

    def _scored(self, outputs: list[np.ndarray]) -> list[np.ndarray]:
        scored = []
        for p in outputs:
            silent, self._silent = self._silent[:len(p)], self._silent[len(p):]
            scored.append(_quantised(_silence_where(p, silent)))
        return scored

    @property
    def seconds(self) -> float:
        return self._features.samples / SAMPLE_RATE


def _silence_where(probs: np.ndarray, silent: np.ndarray) -> np.ndarray:
    """`probs` with the frames of digital silence called silence for certain: no recording is more
    silent, and the network, which never heard exact zeros in training, calls them noise."""
    probs[silent] = np.eye(probs.shape[1], dtype=probs.dtype)[LABELS.index("silence")]
    return probs


def _quantised(probs: np.ndarray) -> np.ndarray:
    return np.round(probs * 255).astype(np.uint8)


class SegmentationStream:
    """Audio blocks in, a Segmentation at `finish`: for whoever decodes the medium (`segment`, or a
    separation that segments the same blocks as it reads them)."""

    def __init__(self, scorer: FrameScorer, params: SmoothingParams):
        self._scorer = scorer
        self._smoother = Smoother(params)

    def push(self, block: np.ndarray) -> None:
        for p in self._scorer.push(block):
            self._smoother.push(p)

    def finish(self) -> Segmentation:
        for p in self._scorer.finish():
            self._smoother.push(p)
        return self._smoother.finish(self._scorer.seconds)
