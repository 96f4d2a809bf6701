"""The gain against steady background noise: it closes on a steady level and stays open on what rises above it."""
from __future__ import annotations

import numpy as np

from segmenter.stationary_noise import stationary_noise_gain


def test_closes_on_steady_noise_and_keeps_a_burst_above_it() -> None:
    rate = 125.0  # frames per second, the separator's synthesis grid
    rng = np.random.default_rng(0)
    power = rng.exponential(1.0, (8, 1000))  # the power of steady noise in 8 bins, 8 s
    burst = slice(500, 560)  # 0.5 s, shorter than the floor's window
    power[:, burst] += 100.0
    gain = stationary_noise_gain(power, rate)
    assert gain.shape == power.shape and gain.min() >= 0.0 and gain.max() <= 1.0
    assert np.median(gain[:, :400]) < 0.15 and gain[:, :400].mean() < 0.35
    assert gain[:, burst].min() > 0.9


def test_the_gain_does_not_depend_on_the_input_level() -> None:
    rng = np.random.default_rng(1)
    power = rng.exponential(1.0, (4, 1000))
    for scale in (1e-3, 1.0, 1e4):
        np.testing.assert_allclose(stationary_noise_gain(scale * power, 125.0), stationary_noise_gain(power, 125.0),
                                   atol=1e-5)
