"""The running mean of a stage's weights at its last checkpoints (a recipe stage's `average_last`).

It lives in a file beside the checkpoint, so a resumed run goes on averaging where it stopped. A run
killed after an epoch's weights were added but before its position was saved trains that epoch again;
the epoch's new weights then replace its old ones instead of being counted twice.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


class WeightAverage:
    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, epoch: int, weights: list[np.ndarray]) -> list[np.ndarray]:
        """Add the weights reached at the end of `epoch` and return the mean so far."""
        total, last, count = [w.astype(np.float64) for w in weights], None, 1
        if self.path.exists():
            with np.load(self.path) as z:
                n = len(weights)
                total = [z[f"total{i}"] for i in range(n)]
                last = [z[f"last{i}"] for i in range(n)]
                count = int(z["count"])
                if int(z["epoch"]) >= epoch:  # this epoch was trained again after a kill
                    total = [t - l for t, l in zip(total, last)]
                    count -= 1
            total = [t + w for t, w in zip(total, weights)]
            count += 1
        arrays = {"epoch": epoch, "count": count}
        for i, (t, w) in enumerate(zip(total, weights)):
            arrays[f"total{i}"], arrays[f"last{i}"] = t, w.astype(np.float64)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, self.path)
        return [(t / count).astype(w.dtype) for t, w in zip(total, weights)]

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
