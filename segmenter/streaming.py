"""Chunk-with-margins streaming: run a windowed computation over an unbounded stream in chunks
whose results equal one pass over the whole stream.

When every output item depends on at most `margin` input items either side, the stream can be cut
into cores of `core` items, each computed inside a window that adds `margin` real items on either
side (fewer only at the stream's ends, where a one pass sees no more either), keeping only the
core's outputs. Memory stays flat whatever the duration. Features, network inference, smoothing and
separation all run this way.

The items live in one buffer per stream, reused from chunk to chunk: under the CLI's fixed mmap
threshold (`segmenter.__main__.fix_mmap_threshold`) every fresh array above it is mapped and
faulted in page by page, which costs more than some of the arithmetic. A window is therefore a view
into that buffer, valid until the stream's next `push` or `finish`.
"""
from __future__ import annotations

import math
from typing import Iterator, NamedTuple

import numpy as np
import numpy.typing as npt


class Window(NamedTuple):
    data: np.ndarray  # the core with up to `margin` items either side
    core: slice  # where the core lies in `data`
    start: int  # index in the stream of the core's first item


class ChunkedStream:
    """Push arrays of items (along axis 0); get a `Window` for each core of `core` items once its
    right margin has arrived. `finish` gives all the rest as one last core."""

    def __init__(self, core: int, margin: int, item_shape: tuple[int, ...] = (),
                 dtype: npt.DTypeLike = np.float32):
        if core < 1 or margin < 0:
            raise ValueError(f"need core >= 1 and margin >= 0, got {core} and {margin}")
        self.core, self.margin = core, margin
        self._item_shape = tuple(item_shape)
        self._item_size = int(np.prod(self._item_shape, dtype=np.int64))
        self._flat = np.empty((core + 2 * margin) * self._item_size, dtype)
        self._lo = self._hi = 0  # the kept items are items _lo to _hi of the buffer
        self._start = 0  # index in the stream of the first kept item
        self._done = 0  # index in the stream of the next core's first item

    @property
    def total(self) -> int:
        """Items pushed so far."""
        return self._start + self._hi - self._lo

    def push(self, items: np.ndarray) -> Iterator[Window]:
        """Add `items` (copied); then yield the windows whose cores are now complete. Iterate the
        result before the next push: each window is a view that a later one may overwrite."""
        self._append(items)
        return self._windows(final=False)

    def finish(self) -> Iterator[Window]:
        """The window of all the items not yet in a core (none if there are none)."""
        return self._windows(final=True)

    def _items(self, lo: int, hi: int) -> np.ndarray:
        return self._flat[lo * self._item_size:hi * self._item_size].reshape(hi - lo, *self._item_shape)

    def _append(self, items: np.ndarray) -> None:
        n, kept, size = len(items), self._hi - self._lo, self._item_size
        if (self._hi + n) * size > len(self._flat):
            kept_items = self._flat[self._lo * size:self._hi * size]
            if (kept + n) * size > len(self._flat):  # grow to what this push needs
                grown = np.empty((kept + n + self.core + 2 * self.margin) * size, self._flat.dtype)
                grown[:kept * size] = kept_items
                self._flat = grown
            else:  # move the kept items to the front: numpy copies 1-D overlapping ranges in place
                self._flat[:kept * size] = kept_items
            self._lo, self._hi = 0, kept
        self._items(self._hi, self._hi + n)[...] = items
        self._hi += n

    def _windows(self, final: bool) -> Iterator[Window]:
        while self.total - self._done >= (1 if final else self.core + self.margin):
            end = self.total
            n = end - self._done if final else self.core
            lo, hi = max(self._start, self._done - self.margin), min(end, self._done + n + self.margin)
            shift = self._lo - self._start
            yield Window(self._items(lo + shift, hi + shift), slice(self._done - lo, self._done - lo + n), self._done)
            self._done += n
            drop = max(0, self._done - self.margin - self._start)
            self._lo, self._start = self._lo + drop, self._start + drop


class Scratch:
    """Named arrays reused from chunk to chunk by one stream (never shared between threads): the
    working arrays of a chunk's arithmetic, allocated once at the largest size asked for."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: npt.DTypeLike = np.float32) -> np.ndarray:
        """An uninitialised array of `shape`, the same memory as the last one of this name when it fits."""
        size = math.prod(shape)
        a = self._arrays.get(name)
        if a is None or a.size < size or a.dtype != dtype:
            a = self._arrays[name] = np.empty(size, dtype)
        return a[:size].reshape(shape)
