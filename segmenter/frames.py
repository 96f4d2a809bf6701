"""The frame grid that features, model scores, smoothing, scoring and training labels share:
frame i covers [i / FRAME_RATE, (i + 1) / FRAME_RATE) seconds, so one index names the same
10 ms everywhere."""
from .media import SAMPLE_RATE

FRAME_RATE = 100  # frames per second
FRAME_HOP = SAMPLE_RATE // FRAME_RATE  # samples per frame
