"""A gain against steady background noise, estimated from the mixture alone (minimum statistics).

Rain, running water, wind, hum and engines stay level for seconds. The allowed training packages
hold few such recordings, so the learned mask lets part of them through. Their level in each STFT
bin is the floor that the bin's power keeps coming back to: the minimum, over a sliding window,
of the power smoothed over a few frames. Power near that floor is background, power well above it
is something else, so the gain `1 - OVERSUBTRACTION * floor / power` (clipped to [0, 1]) removes
the first and keeps the second. It multiplies the learned mask. Its three constants were chosen
on mixtures of held-out training clips, not on the dev set (benchmarks/RESULTS.md).
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import minimum_filter1d, uniform_filter1d

FLOOR_SECONDS = 1.5  # window of the minimum: longer than most words, so speech lets the floor through
SMOOTH_FRAMES = 5  # power smoothed over this many frames first, so single frames' dips don't set the floor
OVERSUBTRACTION = 3.0  # the minimum of a fluctuating level lies below its mean


def stationary_noise_gain(power: np.ndarray, frames_per_second: float) -> np.ndarray:
    """(bins, frames) power -> (bins, frames) gain in [0, 1]. A frame's gain depends on the
    frames within `FLOOR_SECONDS / 2` and two more either side, so chunks with wider margins give
    the same gains as the whole signal."""
    smooth = uniform_filter1d(power, SMOOTH_FRAMES, axis=1, mode="nearest")
    window = max(1, round(FLOOR_SECONDS * frames_per_second))
    floor = minimum_filter1d(smooth, window, axis=1, mode="nearest")
    return np.clip(1.0 - OVERSUBTRACTION * floor / (power + 1e-12), 0.0, 1.0)
