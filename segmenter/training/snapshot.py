"""A separator run's last checkpoint as a model folder that the engine and the benchmarks load
(`Separator.load`, `benchmarks/asr_quality.py --candidate`), to measure a run of many hours before
it ends. Held-out SI-SDR, which the run's curve tracks, has not told which separator a recogniser
prefers; this lets the ASR benchmark see a run at a stage's end.

A snapshot is not a model of record: it has no model.keras and no model card, and its config.json
says `snapshot` (the run, the stage and the step).
"""
from __future__ import annotations

import json
from pathlib import Path

from .. import cmask
from ..cmask_net import export
from .common import CHECKPOINT
from .recipe import Recipe, RecipeError
from .train_separator_v2 import band_layout, network


def checkpoint_position(recipe: Recipe, run: Path) -> tuple[int, int]:
    """(the stage whose weights `run`'s checkpoint holds, from 0; the training step it holds)."""
    state_file = run / CHECKPOINT / "state.json"
    if not state_file.exists():
        raise RecipeError(f"{run} holds no checkpoint: the run has not started, or it has ended "
                          f"(then {run} is the model)")
    state = json.loads(state_file.read_text())
    if state == {"stage": 0, "epoch": 0}:
        raise RecipeError(f"{run}'s checkpoint holds no training yet")
    stage = state["stage"] - (state["epoch"] == 0)  # epoch 0 of a stage: the stage before has ended
    epochs = state["epoch"] or recipe.stages[stage].epochs
    return stage, sum(s.steps for s in recipe.stages[:stage]) + epochs * recipe.stages[stage].checkpoint_steps


def write_snapshot(recipe: Recipe, run: Path, dest: Path) -> dict:
    """Export `run`'s checkpoint to `dest` (weights.npz, config.json); its config."""
    import keras
    if (dest / "config.json").exists():
        raise RecipeError(f"{dest} already holds a model: pass a new folder")
    while True:  # a run still training may replace its checkpoint meanwhile: read it again then
        stage, step = checkpoint_position(recipe, run)
        model = keras.models.load_model(run / CHECKPOINT / "model.keras", compile=False)
        if checkpoint_position(recipe, run) == (stage, step):
            break
    spec = network(recipe, stage)
    dest.mkdir(parents=True, exist_ok=True)
    export(model, spec, dest / "weights.npz")
    config = {"task": "separation", "model": cmask.MODEL_KIND, **recipe.record(),
              "bands": band_layout(recipe, stage).to_json(), "network": spec.to_json(),
              "snapshot": {"run": str(run), "stage": stage + 1, "step": step}}
    (dest / "config.json").write_text(json.dumps(config, indent=1))
    return config
