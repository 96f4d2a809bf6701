"""What both trainers share: seeding, the Keras fit loop, export and the model card."""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from ..network import NetSpec, build_keras, export
from .sources import Task, sources_for


def parse_args(prog: str, doc: str | None, out: Path, argv: list[str] | None, *, epochs: int, steps: int,
               batch: int, seconds: float, lr: float) -> argparse.Namespace:
    """The options both trainers take, with each trainer's own defaults."""
    from .fetch import DEFAULT_CACHE
    ap = argparse.ArgumentParser(prog=prog, description=doc)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where packages and decoded audio are kept")
    ap.add_argument("--out", type=Path, default=out, help="model folder to write (default %(default)s)")
    ap.add_argument("--epochs", type=int, default=epochs)
    ap.add_argument("--steps", type=int, default=steps, help="batches per epoch")
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--seconds", type=float, default=seconds, help="length of each training example")
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--seed", type=int, default=20261121)
    ap.add_argument("--init", type=Path, default=None,
                    help="model folder whose model.keras starts the training (fine-tuning); default: random")
    args = ap.parse_args(argv)
    # A training run rewrites its folder epoch by epoch: it must never clobber a trained model,
    # the shipped default included (the default --out), nor the model it starts from.
    if (args.out / "model.keras").exists():
        ap.error(f"{args.out} already holds a model: pass a new --out folder")
    return args


def prepare(args: argparse.Namespace, task: Task) -> tuple[dict, dict]:
    """Fetch and decode the sources if needed, seed everything; `task`'s (training, held-out) pools."""
    from .fetch import build_all
    from .mixing import load_pools
    build_all(args.cache)
    seed_everything(args.seed)
    return load_pools(args.cache, False, task), load_pools(args.cache, True, task)


def seed_everything(seed: int) -> None:
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    import keras
    keras.utils.set_random_seed(seed)


def make_dataset(batch_fn: Callable[[np.random.Generator], tuple], steps: int, seed: int):
    """A Keras PyDataset whose batch i of epoch e is drawn from rng([seed, e, i]): mixed on the fly, reproducible."""
    import keras

    class Mixes(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.epoch = 0

        def __len__(self):
            return steps

        def __getitem__(self, i):
            return batch_fn(np.random.default_rng([seed, self.epoch, i]))

        def on_epoch_end(self):
            self.epoch += 1

    return Mixes()


def load_init(model, spec: NetSpec, init: Path) -> None:
    """Every layer of `init/model.keras` goes to `model`'s layer of the same name, so `spec` may
    add layers (e.g. a refiner); its output layer goes to `spec`'s, so `spec` may also add residual
    layers before the output, which keep their small initial weights (near the identity)."""
    import keras
    layers = [l for l in keras.models.load_model(init / "model.keras", compile=False).layers if l.weights]
    output = f"conv{sum(l.name.startswith('conv') for l in layers) - 1}"
    for layer in layers:
        name = f"conv{len(spec.layers) - 1}" if layer.name == output else layer.name
        model.get_layer(name).set_weights(layer.get_weights())


def fit(spec: NetSpec, loss, data, epochs: int, steps: int, lr: float, out_dir: Path, init_scale: float = 1.0,
        init: Path | None = None):
    """Train from `init`'s weights if given (see `load_init`), else from `init_scale`'d Glorot."""
    import keras

    model = build_keras(spec, init_scale)
    if init is not None:
        load_init(model, spec, init)
    schedule = keras.optimizers.schedules.CosineDecay(lr, epochs * steps, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=1.0), loss=loss)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Saved after every epoch: a long run that is stopped early still leaves its last model.
    model.fit(data, epochs=epochs, verbose=2,
              callbacks=[keras.callbacks.ModelCheckpoint(out_dir / "model.keras")])
    # The model of record without the optimizer's state (a third of the size).
    final = build_keras(spec)
    final.set_weights(model.get_weights())
    final.save(out_dir / "model.keras")
    export(final, spec, out_dir / "weights.npz")
    return final


def training_config(args: argparse.Namespace) -> dict:
    """The training options as recorded in config.json (machine paths left out)."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in ("cache", "out")}


def fine_tuning_note(training: dict) -> str:
    """The card's paragraph on where the training started, when it was not from random weights."""
    if not training.get("init"):
        return ""
    return f"""

This model was fine-tuned: its training started from the weights of `{training['init']}`, with fresh
mixtures (seed {training['seed']}) and a new cosine learning-rate schedule from {training['lr']:g}. Reproducing it
takes the commands that made that model (its card, or the README's chain of training commands for
steps that were never kept in the tree), then this one."""


def write_card(out_dir: Path, title: str, config: dict, metrics: dict, body: str, task: Task) -> None:
    """config.json (machine-readable) and MODEL_CARD.md (for people)."""
    config = dict(config, metrics=metrics, date=datetime.date.today().isoformat(),
                  command=" ".join(["python -m segmenter"] + sys.argv[1:]),
                  python=platform.python_version())
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    rows = "\n".join(f"| {s.id} | {s.kind} | Debian `{s.package}` | {s.license} |"
                     for s in sources_for(task))
    met = "\n".join(f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in metrics.items())
    (out_dir / "MODEL_CARD.md").write_text(f"""# {title}

{body}{fine_tuning_note(config.get('training', {}))}

## Training command

```
{config['command']}
```

Trained {config['date']} with seed {config['seed']} on a 2-core CPU machine (TensorFlow/Keras
{config.get('keras', '')}). `model.keras` is the artifact of record; `weights.npz` is its export for the
NumPy inference path (a test checks that both agree).

## Data

Only real recordings from these Debian packages (fetched with `apt-get download`, unpacked with
`dpkg -x`); no text-to-speech and none of the dev-corpus files. About one clip in ten (by a hash
of its path) is held out for the metrics below.

| source | kind | package | licence |
|---|---|---|---|
{rows}

## Held-out metrics (mixtures of held-out clips)

| metric | value |
|---|---|
{met}

## Configuration

```json
{json.dumps({k: v for k, v in config.items() if k not in ('metrics',)}, indent=2)}
```
""")
