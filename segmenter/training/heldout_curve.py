"""Held-out quality during training: where it levels off tells how many steps a recipe needs.

Every CURVE_STEPS steps and at the end of each stage, a trainer's held-out metrics of the weights
so far become a row of `heldout_curve.tsv` in the run's folder (appended, so a resumed run keeps
its rows) and, at the end, config.json's `heldout_curve`. Training draws nothing from it, so the
model is the same with or without it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from .recipe import Stage

CURVE_FILE = "heldout_curve.tsv"
CURVE_STEPS = 1000  # a row every this many steps: a separator's row costs about 25 s (some 5 % of its training)


class HeldoutCurve:
    """`after_epoch` for `train_stages`: `score(model, stage)` gives the metrics, of which `columns`
    are kept (the stage's index, since a stage may grow the network)."""

    def __init__(self, path: Path, stages: Sequence[Stage], columns: Sequence[str],
                 score: Callable[[object, int], dict]) -> None:
        self.path, self.columns, self.score = path, ("step", *columns), score
        self.before = [sum(s.steps for s in stages[:i]) for i in range(len(stages) + 1)]
        self.per_epoch = [s.checkpoint_steps for s in stages]

    def due(self, stage: int, epoch: int) -> int | None:
        """The step reached after `epoch` of `stage` if a row is due there, else None."""
        step = self.before[stage] + (epoch + 1) * self.per_epoch[stage]
        return step if step % CURVE_STEPS == 0 or step == self.before[stage + 1] else None

    def __call__(self, model, stage: int, epoch: int) -> None:
        step = self.due(stage, epoch)
        if step is None:
            return
        metrics = self.score(model, stage)
        values = [float(metrics[c]) for c in self.columns[1:]]
        write_curve(self.path, self.columns[1:], [dict(zip(self.columns, (step, *values)))])
        print(f"held-out after step {step}: " + ", ".join(f"{c} {v:.3f}" for c, v in zip(self.columns[1:], values)),
              flush=True)

    def rows(self) -> list[dict]:
        """The curve so far, as config.json records it."""
        if not self.path.exists():
            return []
        lines = self.path.read_text().splitlines()[1:]
        return [dict(zip(self.columns, (int(v[0]), *map(float, v[1:])))) for v in (line.split("\t") for line in lines)]


def write_curve(path: Path, columns: Sequence[str], rows: Sequence[dict]) -> None:
    """Append `rows` (config.json's form: "step" and `columns`) to the curve file, with its header if new."""
    if not path.exists():
        path.write_text("\t".join(("step", *columns)) + "\n")
    with path.open("a") as f:
        for row in rows:
            f.write("\t".join([str(row["step"]), *(f"{float(row[c]):.3f}" for c in columns)]) + "\n")
