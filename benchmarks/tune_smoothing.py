"""Choose the smoothing defaults on held-out programmes of the training sources: frame scores once,
then a grid of smoothings. Never on the dev corpus, which is measured once per kept model.

    .venv/bin/python -m segmenter train --recipe recipes/segmenter-v2.toml --heldout-only   # prints DIR
    .venv/bin/python benchmarks/tune_smoothing.py --ref-dir DIR [--model pretrained/segmenter-v2]

Prints the best settings by detection error rate (ties: F1) and the current defaults' score.
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from segmenter.models import SEGMENTER_DIR_HELP  # noqa: E402
from segmenter.pipeline import Segmenter  # noqa: E402
from segmenter.scoring import (DEFAULT_COLLAR, DetectionCounts, intervals_to_frames, load_reference,  # noqa: E402
                               reference_files)
from segmenter.segments import SmoothingParams, smooth  # noqa: E402

GRID = {"threshold": [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95], "min_speech": [0.1, 0.25, 0.5],
        "min_gap": [0.3, 0.5, 0.8, 1.2], "padding": [0.0, 0.05, 0.1, 0.2]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ref-dir", type=Path, required=True,
                    help="held-out programmes in the dev layout (printed by train --heldout-only); not the dev corpus")
    ap.add_argument("--model", help=SEGMENTER_DIR_HELP)
    args = ap.parse_args()
    seg = Segmenter.load(args.model)
    data = []
    for ref_json in reference_files(args.ref_dir):
        _, frames = load_reference(ref_json)
        probs, duration = seg.frame_probs(ref_json.with_suffix(".wav"))
        data.append((frames, probs, duration))

    def score(p: SmoothingParams) -> dict[str, float]:
        c = DetectionCounts()
        for frames, probs, duration in data:
            c.add(frames, intervals_to_frames(smooth(probs, duration, p).speech(), len(frames)), DEFAULT_COLLAR)
        return c.summary()

    results = []
    for values in itertools.product(*GRID.values()):
        p = SmoothingParams(**dict(zip(GRID, values)))
        s = score(p)
        results.append((s["detection_error_rate"], -s["f1"], p, s))
    results.sort(key=lambda r: r[:2])
    for der, _, p, s in results[:10]:
        print(f"DER {der:.4f}  F1 {s['f1']:.4f}  {p}")
    d = score(SmoothingParams())
    print(f"defaults: DER {d['detection_error_rate']:.4f}  F1 {d['f1']:.4f}  {SmoothingParams()}")
    print("threshold sweep at the default min_speech, min_gap and padding:")
    for thr in GRID["threshold"]:
        s = score(SmoothingParams().with_values(threshold=thr))
        print(f"  {thr:.2f}: DER {s['detection_error_rate']:.4f}  F1 {s['f1']:.4f}")


if __name__ == "__main__":
    main()
