"""The track to hand to speech recognition (speechOnly): separated speech limited so that what the
separator gets wrong costs a recogniser little.

A recogniser suffers more from what a separator damages (speech bins it closes, musical noise, a
spectrum full of holes) than from background it leaves at a lower level (Iwamoto et al., "How bad
are artifacts?", Interspeech 2022). Two limits, applied to the mask per STFT bin:
- an attenuation limit: the mask's gain never falls below -`attenuation_limit` dB (DeepFilterNet's
  atten_lim_db); a complex mask keeps its phase;
- a share of the mixture mixed back (that paper's "observation adding"): gain -> (1 - s) gain + s,
  the same as (1 - s) x separated + s x mixture, since the inverse STFT is linear and exact.
Then the stretches the segmenter calls non-speech are silenced (separation._gate): where no one
speaks, a recogniser hears silence rather than the background's remains, on which it invents words.

The defaults, no attenuation limit and no mix-back, had the lowest noisy WER of the settings tried
(benchmarks/asr_quality.py --grid: 100 / 18 / 12 / 6 dB, mix-back 0 / 0.25 / 0.5), on dev and on
held-out material, with the same clean-speech WER and about as few invented words (figures in
benchmarks/RESULTS.md). The ASR track is then the separated track gated to the speech; the knobs
stay for recognisers that suffer more from a separator's damage than this one does.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .segments import ParameterValueError

RANGES = {"attenuation_limit": (0.0, 100.0), "mix_back": (0.0, 1.0)}
# What each knob does: the one text that the command line and the app's metadata show.
HELP = {
    "attenuation_limit": "The most, in dB (0 to 100), by which the ASR track's mask may lower any time-frequency "
                         "bin of the mixture: where the separator would remove more, the mixture is kept at this "
                         "level, which spares a recogniser the separator's holes in the speech. 100 leaves the "
                         "mask as the model made it.",
    "mix_back": "Share (0 to 1) of the untouched mixture mixed into the ASR track (the rest is the separated "
                "speech); 0 mixes none back.",
}


@dataclass(frozen=True)
class AsrTrack:
    """The ASR track's limits on the separator's mask; the defaults are the ASR-safe ones."""
    attenuation_limit: float = RANGES["attenuation_limit"][1]  # dB: no limit
    mix_back: float = 0.0

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def validate(self) -> "AsrTrack":
        for name in self.names():
            lo, hi = RANGES[name]
            value = getattr(self, name)
            if not lo <= value <= hi:
                raise ParameterValueError(name, f"must be between {lo:g} and {hi:g}, got {value}")
        return self

    def limit(self, mask: np.ndarray) -> np.ndarray:
        """A per-bin mask (real or complex) with its gain floored at -attenuation_limit dB (a complex
        gain keeps its phase; a gain of 0 becomes the floor; 100 dB leaves it as it is), then
        `mix_back` of the mixture added."""
        if self.attenuation_limit < RANGES["attenuation_limit"][1]:
            mask = self._floored(mask, np.float32(10.0 ** (-self.attenuation_limit / 20.0)))
        if self.mix_back:
            mask = (mask * np.float32(1.0 - self.mix_back) + np.float32(self.mix_back)).astype(mask.dtype)
        return mask

    @staticmethod
    def _floored(mask: np.ndarray, floor: np.float32) -> np.ndarray:
        magnitude = np.abs(mask)
        low = magnitude < floor
        if low.any():
            direction = mask / np.where(magnitude > 0, magnitude, 1) if np.iscomplexobj(mask) else 1
            mask = np.where(low, np.where(magnitude > 0, direction, 1) * floor, mask).astype(mask.dtype)
        return mask
