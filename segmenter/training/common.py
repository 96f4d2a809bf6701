"""What both trainers share: seeding, the Keras fit loop, export and the model card."""
from __future__ import annotations

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
from .sources import SOURCES


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


def fit(spec: NetSpec, loss, data, epochs: int, steps: int, lr: float, out_dir: Path):
    import keras

    model = build_keras(spec)
    schedule = keras.optimizers.schedules.CosineDecay(lr, epochs * steps, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=1.0), loss=loss)
    model.fit(data, epochs=epochs, verbose=2)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(out_dir / "model.keras")
    export(model, spec, out_dir / "weights.npz")
    return model


def write_card(out_dir: Path, title: str, config: dict, metrics: dict, body: str, kinds: tuple[str, ...]) -> None:
    """config.json (machine-readable) and MODEL_CARD.md (for people)."""
    config = dict(config, metrics=metrics, date=datetime.date.today().isoformat(),
                  command=" ".join(["python -m segmenter"] + sys.argv[1:]),
                  python=platform.python_version())
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    rows = "\n".join(f"| {s.id} | {s.kind} | Debian `{s.package}` | {s.license} |"
                     for s in SOURCES if s.kind in kinds)
    met = "\n".join(f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in metrics.items())
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
