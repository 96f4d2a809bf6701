"""What both trainers share: seeding, the Keras fit loop, export and the model card."""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import shutil
import sys
from pathlib import Path
from typing import Any, Callable, Collection, Sequence

import numpy as np

from ..network import NetSpec, build_keras, export
from .recipe import Recipe, RecipeError, Stage, load
from .sources import DEFAULT_UNSPLIT, HELD_OUT_ONE_IN, UNSPLIT_SOURCES, Source, excluded
from .weight_average import WeightAverage


def seed_everything(seed: int) -> None:
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    import keras
    keras.utils.set_random_seed(seed)


def make_dataset(batch_fn: Callable[[np.random.Generator], tuple], steps: int, seed: int | Sequence[int],
                 first_epoch: int = 0):
    """A Keras PyDataset whose batch i of epoch e is drawn from rng([*seed, e, i]): mixed on the fly,
    reproducible, and the same after a resume at `first_epoch`. Two threads mix ahead of the
    network (numpy and ffmpeg release the GIL)."""
    import keras
    seed = [seed] if isinstance(seed, int) else list(seed)

    class Mixes(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=2, use_multiprocessing=False, max_queue_size=4)
            self.epoch = first_epoch

        def __len__(self):
            return steps

        def __getitem__(self, i):
            return batch_fn(np.random.default_rng([*seed, self.epoch, i]))

        def on_epoch_end(self):
            self.epoch += 1

    return Mixes()


CHECKPOINT = "checkpoint"


def train_stages(spec: NetSpec | Sequence, loss: Callable[[Stage], object], stages: Sequence[Stage],
                 batch_fn: Callable[[Stage, np.random.Generator], tuple],
                 out_dir: Path, seed: int, init_scale: float = 1.0, build: Callable = build_keras,
                 after_epoch: Callable | None = None, carry: Callable[[list, object], None] | None = None):
    """Train through `stages`, each with its own cosine learning rate, and return the final model.

    After every `checkpoint_steps` the model, its optimizer and the position are saved in
    `out_dir/checkpoint`, and a run started again on the same `out_dir` resumes from there: batch
    i of a stage's epoch e is always drawn from the same seed, so a resumed run sees what an
    unbroken one would. The checkpoint is removed once the model of record is written.
    `loss(stage)` is the stage's Keras loss. `build(spec, init_scale)` makes the Keras model (another
    network family than `NetSpec`'s). `spec` may be a list, one network per stage, when a stage grows
    the network: then `carry(weights, model)` sets the grown model's weights from the stage before's.
    `after_epoch(model, stage, epoch)` runs after each checkpoint (epochs count from 0 in each stage);
    at the end of a stage with `average_last` it sees the averaged weights the stage ends with.
    """
    import keras
    ckpt = out_dir / CHECKPOINT
    state_file = ckpt / "state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {"stage": 0, "epoch": 0}
    if state["stage"] or state["epoch"]:
        print(f"resuming from {ckpt}: stage {state['stage'] + 1} of {len(stages)}, "
              f"epoch {state['epoch']}", flush=True)
    ckpt.mkdir(parents=True, exist_ok=True)
    specs = list(spec) if isinstance(spec, (list, tuple)) else [spec] * len(stages)
    model = None
    for s, stage in enumerate(stages):
        if s < state["stage"]:
            continue
        first = state["epoch"] if s == state["stage"] else 0
        if first:
            model = keras.models.load_model(ckpt / "model.keras", custom_objects={"loss": loss(stage)})
        else:
            fresh = build(specs[s], init_scale)
            grows = carry is not None and s > 0 and specs[s] != specs[s - 1]
            put = carry if grows else (lambda w, m: m.set_weights(w))
            if model is not None:
                put(model.get_weights(), fresh)
            elif (ckpt / "model.keras").exists():  # a stage boundary: the last stage's weights
                put(keras.models.load_model(ckpt / "model.keras", compile=False).get_weights(), fresh)
            model = fresh
            schedule = keras.optimizers.schedules.CosineDecay(stage.lr, stage.steps, alpha=stage.lr_floor)
            model.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=1.0), loss=loss(stage))
        data = make_dataset(lambda rng, st=stage: batch_fn(st, rng), stage.checkpoint_steps, [seed, s], first)
        callbacks = [_checkpoint(ckpt, s, stage)]
        if after_epoch:
            callbacks.append(keras.callbacks.LambdaCallback(
                on_epoch_end=lambda epoch, logs, m=model, st=s: after_epoch(m, st, epoch)))
        model.fit(data, epochs=stage.epochs, initial_epoch=first, verbose=2, callbacks=callbacks)
    final = build(specs[-1])
    final.set_weights(model.get_weights())
    return final


def _checkpoint(folder: Path, s: int, stage: Stage):
    """A callback that saves the model and its optimizer, then the position, each written whole,
    so that a kill at any moment leaves a matching pair. In the stage's averaged epochs it adds the
    weights to their mean first, and the stage's last checkpoint holds that mean."""
    import keras
    average = WeightAverage(folder / f"average-{s}.npz")

    class Checkpoint(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            done = epoch + 1 == stage.epochs
            if epoch >= stage.epochs - stage.averaged_epochs:
                mean = average.add(epoch, self.model.get_weights())
                if done:
                    self.model.set_weights(mean)
            tmp = folder / "model.tmp.keras"
            self.model.save(tmp)
            os.replace(tmp, folder / "model.keras")
            (folder / "state.tmp.json").write_text(json.dumps({"stage": s + done, "epoch": 0 if done else epoch + 1}))
            os.replace(folder / "state.tmp.json", folder / "state.json")
            if done:
                average.clear()

    return Checkpoint()


def describe_stages(stages: Sequence[dict]) -> str:
    """The model card's account of the training stages (config.json's `stages`)."""
    def one(s: dict) -> str:
        text = (f"{s['steps']} steps of {s['batch']} x {s['seconds']:g} s examples, learning rate "
                f"{s['lr']:g} falling to {s['lr'] * s['lr_floor']:g}")
        if s.get("loss"):
            text += ", loss weights " + ", ".join(f"{k} {v:g}" for k, v in s["loss"].items())
        if s.get("sources"):
            text += ", drawing on " + ", ".join(f"{k} at {v:g}" for k, v in s["sources"].items())
        if s.get("network"):
            text += ", the network growing to " + ", ".join(f"{k} {v}" for k, v in s["network"].items())
        if s.get("mixing"):
            text += ", mixing " + ", ".join(f"{k} {v:g}" for k, v in s["mixing"].items())
        if s.get("band_masks"):
            text += f", {s['band_masks']} masks of up to {s['band_mask_width']} mel bands in each example"
        if s.get("average_last"):
            text += (f", ending with the mean of its weights at every {s['checkpoint_steps']}th step "
                     f"of its last {s['average_last']}")
        return text
    return "; ".join(one(s) for s in stages)


def save_model(model, spec: NetSpec, out_dir: Path, exporter: Callable = export) -> None:
    """The model of record without the optimizer's state (a third of the size), and its NumPy export
    (`exporter(model, spec, path)`); then the checkpoint goes."""
    model.save(out_dir / "model.keras")
    exporter(model, spec, out_dir / "weights.npz")
    shutil.rmtree(out_dir / CHECKPOINT, ignore_errors=True)


def recipe_sources(recipe: Recipe) -> list[Source]:
    """The sources a recipe, one of its stages or its held-out pools draw on, in the order of
    `sources.SOURCES`."""
    from .sources import SOURCES
    return [s for s in SOURCES if s.id in recipe.drawn_sources]


def held_out_split(heldout: dict[str, Any]) -> tuple[str, dict[str, float]]:
    """Of a recipe's `[heldout]` table (or a config's `heldout`), what decides which clips its
    held-out pools hold: `unsplit_sources` and `sources`. Its programmes, seconds and seed only say
    what is drawn from those pools."""
    return heldout.get("unsplit_sources", DEFAULT_UNSPLIT), heldout.get("sources", {})


def unsplit_sources(recipe: Recipe) -> str:
    """The recipe's `[heldout] unsplit_sources`, a key of `sources.UNSPLIT_SOURCES`."""
    choice = held_out_split(recipe.heldout)[0]
    if choice not in UNSPLIT_SOURCES:
        raise RecipeError(f"{recipe.path}: [heldout] unsplit_sources must be one of {sorted(UNSPLIT_SOURCES)}")
    return choice


def source_hours(sources: Sequence[Source], cache: Path, unsplit: str, validated: set[str] | None = None,
                 held_whole: Collection[str] = ()) -> dict[str, dict[str, float]]:
    """Per decoded source, the hours of clips that training draws on and that the held-out pools hold
    (`unsplit` as `[heldout] unsplit_sources`; none for a source outside `validated`, when given: one
    that only a stage draws on; every clip and no training for one in `held_whole`), evaluation files
    left out; speech before the recipe's speech-clip test."""
    from .fetch import clip_hours, read_lock
    lock, skip = read_lock(), excluded()
    hours = {}
    for src in sources:
        if (h := clip_hours(src, cache, lock, skip)) is not None:
            total, held = h
            whole = total if unsplit == "validate" else 0.0
            hours[src.id] = {"trained": total - held, "heldout": held} if held else {"trained": total, "heldout": whole}
            if validated is not None and src.id not in validated:
                hours[src.id]["heldout"] = 0.0
            if src.id in held_whole:
                hours[src.id] = {"trained": 0.0, "heldout": total}
    return hours


def recipe_hours(recipe: Recipe, cache: Path) -> dict[str, dict[str, float]]:
    """`source_hours` of every source the recipe draws on, as its pools (`recipe_pools.pools_for`) hold them."""
    return source_hours(recipe_sources(recipe), cache, unsplit_sources(recipe), set(recipe.sources),
                        set(recipe.heldout_sources))


def hours_by_kind(config: dict, sources: Sequence[Source]) -> str:
    """The card's line of hours per kind, trained and held out (empty without `source_hours`)."""
    hours = config.get("source_hours", {})
    totals: dict[str, list[float]] = {}
    for src in sources:
        if src.id in hours:
            t = totals.setdefault(src.kind, [0.0, 0.0])
            t[0] += hours[src.id]["trained"]
            t[1] += hours[src.id]["heldout"]
    kinds = {"speech": "speech (before the speech-clip test)", "sung": "sung music"}
    return "".join(f"\n{kinds.get(k, k)}: {t:.2f} h trained on, {h:.2f} h held out;" for k, (t, h) in totals.items())


def held_whole(config: dict) -> str:
    """The card's sentence on the recipe's `[heldout] sources` (empty without them)."""
    held = config.get("heldout", {}).get("sources", {})
    return f"\nHeld out whole and never trained on: {', '.join(held)}." if held else ""


def write_card(out_dir: Path, title: str, config: dict, metrics: dict, body: str, sources: Sequence[Source]) -> None:
    """config.json (machine-readable) and MODEL_CARD.md (for people), the card rendered from `config`."""
    config = dict(config, metrics=metrics, date=datetime.date.today().isoformat(),
                  command=" ".join(["python -m segmenter"] + sys.argv[1:]),
                  python=platform.python_version())
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    hours = config.get("source_hours", {})

    def hours_of(src: Source) -> str:
        h = hours.get(src.id)
        return f"{h['trained']:.3f} / {h['heldout']:.3f}" if h else "not decoded"
    rows = "\n".join(f"| {s.id} | {s.kind} | Debian `{s.package}` | {s.license} | {hours_of(s)} |"
                     for s in sources)
    met = "\n".join(f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in metrics.items())
    curve = ("\nThe same during training, by step: `heldout_curve` in config.json.\n"
             if config.get("heldout_curve") else "")
    (out_dir / "MODEL_CARD.md").write_text(f"""# {title}

{body}

## Training command

```
{config['command']}
```

Trained {config['date']} with seed {config['seed']} on a 2-core CPU machine (TensorFlow/Keras
{config.get('keras', '')}). `model.keras` is the artifact of record; `weights.npz` is its export for the
NumPy inference path (a test checks that both agree).

## Data

Only real recordings from these Debian packages (fetched with `apt-get download`, unpacked with
`dpkg -x`); no text-to-speech, none of the dev-corpus files and none of the ASR benchmark's prompts.
About one voice or clip group in {HELD_OUT_ONE_IN} (by a fixed hash) is held out for the metrics below.
{UNSPLIT_SOURCES[held_out_split(config.get('heldout', {}))[0]]}{held_whole(config)}
Hours of usable clips (dev and ASR benchmark files left out), by kind:{hours_by_kind(config, sources)}
and per source below (trained on / held out).

| source | kind | package | licence | hours |
|---|---|---|---|---|
{rows}

## Held-out metrics (mixtures of held-out clips)

| metric | value |
|---|---|
{met}
{curve}
## Configuration

```json
{json.dumps({k: v for k, v in config.items() if k not in ('metrics', 'heldout_curve')}, indent=2)}
```
""")


def recipe_parser(prog: str, doc: str | None, example: str) -> argparse.ArgumentParser:
    """The options of a recipe trainer: --recipe, --out, --cache."""
    from .fetch import DEFAULT_CACHE
    ap = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", type=Path, required=True, help=f"the recipe file (TOML), e.g. {example}")
    ap.add_argument("--out", type=Path, help="model folder to write (default: pretrained/<the recipe's name>)")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where packages and decoded audio are kept")
    ap.add_argument("--from-model", type=Path, metavar="DIR",
                    help="a model folder whose recipe is this one with fewer stages (e.g. a shipped model): "
                         "start after those stages from its network instead of training them again")
    return ap


def start_from_model(ap: argparse.ArgumentParser, args: argparse.Namespace, recipe: Recipe, out: Path,
                     curve_columns: Sequence[str], untrained: Callable | None = None) -> None:
    """With --from-model, seed the run's checkpoint from that model (`continue_run`), or a usage error."""
    if not args.from_model:
        return
    from .continue_run import seed_from_model
    try:
        k = seed_from_model(recipe, args.from_model, out, curve_columns, untrained)
    except (RecipeError, OSError, KeyError, ValueError) as e:
        ap.error(str(e))
    print(f"starting at stage {k + 1} of {len(recipe.stages)} from {args.from_model}", flush=True)


def checked_recipe(ap: argparse.ArgumentParser, args: argparse.Namespace, task: str,
                   check: Callable[[Recipe], object], writes_model: bool = True) -> tuple[Recipe, Path]:
    """The recipe and the model folder, or a usage error before any work: a recipe of another task,
    a folder that already holds a model when the run `writes_model` (a run never overwrites one),
    or what `check` raises."""
    from ..models import PRETRAINED
    from .codecs import check_available
    try:
        recipe = load(args.recipe)
        if recipe.task != task:
            raise RecipeError(f"{args.recipe} is a {recipe.task!r} recipe, not a {task} one")
        out = args.out or PRETRAINED / recipe.name
        if writes_model and (out / "model.keras").exists():
            raise RecipeError(f"{out} already holds a model: pass a new --out folder")
        check(recipe)
        check_available(list(recipe.codecs.get("names", [])))
    except (RecipeError, ValueError, RuntimeError, KeyError) as e:
        ap.error(str(e))
    return recipe, out


def in_one_blas_thread(fn: Callable, *args):
    """`fn(*args)` with NumPy's BLAS on one thread: its threads would fight TensorFlow's for the
    cores (mixing a batch took 0.39 s of CPU with two, 0.17 s with one)."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1, "blas"):
        return fn(*args)
