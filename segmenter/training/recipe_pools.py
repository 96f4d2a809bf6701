"""A recipe's clip pools: the held-out pools of its [sources] and [heldout] sources, and each stage's
training pools."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from .common import recipe_sources, unsplit_sources
from .mixing import Pool, load_pools
from .recipe import Recipe, RecipeError, Stage
from .sources import Source, excluded


class StagePools:
    """The training pools of each stage: the recipe's sources at the stage's weights
    (`Recipe.stage_sources`). One selection is held at a time, since a pool set holds gigabytes: a
    stage that draws on other sources than the one before loads them at its first batch (under a
    lock, as two threads mix batches)."""

    def __init__(self, recipe: Recipe, load: Callable[[dict[str, float]], dict[str, Pool]]):
        self._recipe, self._load = recipe, load
        self._lock = threading.Lock()
        self._selection: dict[str, float] | None = None
        self._pools: dict[str, Pool] | None = None

    def __call__(self, stage: Stage) -> dict[str, Pool]:
        return self._of(self._recipe.stage_sources(stage))

    def of_recipe(self) -> dict[str, Pool]:
        """The pools of the recipe's [sources] at their own weights."""
        return self._of(dict(self._recipe.sources))

    def _of(self, selection: dict[str, float]) -> dict[str, Pool]:
        with self._lock:
            if selection != self._selection:
                self._pools = None  # the last selection's clips go before the next are loaded
                self._pools, self._selection = self._load(selection), selection
            return self._pools


def pools_for(recipe: Recipe, cache: Path, speech_clips: str = "all") -> tuple[StagePools, dict[str, Pool]]:
    """(training pools per stage, held-out pools of [sources] and [heldout] sources), every source
    fetched and decoded first if needed; speech clips as `mixing.load_pools` keeps them, and sources
    too small to split as the recipe's `unsplit_sources` says. A source that only a stage draws on
    is never held out; one of `[heldout] sources` is held out whole and must share no clip with a
    source that training draws on."""
    from .fetch import build_all
    chosen = recipe_sources(recipe)
    unknown = recipe.drawn_sources - {s.id for s in chosen}
    if unknown:
        raise RecipeError(f"{recipe.path}: unknown sources {sorted(unknown)}")
    build_all(cache, sources=chosen)
    check_unseen(recipe, chosen, cache)
    stages = StagePools(recipe, lambda selection: load_pools(cache, False, selection, speech_clips))
    held = recipe.heldout_sources
    return stages, load_pools(cache, True, {**recipe.sources, **held}, speech_clips, unsplit_sources(recipe), held)


def check_unseen(recipe: Recipe, chosen: list[Source], cache: Path) -> None:
    """RecipeError if a source of `[heldout] sources` shares a clip with one that training draws on
    (drascula_sung holds drascula_sung_2's song)."""
    if not recipe.heldout_sources:  # the usual recipe: no cache file to read
        return
    from .fetch import read_lock, usable_clip_ids
    lock, skip = read_lock(), excluded()
    clips = {s.id: usable_clip_ids(s, cache, lock, skip) or set() for s in chosen}
    trained = set().union(*(clips[i] for i in recipe.trained_sources))
    if shared := sorted(i for i in recipe.heldout_sources if clips[i] & trained):
        raise RecipeError(f"{recipe.path}: [heldout] sources {shared} share clips with sources that training draws on")
