"""Frequency masking (SpecAugment, Park et al. 2019) of a segmenter's training features.

Each mask replaces a run of adjacent mel bands by each band's mean over the example: the band keeps
its level, which tells silence from quiet noise, and loses its course in time, so that the network
cannot lean on any one region of the spectrum, as codecs, band limits and unseen voices take some away.
Time masks are left out: a frame classifier's masked frames would keep labels they no longer show.
"""
from __future__ import annotations

import numpy as np


def mask_bands(features: np.ndarray, masks: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A copy of (examples, frames, bands) `features` with `masks` runs of 0 to `width` bands masked in each example."""
    out = features.copy()
    bands = features.shape[2]
    for example in out:
        for w in rng.integers(0, min(width, bands) + 1, size=masks):
            first = int(rng.integers(0, bands - w + 1))
            run = example[:, first:first + w]
            run[:] = run.mean(axis=0)
    return out
