"""The scorer's frame conversion: a frame belongs to a segment when its centre lies in [start, end)."""
from __future__ import annotations

import numpy as np

from segmenter.frames import FRAME_RATE
from segmenter.scoring import intervals_to_frames, labels_to_frames
from segmenter.segments import LABELS


def by_definition(segments: list[tuple[float, float, str]], n: int) -> np.ndarray:
    out = np.full(n, -1, np.int8)
    centres = (np.arange(n) + 0.5) / FRAME_RATE
    for start, end, label in segments:
        out[(centres >= start) & (centres < end)] = LABELS.index(label)
    return out


def test_frames_follow_their_centres() -> None:
    rng = np.random.default_rng(0)
    n = 500
    # Edges on frame centres, just after them and on frame boundaries; empty and reversed spans; spans
    # past either end.
    edges = np.concatenate(((np.arange(n + 1) + 0.5) / FRAME_RATE, np.arange(n + 1) / FRAME_RATE,
                            (np.arange(n + 1) + 0.5) / FRAME_RATE + 1e-9, [-1.0, 99.0]))
    for _ in range(200):
        segments = [(float(a), float(b), LABELS[rng.integers(len(LABELS))])
                    for a, b in rng.choice(edges, size=(int(rng.integers(0, 8)), 2))]
        expected = by_definition(segments, n)
        assert np.array_equal(labels_to_frames(segments, n), expected)
        speech = [(a, b, "speech") for a, b, _ in segments]
        assert np.array_equal(intervals_to_frames([(a, b) for a, b, _ in speech], n), by_definition(speech, n) == 0)
