"""A training recipe: one TOML file that says everything a shipped model was made from.

Data sources (by id, with their draw weights), augmentation, network, training stages, seeds and
steps. `python -m segmenter train --recipe FILE` makes the model from it; the model's config.json
records the recipe's path and sha256, so anyone can check which recipe made a model.
"""
from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


class RecipeError(ValueError):
    """The recipe file is missing, not TOML, or names something unknown."""


@dataclass(frozen=True)
class Stage:
    """`steps` batches of `batch` examples of `seconds` each, with a cosine learning rate from
    `lr` down to `lr * lr_floor`; a checkpoint every `checkpoint_steps`; `loss` weights that override
    the recipe's in this stage (a stage added to a model's recipe may train on another loss). With
    `average_last`, the stage ends with the mean of the weights at its checkpoints in its last
    `average_last` steps (stochastic weight averaging: one step's weights vary with its last few batches).
    `sources` draw weights override the recipe's in this stage (0 leaves a source out), so that a
    stage added to a model's recipe may train on more data; the held-out pools stay the recipe's.
    `network` grows the network from this stage on (a separator's deep filter, `df_taps`): what the
    trainer can add to the stage before's without changing what it computes at first. `mixing`
    overrides a separator's [mixing] shares in this stage, so that a stage added to a model's recipe
    may train on other examples; the held-out examples stay the recipe's. `band_masks` masks up to
    `band_mask_width` adjacent mel bands that many times in each of a segmenter's training examples
    (`spec_augment.py`)."""
    steps: int
    batch: int
    seconds: float
    lr: float
    lr_floor: float = 0.05
    checkpoint_steps: int = 250
    average_last: int = 0
    loss: dict[str, float] = field(default_factory=dict)  # a separator's loss weights in this stage, over [loss]'s
    sources: dict[str, float] = field(default_factory=dict)  # draw weights in this stage, over [sources]'
    network: dict[str, Any] = field(default_factory=dict)  # over [network]'s, from this stage on
    mixing: dict[str, Any] = field(default_factory=dict)  # a separator's mixing shares in this stage, over [mixing]'s
    band_masks: int = 0  # a segmenter's frequency masks per example in this stage
    band_mask_width: int = 8  # the widest of them, in mel bands

    def __post_init__(self) -> None:
        if any(not isinstance(w, (int, float)) or w < 0 for w in self.sources.values()):
            raise RecipeError(f"a stage's source weights must be numbers from 0 up: {self.sources}")
        if min(self.steps, self.batch, self.checkpoint_steps) < 1 or self.seconds <= 0 or self.lr <= 0:
            raise RecipeError(f"a stage needs positive steps, batch, seconds, lr and checkpoint_steps: {self}")
        if self.band_masks < 0 or self.band_mask_width < 1:
            raise RecipeError(f"a stage's band_masks must be 0 or more and its band_mask_width 1 or more: {self}")
        object.__setattr__(self, "checkpoint_steps", min(self.checkpoint_steps, self.steps))
        if self.steps % self.checkpoint_steps:
            raise RecipeError(f"a stage's steps ({self.steps}) must be a multiple of its checkpoint_steps "
                              f"({self.checkpoint_steps}): checkpoints are whole Keras epochs")
        if not 0 <= self.average_last <= self.steps or self.average_last % self.checkpoint_steps:
            raise RecipeError(f"a stage's average_last ({self.average_last}) must be a multiple of its "
                              f"checkpoint_steps ({self.checkpoint_steps}) from 0 to its steps ({self.steps})")

    @property
    def epochs(self) -> int:
        """Checkpoints are Keras epochs: the stage's steps in chunks of `checkpoint_steps`."""
        return self.steps // self.checkpoint_steps

    @property
    def averaged_epochs(self) -> int:
        """How many of the stage's last epochs end in a checkpoint whose weights are averaged."""
        return self.average_last // self.checkpoint_steps


@dataclass(frozen=True)
class Recipe:
    path: Path
    sha256: str
    name: str
    task: str
    title: str
    seed: int
    sources: dict[str, float]  # source id -> draw weight
    network: dict[str, Any]
    stages: tuple[Stage, ...]
    mixing: dict[str, Any] = field(default_factory=dict)  # overrides of the mixing defaults
    codecs: dict[str, Any] = field(default_factory=dict)
    heldout: dict[str, Any] = field(default_factory=dict)
    loss: dict[str, Any] = field(default_factory=dict)  # overrides of the trainer's loss weights
    teacher: dict[str, Any] = field(default_factory=dict)  # a segmenter's distillation (teacher.py)

    def __post_init__(self) -> None:
        held = self.heldout.get("sources", {})
        if not isinstance(held, dict) or any(not isinstance(w, (int, float)) or w <= 0 for w in held.values()):
            raise RecipeError(f"{self.path}: [heldout] sources must map source ids to positive draw weights")
        if trained := sorted(set(held) & self.trained_sources):
            raise RecipeError(f"{self.path}: [heldout] sources are never trained on, but a stage draws on {trained}")

    @property
    def relative_path(self) -> str:
        """The path recorded in config.json: relative to the repository when inside it."""
        try:
            return str(self.path.resolve().relative_to(REPO))
        except ValueError:
            return str(self.path)

    def stage_network(self, index: int) -> dict[str, Any]:
        """The network of stage `index`: [network] with every `network` of the stages up to it."""
        merged = dict(self.network)
        for stage in self.stages[:index + 1]:
            merged.update(stage.network)
        return merged

    def stage_mixing(self, stage: Stage) -> dict[str, Any]:
        """The mixing of `stage`: [mixing] with the stage's overrides."""
        return {**self.mixing, **stage.mixing}

    def stage_sources(self, stage: Stage) -> dict[str, float]:
        """{source id: draw weight} that `stage` trains on: [sources] with the stage's overrides."""
        return {k: float(w) for k, w in {**self.sources, **stage.sources}.items() if w > 0}

    @property
    def trained_sources(self) -> set[str]:
        """The ids of [sources] and of every source a stage trains on."""
        return {k for stage in self.stages for k in self.stage_sources(stage)} | set(self.sources)

    @property
    def heldout_sources(self) -> dict[str, float]:
        """`[heldout] sources`: {source id: draw weight} in the held-out pools whole and never trained on,
        so that a source too small to hold a group out (one song) is still measured unseen."""
        return {k: float(w) for k, w in self.heldout.get("sources", {}).items()}

    @property
    def drawn_sources(self) -> set[str]:
        """The ids of every source the recipe fetches: trained on or held out."""
        return self.trained_sources | set(self.heldout_sources)

    def record(self) -> dict[str, Any]:
        return {"recipe": self.relative_path, "recipe_sha256": self.sha256}


def load(path: str | Path) -> Recipe:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise RecipeError(f"cannot read recipe {p}: {e.strerror or e}") from None
    try:
        data = tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise RecipeError(f"recipe {p} is not valid TOML: {e}") from None
    known = {f.name for f in fields(Recipe)} - {"path", "sha256"}
    unknown = set(data) - known - {"stage"}
    if unknown:
        raise RecipeError(f"recipe {p}: unknown keys {sorted(unknown)}")
    try:
        stages = tuple(Stage(**s) for s in data.pop("stage"))
        return Recipe(path=p, sha256=hashlib.sha256(raw).hexdigest(), stages=stages,
                      sources={k: float(v) for k, v in data.pop("sources").items()}, **data)
    except (KeyError, TypeError) as e:
        raise RecipeError(f"recipe {p}: {e}") from None
