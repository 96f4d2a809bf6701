"""Two separator models, mixture by mixture: mean SI-SDR improvement of each and of their difference
(standard error, wins) on the 40 dev SEP mixtures, each model's mean per background kind and SNR,
then each model's held-out figure on the same mixtures of held-out training clips for every --seed
given (the model cards' own figures use the training seed, so cards with different seeds are not
comparable; this is).

Arrays in memory (Separator.separate_audio), so no ffmpeg and no WAV rounding; a few minutes per model.
Run in the main venv:  .venv/bin/python benchmarks/sep_paired.py OLD_MODEL_DIR NEW_MODEL_DIR [--seed N ...]
Needs the training cache (python -m segmenter train-separator fetches it) for the held-out part.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from _bench import DEFAULT_CORPUS, REPO

sys.path.insert(0, str(REPO))
from segmenter.scoring import si_sdr  # noqa: E402
from segmenter.separation import Separator  # noqa: E402


def dev_improvements(sep: Separator, sep_dir: Path, items: list[dict]) -> np.ndarray:
    out = []
    for it in items:
        mix, _ = sf.read(sep_dir / it["mix"], dtype="float32")
        speech, _ = sf.read(sep_dir / it["speech"], dtype="float32")
        out.append(si_sdr(sep.separate_audio(mix), speech) - si_sdr(mix, speech))
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--seed", type=int, nargs="*", default=[], help="held-out mixture seeds (none: dev only)")
    args = ap.parse_args()
    seps = {p: Separator.load(p) for p in (args.old, args.new)}
    items = json.loads((args.corpus / "sep" / "index.json").read_text())["items"]
    dev = {p: dev_improvements(s, args.corpus / "sep", items) for p, s in seps.items()}
    d = dev[args.new] - dev[args.old]
    print(f"dev SEP ({len(d)} mixtures): {args.old} {dev[args.old].mean():.2f} dB, {args.new} "
          f"{dev[args.new].mean():.2f} dB; difference {d.mean():+.3f} dB (standard error "
          f"{d.std(ddof=1) / np.sqrt(len(d)):.3f}), new better on {(d > 0).sum()} of {len(d)}")
    for key in ("background_kind", "snr_db"):
        for value in sorted({it[key] for it in items}):
            sel = np.array([it[key] == value for it in items])
            print(f"  {key} {value} ({sel.sum()}): " + ", ".join(f"{p} {v[sel].mean():.2f}" for p, v in dev.items()))
    if args.seed:
        from segmenter.training.fetch import DEFAULT_CACHE
        from segmenter.training.mixing import load_pools
        from segmenter.training.train_separator import evaluate
        pools = load_pools(DEFAULT_CACHE, True, "separation")
        for seed in args.seed:
            r = {p: evaluate(s, pools, seed) for p, s in seps.items()}
            print(f"held-out, seed {seed} ({r[args.new]['heldout_mixtures']} mixtures): " + ", ".join(
                f"{p} {v['heldout_si_sdr_improvement_db']:.2f} dB" for p, v in r.items()))


if __name__ == "__main__":
    main()
