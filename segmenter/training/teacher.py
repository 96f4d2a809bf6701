"""Knowledge distillation: a shipped segmenter's frame probabilities as part of a student's targets.

A recipe's `[teacher]` table names a model folder in the repository and the sha256 of its
`weights.npz`, so the recipe pins exactly which network taught, and a share. Each training frame's
target is then (1 - share) x its one-hot label + share x the teacher's probabilities. With a share of
at most 0.5 the target's largest class is always the label, so a teacher's mistake never outvotes
it; what the teacher adds is how unsure it is of each frame (boundaries, speech under music),
which a hard label does not say.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..features import config as features_config
from ..network import NumpyNet
from .common import held_out_split
from .fetch import sha256_of
from .recipe import REPO, Recipe, RecipeError

KEYS = {"model", "weights_sha256", "share"}


@dataclass(frozen=True)
class Teacher:
    model: str  # the model folder, relative to the repository
    weights_sha256: str
    share: float
    net: NumpyNet

    @classmethod
    def from_recipe(cls, recipe: Recipe, labels: Sequence[str]) -> "Teacher | None":
        """The recipe's `[teacher]`, checked against the model it names; None when there is none.

        The teacher must have held out the clips that the recipe holds out (`common.held_out_split`;
        each source's held-out groups are fixed), so that no held-out clip reaches the student
        through the teacher's outputs. Its draw weights and held-out programmes may differ."""
        table = recipe.teacher
        if not table:
            return None
        if set(table) != KEYS:
            raise RecipeError(f"[teacher] needs exactly {sorted(KEYS)}, not {sorted(table)}")
        share = table["share"]
        if not isinstance(share, (int, float)) or not 0 < share <= 0.5:
            raise RecipeError(f"[teacher] share must be above 0 and at most 0.5 (the label stays the largest "
                              f"class of every target): {share!r}")
        folder = REPO / table["model"]
        weights = folder / "weights.npz"
        if not weights.is_file():
            raise RecipeError(f"[teacher] model {table['model']} has no weights.npz")
        if (got := sha256_of(weights)) != table["weights_sha256"]:
            raise RecipeError(f"[teacher] {weights} has sha256 {got}, not the recipe's {table['weights_sha256']}")
        config = json.loads((folder / "config.json").read_text())
        if config.get("labels") != list(labels) or config.get("features") != features_config():
            raise RecipeError(f"[teacher] {table['model']} has other labels or features than this trainer's")
        if held_out_split(config.get("heldout", {})) != held_out_split(recipe.heldout):
            raise RecipeError(f"[teacher] {table['model']} held out other clips than {recipe.path} ([heldout] "
                              f"unsplit_sources or sources differ): its outputs could carry held-out clips")
        return cls(table["model"], table["weights_sha256"], float(share), NumpyNet.load(weights))

    def targets(self, features: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """(examples, frames, classes) targets for (examples, frames, mels) features and their labels."""
        classes = self.net.spec.layers[-1].filters
        soft = np.stack([self.net.forward(f) for f in features])
        hard = np.eye(classes, dtype=np.float32)[labels]
        return (1.0 - self.share) * hard + self.share * soft  # float32: NumPy keeps the arrays' type

    def record(self) -> dict[str, Any]:
        """What config.json keeps of the teacher."""
        return {"model": self.model, "weights_sha256": self.weights_sha256, "share": self.share}
