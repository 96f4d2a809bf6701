"""The chunk-with-margins helper: cores tile the stream, margins are real items, results equal one pass."""
from __future__ import annotations

from typing import Iterator

import numpy as np
import pytest

from segmenter.streaming import ChunkedStream, Scratch, Window

SPLITS = [[1000], [123, 577, 300], [0, 1, 99, 0, 800, 100], [7] * 142 + [6]]


def _blocks(x: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    return np.split(x, np.cumsum(sizes)[:-1])


def windows(blocks: list[np.ndarray], core: int, margin: int) -> Iterator[Window]:
    """Every window of a whole stream of blocks, each to be used before the next is drawn."""
    stream = ChunkedStream(core, margin)
    for block in blocks:
        yield from stream.push(block)
    yield from stream.finish()


@pytest.mark.parametrize("sizes", SPLITS)
def test_cores_tile_the_stream_with_real_margins(sizes: list[int]) -> None:
    x = np.arange(1000, dtype=np.float32)
    got = list((w.data.copy(), w.core, w.start) for w in windows(_blocks(x, sizes), core=100, margin=30))
    assert np.array_equal(np.concatenate([d[core] for d, core, _ in got]), x)
    for data, core, start in got:
        lo, hi = max(0, start - 30), min(1000, start + (core.stop - core.start) + 30)
        assert np.array_equal(data, x[lo:hi])  # as much margin as the stream holds, up to 30
    assert [start for *_, start in got] == list(range(0, 1000, 100))[:len(got)]


@pytest.mark.parametrize("sizes", SPLITS)
def test_windowed_computation_streams_exactly(sizes: list[int]) -> None:
    """A centred moving sum (reach 5 either side, truncated at the ends) of (items, 3) rows, in
    chunks of 64 with margins of 5, equals the one pass."""
    x = np.random.default_rng(0).integers(0, 100, (1000, 3))

    def moving_sum(a: np.ndarray) -> np.ndarray:
        c = np.concatenate((np.zeros((1, 3), a.dtype), np.cumsum(a, axis=0)))
        i = np.arange(len(a))
        return c[np.minimum(i + 6, len(a))] - c[np.maximum(i - 5, 0)]

    stream, out = ChunkedStream(64, 5, (3,), x.dtype), []
    for block in _blocks(x, sizes):
        out += [moving_sum(w.data)[w.core] for w in stream.push(block)]
    out += [moving_sum(w.data)[w.core] for w in stream.finish()]
    assert stream.total == 1000
    assert np.array_equal(np.concatenate(out), moving_sum(x))


def test_an_empty_stream_has_no_window() -> None:
    assert list(windows([], core=10, margin=2)) == []


def test_scratch_reuses_memory_that_fits() -> None:
    s = Scratch()
    a = s.get("x", (10, 4))
    assert np.shares_memory(s.get("x", (3, 4)), a) and s.get("x", (3, 4)).shape == (3, 4)
    assert not np.shares_memory(s.get("y", (3, 4)), a)
