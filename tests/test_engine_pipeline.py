"""The segmentation pipeline with the shipped model, on the bundled example."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from segmenter.media import read_audio
from segmenter.pipeline import Segmenter
from segmenter.segments import LABELS, Segmentation


def label_at(seg: Segmentation, t: float) -> str:
    return next(s.label for s in seg.segments if s.start <= t < s.end)


def test_digital_silence_is_silence_streamed_and_in_memory(example_wav: Path) -> None:
    """The example holds exact zeros at 5.5-6.4 s, between clean speech and music; the network
    alone calls them noise. The frames next to them keep the network's answer."""
    segmenter = Segmenter.load()
    probs, _ = segmenter.frame_probs(example_wav)
    silence = np.zeros(len(LABELS), np.uint8)
    silence[LABELS.index("silence")] = 255
    assert (probs[560:620] == silence).all()
    assert probs[470:490, LABELS.index("speech")].min() > 200  # speech just before: untouched
    for seg in (segmenter.segment(example_wav), segmenter.segment_audio(read_audio(example_wav))):
        assert label_at(seg, 5.9) == "silence" and label_at(seg, 4.0) == "speech"
