"""Candidate segmenters against the default one on held-out programmes, with 95 % intervals: how a
segmenter recipe's rule is judged.

    .venv/bin/python benchmarks/seg_compare.py --ref-dir DIR DIR-clean --candidate v13=RUN [NAME=DIR ...]
    [--baseline-smoothing min_gap=0.3 ...]   # the default model at other smoothing as the baseline

Every model at the default smoothing, on the folders `python -m segmenter train --recipe R
--heldout-only [--clean-channel]` writes (never the dev corpus). Per folder: detection error rate
(collar 0.25 s) and 4-class frame accuracy; a model's mean DER is the mean of its folders' DERs, as
`tune_smoothing.py` scores a setting. Each candidate's mean-DER ratio to the default model and its
4-class accuracy differences come with 95 % intervals (`--confidence`) from a paired bootstrap over
programmes: a resampled programme brings its copy in every folder (the folders hold the same
programmes, by file name, in other channels), and both models are scored on the same resamplings.
Programmes drawn from the same held-out pools share voices and backgrounds, so the intervals say how
sure the comparison is on these pools, not on voices the pools do not hold. Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from _bench import REPO, paired_bootstrap
from tune_smoothing import add_programme, load_sets

sys.path.insert(0, str(REPO))
from segmenter.models import DEFAULT_SEGMENTER, SEGMENTER_DIR_HELP, SEGMENTER_ENV, resolve_model_dir  # noqa: E402
from segmenter.pipeline import Segmenter  # noqa: E402
from segmenter.scoring import DetectionCounts, reference_files  # noqa: E402
from segmenter.segments import SmoothingParams  # noqa: E402

def programme_counts(model: str | Path, ref_dirs: list[Path], params: SmoothingParams = SmoothingParams()
                      ) -> np.ndarray:
    """(folders, programmes, 5) counts of `model` at smoothing `params`: false alarms, misses,
    reference speech frames, 4-class frames right, 4-class frames scored."""
    table = []
    for programmes in load_sets(Segmenter.load(model), ref_dirs):
        rows = []
        for programme in programmes:
            c = DetectionCounts()
            add_programme(c, programme, params, classes=True)
            rows.append((c.fp, c.fn, c.tp + c.fn, c.correct4, c.total4))
        table.append(rows)
    return np.array(table, float)


def mean_der(counts: np.ndarray, picked: np.ndarray) -> float:
    """The mean over folders of each folder's DER on the `picked` programmes."""
    s = counts[:, picked].sum(axis=1)
    return float(np.mean((s[:, 0] + s[:, 1]) / s[:, 2]))


def accuracy(counts: np.ndarray, folder: int, picked: np.ndarray) -> float:
    s = counts[folder, picked].sum(axis=0)
    return float(s[3] / s[4])


def paired_programmes(ref_dirs: list[Path]) -> int:
    """The number of programmes, after checking that every folder holds the same ones."""
    names = [[f.name for f in reference_files(d)] for d in ref_dirs]
    if not names[0] or any(n != names[0] for n in names):
        sys.exit(f"the folders must hold the same programmes, by file name: {[str(d) for d in ref_dirs]}")
    return len(names[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref-dir", type=Path, nargs="+", required=True,
                    help="folders of held-out programmes (train --heldout-only), the same programmes in each")
    ap.add_argument("--candidate", nargs="+", required=True, metavar="NAME=DIR", help="segmenter model folders")
    ap.add_argument("--confidence", type=float, default=0.95,
                    help="the intervals' coverage (more than 0.95 when a rule compares several candidates)")
    ap.add_argument("--default", help="the model the candidates are compared with: " + SEGMENTER_DIR_HELP)
    ap.add_argument("--baseline-smoothing", nargs="+", default=[], metavar="NAME=VALUE",
                    help="score the default model at this smoothing (other knobs at their defaults) as the "
                         "baseline: a candidate at the default smoothing then judges new smoothing defaults")
    args = ap.parse_args()
    if bad := [c for c in args.candidate if "=" not in c]:
        ap.error(f"--candidate takes NAME=DIR, not {bad}")
    candidates = dict(c.split("=", 1) for c in args.candidate)
    n = paired_programmes(args.ref_dir)
    default = resolve_model_dir(args.default, SEGMENTER_ENV, DEFAULT_SEGMENTER)
    try:
        baseline = SmoothingParams().with_values(**{k: float(v) for k, v in
                                                    (item.split("=", 1) for item in args.baseline_smoothing)})
    except (TypeError, ValueError) as e:
        ap.error(f"--baseline-smoothing takes NAME=VALUE with names {SmoothingParams.names()}: {e}")
    base = programme_counts(default, args.ref_dir, baseline)
    folders = [d.name for d in args.ref_dir]
    print(f"{n} programmes in each of {', '.join(folders)}; candidates at the default smoothing {SmoothingParams()}; "
          f"baseline: default model {default} at {baseline}\n")
    pct = f"{100 * args.confidence:g} %"
    print(f"| model | mean DER | ratio to the default ({pct} interval) | "
          + " | ".join(f"4-class accuracy, {f} (difference, {pct} interval)" for f in folders) + " |")
    print("|---|---|---|" + "---|" * len(folders))
    everything = np.arange(n)
    print(f"| default | {mean_der(base, everything):.4f} | 1 | "
          + " | ".join(f"{accuracy(base, i, everything):.4f}" for i in range(len(folders))) + " |")
    for name, model in candidates.items():
        cand = programme_counts(model, args.ref_dir)
        ratio = paired_bootstrap(lambda p: mean_der(cand, p) / mean_der(base, p), n, confidence=args.confidence)
        cells = [paired_bootstrap(lambda p, i=i: accuracy(cand, i, p) - accuracy(base, i, p), n,
                                  confidence=args.confidence) for i in range(len(folders))]
        print(f"| {name} | {mean_der(cand, everything):.4f} | {ratio[0]:.3f} ({ratio[1]:.3f} to {ratio[2]:.3f}) | "
              + " | ".join(f"{accuracy(cand, i, everything):.4f} ({d:+.4f}, {lo:+.4f} to {hi:+.4f})"
                           for i, (d, lo, hi) in enumerate(cells)) + " |")


if __name__ == "__main__":
    main()
