"""The separator's compact frequency axis: every STFT bin below about 2 kHz, ERB-spaced bands above.

Below 2 kHz a voice's harmonics are 3-10 bins apart and the mask must follow each of them; above,
the ear (and a recogniser's filterbank) resolves ever wider bands, so a few dozen bands carry what
matters. Band values are spread back to the bins by linear interpolation between band centres
(`expansion`), and bin powers are pooled into bands with the same weights (`pooling`).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np


def erb_rate(hz: np.ndarray | float) -> np.ndarray:
    """Glasberg & Moore's ERB-rate scale (ERB numbers)."""
    return 21.4 * np.log10(1.0 + 0.00437 * np.asarray(hz, np.float64))


def erb_rate_to_hz(e: np.ndarray) -> np.ndarray:
    return (10.0 ** (np.asarray(e, np.float64) / 21.4) - 1.0) / 0.00437


def centres(n_fft: int, sample_rate: int, full_bins: int, erb_bands: int) -> np.ndarray:
    """Band centres in bins: bins 0 .. full_bins - 1 themselves, then `erb_bands` centres evenly
    spaced in ERB rate from bin `full_bins - 1` (exclusive) up to the Nyquist bin (inclusive)."""
    nyquist = n_fft // 2
    hz_per_bin = sample_rate / n_fft
    e = np.linspace(erb_rate((full_bins - 1) * hz_per_bin), erb_rate(sample_rate / 2), erb_bands + 1)[1:]
    high = erb_rate_to_hz(e) / hz_per_bin
    high[-1] = nyquist
    return np.concatenate((np.arange(full_bins, dtype=np.float64), high))


@lru_cache(maxsize=8)
def expansion(n_fft: int, sample_rate: int, full_bins: int, erb_bands: int) -> np.ndarray:
    """(bands, bins): each bin's value is the linear interpolation of its two neighbouring band
    centres' values, so each column sums to 1 and the full-resolution bins map to themselves."""
    c = centres(n_fft, sample_rate, full_bins, erb_bands)
    bins = np.arange(n_fft // 2 + 1, dtype=np.float64)
    e = np.zeros((len(c), len(bins)))
    upper = np.clip(np.searchsorted(c, bins, side="right"), 1, len(c) - 1)
    lower = upper - 1
    frac = np.clip((bins - c[lower]) / (c[upper] - c[lower]), 0.0, 1.0)
    e[lower, np.arange(len(bins))] += 1.0 - frac
    e[upper, np.arange(len(bins))] += frac
    e.setflags(write=False)
    return e.astype(np.float32)


@lru_cache(maxsize=8)
def pooling(n_fft: int, sample_rate: int, full_bins: int, erb_bands: int) -> np.ndarray:
    """(bins, bands): the weighted mean of the bins around each band centre (the expansion's
    weights, normalised per band)."""
    e = expansion(n_fft, sample_rate, full_bins, erb_bands).astype(np.float64)
    p = (e / e.sum(axis=1, keepdims=True)).T
    return p.astype(np.float32)
