"""Start a recipe's run at a stage boundary from a model that a shorter form of the same recipe made.

A stage takes only the weights from the one before (a new optimizer, seeds of its own), so a run of
recipe R whose data, network, mixing, seeds and first k stages are those of model M's recipe holds,
after stage k, M's network as training left it. Seeding R's checkpoint with it skips those stages:
a recipe that adds a stage to a shipped model's trains in the time of its new stage, on any machine,
and a run from scratch still makes the same model.
"""
from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Callable, Sequence

from .heldout_curve import CURVE_FILE, write_curve
from .recipe import REPO, Recipe, RecipeError, Stage, load

SAME_FIELDS = [f.name for f in fields(Recipe) if f.name not in ("path", "sha256", "name", "title", "stages")]


def base_recipe(recipe: Recipe, config: dict) -> Recipe:
    """The recipe that made the model of `config`, checked to be a shorter form of `recipe`."""
    base = load(REPO / config["recipe"])
    if base.sha256 != config["recipe_sha256"]:
        raise RecipeError(f"{base.path} has changed since the model was made (its sha256 is not the model's)")
    differ = [name for name in SAME_FIELDS if getattr(base, name) != getattr(recipe, name)]
    if differ:
        raise RecipeError(f"{recipe.path} differs from {base.path} in {', '.join(differ)}: only stages may be added")
    k = len(base.stages)
    if len(recipe.stages) <= k or recipe.stages[:k] != base.stages:
        raise RecipeError(f"{recipe.path}'s stages do not begin with the {k} of {base.path} and add more")
    if [Stage(**s) for s in config["stages"]] != list(base.stages):
        raise RecipeError(f"the model's stages are not those of {base.path}")
    return base


def seed_from_model(recipe: Recipe, model_dir: Path, out_dir: Path, curve_columns: Sequence[str],
                    untrained: Callable[[object, dict], None] | None = None) -> int:
    """Write `out_dir`'s checkpoint at the end of the stages that `recipe` shares with the model in
    `model_dir`, and its held-out curve so far; return how many stages that skips. `untrained(model,
    config)` undoes what the trainer did to the network after its last stage (a segmenter's calibration)."""
    import keras
    from .common import CHECKPOINT
    config = json.loads((model_dir / "config.json").read_text())
    k = len(base_recipe(recipe, config).stages)
    ckpt = out_dir / CHECKPOINT
    if ckpt.exists() or (out_dir / CURVE_FILE).exists():
        raise RecipeError(f"{out_dir} already holds a run: resume it without --from-model, or pass a new --out")
    model = keras.models.load_model(model_dir / "model.keras", compile=False)
    if untrained:
        untrained(model, config)
    ckpt.mkdir(parents=True)
    model.save(ckpt / "model.keras")
    write_curve(out_dir / CURVE_FILE, curve_columns, config.get("heldout_curve", []))
    (ckpt / "state.json").write_text(json.dumps({"stage": k, "epoch": 0}))
    return k
