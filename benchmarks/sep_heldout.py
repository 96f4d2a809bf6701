"""A separator recipe's held-out mixtures as a SEP corpus, so that `sep_quality.py` scores every
system on them exactly as on dev: the selection set of #26 ("above DeepFilterNet3 on your own
held-out mixtures"), made from held-out clips of the training sources, never from the dev corpus.

Writes OUT/sep/index.json and OUT/sep/NNNN/{mix,speech,background}.wav (16 kHz PCM16, the dev
layout; background = mix - speech): the recipe's
`[heldout]` examples (`train_separator_v2.heldout_set`, seeded) that hold speech and background;
the clean-speech and speech-free examples have no SI-SDR improvement and are left out, as are
mixtures whose background is inaudible (`train_separator_v2.scored_kind`). Each item's
`snr_db` is its speech-to-background ratio rounded to the nearest 5 dB, `background_kind` is
"held-out".

With --packages N, the mixtures are instead N per background kind and nominal SNR (-5, 0, 5, 10 dB,
as dev's) over excerpts of every clip of the sources the recipe holds out whole (`[heldout] sources`,
whole packages that no stage hears), each under a passage of the recipe's held-out speech clips:
backgrounds unlike any the recipe's separator trains on, per kind as dev's (`background_kind` music
or noise), for the same comparison as `asr_quality.py --material packages`. Then, for example:

  .venv/bin/python benchmarks/sep_heldout.py --out /tmp/heldout-sep
  .venv/bin/python benchmarks/sep_quality.py --corpus /tmp/heldout-sep --no-long \
      --systems ours deepfilternet --candidate NAME=path/to/another/model --out /tmp/heldout-sep/scores

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
from segmenter.training.common import recipe_sources, unsplit_sources  # noqa: E402
from segmenter.training.fetch import DEFAULT_CACHE, build_all  # noqa: E402
from segmenter.training.mixing import SEPARATION_MIX, excerpt, load_pools, set_level, speech_passage  # noqa: E402
from segmenter.training.recipe_pools import pools_for  # noqa: E402
from segmenter.training.train_separator_v2 import (MixShares, heldout_set, scored_kind,  # noqa: E402
                                                     speech_to_background_db)


PACKAGE_SNRS_DB = (-5, 0, 5, 10)
PACKAGE_KINDS = ("music", "noise")  # the kinds of background a held-out package may hold (no songs yet)
PACKAGE_SECONDS = 8.0


Mixture = tuple[int, np.ndarray, np.ndarray, str, int]  # (number, mix, speech, kind, nominal SNR in dB)


def recipe_mixtures(recipe: recipes.Recipe, cache: Path) -> list[Mixture]:
    """The recipe's seeded `[heldout]` examples that hold speech and background, numbered among all
    its examples, the SNR their speech-to-background ratio to the nearest 5 dB."""
    shares = MixShares.from_recipe(recipe.mixing)
    _, heldout_pools = pools_for(recipe, cache, shares.speech_clips)
    return [(i, mix, speech, "held-out", 5 * round(speech_to_background_db(mix, speech) / 5))
            for i, (mix, speech, kind) in enumerate(heldout_set(heldout_pools, recipe, shares))
            if scored_kind(mix, speech, kind) == "mixture"]


def package_mixtures(recipe: recipes.Recipe, cache: Path, per_cell: int) -> list[Mixture]:
    """`per_cell` mixtures per kind and SNR over the recipe's
    whole held-out sources, seeded by the recipe's held-out seed."""
    held = recipe.heldout_sources
    if not held:
        sys.exit(f"{recipe.path} holds no source out whole ([heldout] sources)")
    shares = MixShares.from_recipe(recipe.mixing)
    build_all(cache, sources=recipe_sources(recipe))
    speech_sources = {i: w for i, w in recipe.sources.items() if i not in held}
    pools = load_pools(cache, True, {**speech_sources, **held}, shares.speech_clips, unsplit_sources(recipe), set(held))
    rng = np.random.default_rng([recipe.heldout["seed"], 5])
    n = int(PACKAGE_SECONDS * SAMPLE_RATE)
    out = []
    for kind in (k for k in PACKAGE_KINDS if pools[k].clips):
        for snr in PACKAGE_SNRS_DB:
            for _ in range(per_cell):
                speech, _ = speech_passage(pools["speech"], n, rng)
                level = rng.uniform(*SEPARATION_MIX.level_dbfs)
                speech = set_level(speech, level)
                background = set_level(excerpt(pools[kind], n, rng), level - snr)
                mix = speech + background
                gain = np.float32(min(1.0, 0.95 / np.max(np.abs(mix))))
                out.append((len(out), mix * gain, speech * gain, kind, snr))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", type=Path, default=REPO / "recipes" / "separator-v2.toml")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--packages", type=int, default=0, metavar="N",
                    help="N mixtures per kind and SNR over the recipe's whole held-out sources instead")
    args = ap.parse_args()
    recipe = recipes.load(args.recipe)
    mixtures = (package_mixtures(recipe, args.cache, args.packages) if args.packages
                else recipe_mixtures(recipe, args.cache))
    sep = args.out / "sep"
    sep.mkdir(parents=True, exist_ok=True)
    items = []
    for i, mix, speech, kind, snr in mixtures:
        name = f"{i:04d}"
        (sep / name).mkdir(exist_ok=True)
        if max(np.abs(mix).max(), np.abs(speech).max()) >= 1.0:
            sys.exit(f"held-out example {name} clips in PCM16")
        for part, x in (("mix", mix), ("speech", speech), ("background", mix - speech)):
            sf.write(sep / name / f"{part}.wav", x, SAMPLE_RATE, subtype="PCM_16")
        items.append({"id": name, "dir": name, "mix": f"{name}/mix.wav", "speech": f"{name}/speech.wav",
                      "background": f"{name}/background.wav", "background_kind": kind, "snr_db": snr})
    (sep / "index.json").write_text(json.dumps({"recipe": str(args.recipe.resolve().relative_to(REPO)),
                                                "seed": recipe.heldout["seed"], "packages": bool(args.packages),
                                                "items": items}, indent=1))
    print(f"{len(items)} held-out mixtures in {sep}")


if __name__ == "__main__":
    main()
