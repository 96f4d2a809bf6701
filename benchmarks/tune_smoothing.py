"""Choose the smoothing defaults on held-out programmes of the training sources: frame scores once,
then a grid of smoothings. Never on the dev corpus, which is measured once per kept model.

    .venv/bin/python -m segmenter train --recipe recipes/segmenter-v7.toml --heldout-only   # prints DIR
    .venv/bin/python -m segmenter train --recipe recipes/segmenter-v7.toml --heldout-only --clean-channel  # DIR2
    .venv/bin/python benchmarks/tune_smoothing.py --ref-dir DIR DIR2 [--model pretrained/segmenter-v7]

With several folders, a setting's score is the mean of its detection error rates on each (ties: mean
F1), so that the defaults serve degraded and clean recordings alike. Prints the best settings, the
current defaults' scores and a threshold sweep, each with its 4-class accuracy (not optimised: the
references call a speech block's pauses speech, while the detection error rate counts them as
non-speech, so the two pull pauses opposite ways).
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from segmenter.models import SEGMENTER_DIR_HELP  # noqa: E402
from segmenter.pipeline import Segmenter  # noqa: E402
from segmenter.scoring import (DEFAULT_COLLAR, DetectionCounts, intervals_to_frames, labels_to_frames,  # noqa: E402
                               load_reference, reference_files)
from segmenter.segments import SmoothingParams, smooth  # noqa: E402

GRID = {"threshold": [0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95], "min_speech": [0.1, 0.25, 0.5],
        "min_gap": [0.3, 0.5, 0.8, 1.2], "padding": [0.0, 0.05, 0.1, 0.2, 0.3],
        "padding_floor": [0.0, 0.05, 0.1, 0.2, 0.3]}

# A held-out programme: its reference speech per frame, its reference classes per frame, and a
# model's frame probabilities and the audio's duration (`Segmenter.frame_probs`).
Programme = tuple[np.ndarray, np.ndarray, np.ndarray, float]


def load_sets(seg: Segmenter, ref_dirs: list[Path]) -> list[list[Programme]]:
    """Each folder's programmes, in file-name order, with `seg`'s frame probabilities."""
    sets = []
    for d in ref_dirs:
        data = []
        for ref_json in reference_files(d):
            ref, frames = load_reference(ref_json)
            data.append((frames, labels_to_frames(ref["segments"], len(frames)))
                        + seg.frame_probs(ref_json.with_suffix(".wav")))
        sets.append(data)
    return sets


def add_programme(counts: DetectionCounts, programme: Programme, p: SmoothingParams, classes: bool) -> None:
    """Add a programme's detection counts at smoothing `p` (collar 0.25 s) and, with `classes`, its
    4-class counts."""
    frames, ref_classes, probs, duration = programme
    s = smooth(probs, duration, p)
    counts.add(frames, intervals_to_frames(s.speech(), len(frames)), DEFAULT_COLLAR)
    if classes:
        counts.add_classes(ref_classes, labels_to_frames([(x.start, x.end, x.label) for x in s.segments],
                                                         len(frames)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ref-dir", type=Path, nargs="+", required=True,
                    help="folders of held-out programmes in the dev layout (printed by train --heldout-only); "
                         "not the dev corpus")
    ap.add_argument("--model", help=SEGMENTER_DIR_HELP)
    args = ap.parse_args()
    sets = load_sets(Segmenter.load(args.model), args.ref_dir)

    def score(p: SmoothingParams, classes: bool = False) -> tuple[float, float, list[dict[str, float]]]:
        """(mean detection error rate, mean F1, each set's summary; with `classes`, its 4-class accuracy)."""
        per_set = []
        for data in sets:
            c = DetectionCounts()
            for programme in data:
                add_programme(c, programme, p, classes)
            per_set.append(c.summary())
        return (float(np.mean([s["detection_error_rate"] for s in per_set])),
                float(np.mean([s["f1"] for s in per_set])), per_set)

    def line(p: SmoothingParams) -> str:
        der, f1, per_set = score(p, classes=True)
        each = "; ".join(f"{d.name}: DER {s['detection_error_rate']:.4f} F1 {s['f1']:.4f} "
                         f"4-class {s['frame_accuracy_4class']:.4f}" for d, s in zip(args.ref_dir, per_set))
        return f"mean DER {der:.4f}  mean F1 {f1:.4f}  ({each})"

    results = []
    for values in itertools.product(*GRID.values()):
        p = SmoothingParams(**dict(zip(GRID, values)))
        der, f1, _ = score(p)
        results.append((der, -f1, p))
    results.sort(key=lambda r: r[:2])
    for _, _, p in results[:10]:
        print(f"{p}\n    {line(p)}")
    print(f"defaults: {SmoothingParams()}\n    {line(SmoothingParams())}")
    print("threshold sweep at the default min_speech, min_gap and padding:")
    for thr in GRID["threshold"]:
        print(f"  {thr:.2f}: {line(SmoothingParams().with_values(threshold=thr))}")


if __name__ == "__main__":
    main()
