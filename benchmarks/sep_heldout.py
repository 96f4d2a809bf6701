"""A separator recipe's held-out mixtures as a SEP corpus, so that `sep_quality.py` scores every
system on them exactly as on dev: the selection set of #26 ("above DeepFilterNet3 on your own
held-out mixtures"), made from held-out clips of the training sources, never from the dev corpus.

Writes OUT/sep/index.json and OUT/sep/NNNN/{mix,speech,background}.wav (16 kHz PCM16, the dev
layout; background = mix - speech): the recipe's
`[heldout]` examples (`train_separator_v2.heldout_set`, seeded) that hold speech and background;
the clean-speech and speech-free examples have no SI-SDR improvement and are left out, as are
mixtures whose background is inaudible (`train_separator_v2.scored_kind`). Each item's
`snr_db` is its speech-to-background ratio rounded to the nearest 5 dB, `background_kind` is
"held-out". Then, for example:

  .venv/bin/python benchmarks/sep_heldout.py --out /tmp/heldout-sep
  .venv/bin/python benchmarks/sep_quality.py --corpus /tmp/heldout-sep --no-long \
      --systems ours deepfilternet --out /tmp/heldout-sep/scores
  SEPARATOR_MODEL=path/to/another/model .venv/bin/python benchmarks/sep_quality.py ...  # another model

Needs the training cache (`python -m segmenter train-separator` fetches it).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from _bench import REPO

sys.path.insert(0, str(REPO))
from segmenter.media import SAMPLE_RATE  # noqa: E402
from segmenter.training import recipe as recipes  # noqa: E402
from segmenter.training.fetch import DEFAULT_CACHE  # noqa: E402
from segmenter.training.recipe_pools import pools_for  # noqa: E402
from segmenter.training.train_separator_v2 import (MixShares, heldout_set, scored_kind,  # noqa: E402
                                                     speech_to_background_db)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", type=Path, default=REPO / "recipes" / "separator-v2.toml")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    recipe = recipes.load(args.recipe)
    shares = MixShares.from_recipe(recipe.mixing)
    _, heldout_pools = pools_for(recipe, args.cache, shares.speech_clips)
    examples = heldout_set(heldout_pools, recipe, shares)
    sep = args.out / "sep"
    sep.mkdir(parents=True, exist_ok=True)
    items = []
    for i, (mix, speech, kind) in enumerate(examples):
        if scored_kind(mix, speech, kind) != "mixture":
            continue
        name = f"{i:04d}"
        (sep / name).mkdir(exist_ok=True)
        if max(np.abs(mix).max(), np.abs(speech).max()) >= 1.0:
            sys.exit(f"held-out example {name} clips in PCM16")
        for part, x in (("mix", mix), ("speech", speech), ("background", mix - speech)):
            sf.write(sep / name / f"{part}.wav", x, SAMPLE_RATE, subtype="PCM_16")
        items.append({"id": name, "dir": name, "mix": f"{name}/mix.wav", "speech": f"{name}/speech.wav",
                      "background": f"{name}/background.wav", "background_kind": "held-out",
                      "snr_db": 5 * round(speech_to_background_db(mix, speech) / 5)})
    (sep / "index.json").write_text(json.dumps({"recipe": str(args.recipe.resolve().relative_to(REPO)),
                                                "seed": recipe.heldout["seed"], "items": items}, indent=1))
    print(f"{len(items)} held-out mixtures of {len(examples)} examples in {sep}")


if __name__ == "__main__":
    main()
