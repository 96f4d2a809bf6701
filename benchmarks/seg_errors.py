"""Where segmenters err, from the outputs `seg_quality.py` has written: the share of each kind of
non-speech frame that a system's speech segments cover, and the share of speech frames they miss.

False alarms per reference class (music, noise, silence; 0.25 s at each end of a run left out, as
the scorer's collar) and, where the references name their blocks (the dev corpus's `blocks`), per
block type (music, music_vocal, noise; 0.5 s at each end left out) and for the non-speech frames
inside speech blocks more than 0.25 s from any speech frame (pauses, leads and tails). Misses per
kind of speech block (speech alone, over music, sung music or noise), the scorer's collar left out.

First, from the references alone, the ceiling that the two kinds of reference put on 4-class accuracy:
the 4-class references call a speech block's pauses speech, the speech references non-speech, so an
output without a detection error misses every such frame that the detection score scores (beyond
its collar).

Run in the main venv:  .venv/bin/python benchmarks/seg_errors.py [--ref-dir DIR] [--systems ours silero-vad ...]
(after `seg_quality.py`, whose outputs it reads from benchmarks/out/seg/<system>/; `--systems` with
no names prints the ceiling alone).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.ndimage import binary_dilation

from _bench import DEFAULT_CORPUS, OUT, REPO

sys.path.insert(0, str(REPO))
from segmenter.frames import FRAME_RATE as RATE  # noqa: E402  (reference frames per second)
from segmenter.scoring import (DEFAULT_COLLAR, collar_mask, intervals_to_frames, labels_to_frames,  # noqa: E402
                               load_reference, reference_files)
from segmenter.segments import LABELS  # noqa: E402

COLLAR = round(DEFAULT_COLLAR * RATE)  # frames: the scorer's collar
BLOCK_EDGE = 50  # frames left out at each end of a background block (its cross-fades)


def errors(ref_dir: Path, hyp_dir: Path) -> dict[str, tuple[float, float]]:
    """{what: (seconds in error, seconds in all)}: non-speech called speech, or speech missed."""
    in_error, total = defaultdict(float), defaultdict(float)

    def add(key: str, wrong: np.ndarray, mask: np.ndarray | slice) -> None:
        in_error[key] += wrong[mask].sum() / RATE
        total[key] += (np.count_nonzero(mask) if isinstance(mask, np.ndarray) else mask.stop - mask.start) / RATE

    for js in sorted(ref_dir.glob("prog_*.json")):
        ref = json.loads(js.read_text())
        speech = np.load(js.with_suffix(".npy")).astype(bool)
        hyp = intervals_to_frames(json.loads((hyp_dir / js.name).read_text())["speech"], len(speech))
        for a, b, label in ref["segments"]:
            a, b = int(round(a * RATE)) + COLLAR, int(round(b * RATE)) - COLLAR
            if label != "speech" and b > a:
                add(f"class {label}", hyp, slice(a, b))
        near_speech = binary_dilation(speech, iterations=COLLAR)
        scored = collar_mask(speech, DEFAULT_COLLAR)
        for block in ref.get("blocks", []):
            a, b = int(round(block["start"] * RATE)), int(round(block["end"] * RATE))
            if block["type"].startswith("speech"):
                add("inside speech blocks, > 0.25 s from speech", hyp[a:b], ~near_speech[a:b])
                add(f"missed: speech of {block['type']} blocks", ~hyp[a:b], speech[a:b] & scored[a:b])
            elif block["type"] != "silence" and b - a > 2 * BLOCK_EDGE:
                add(f"block {block['type']}", hyp, slice(a + BLOCK_EDGE, b - BLOCK_EDGE))
    return {k: (in_error[k], total[k]) for k in sorted(total)}


def pause_share(ref_dir: Path) -> float:
    """Share of the 4-class scored frames that the 4-class references call speech and the speech
    references do not, beyond the detection score's collar: 1 minus it is the best 4-class accuracy
    of an output with no detection error."""
    disputed = scored = 0
    for js in reference_files(ref_dir):
        ref, speech = load_reference(js)
        classes = labels_to_frames(ref["segments"], len(speech))
        scored += np.count_nonzero(classes >= 0)
        scored_speech_pause = (classes == LABELS.index("speech")) & ~speech & collar_mask(speech, DEFAULT_COLLAR)
        disputed += np.count_nonzero(scored_speech_pause)
    return disputed / scored


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref-dir", type=Path, default=DEFAULT_CORPUS / "seg")
    ap.add_argument("--out-dir", type=Path, default=OUT / "seg", help="seg_quality.py's outputs, one folder per system")
    ap.add_argument("--systems", nargs="*", default=["ours", "silero-vad", "inaSpeechSegmenter"])
    args = ap.parse_args()
    share = pause_share(args.ref_dir)
    print(f"4-class frames in a speech block's pauses beyond the collar (speech to the 4-class references, not "
          f"to the speech references): {share:.4f}; 4-class accuracy of an output without detection errors: at most "
          f"{1 - share:.4f}\n")
    if not args.systems:
        return
    results = {s: errors(args.ref_dir, args.out_dir / s) for s in args.systems}
    keys = sorted({k for r in results.values() for k in r})
    print(f"Share of non-speech frames called speech, and of speech frames missed ({args.ref_dir}):\n")
    print("| frames | seconds | " + " | ".join(args.systems) + " |")
    print("|---|---|" + "---|" * len(args.systems))
    for k in keys:
        seconds = next(r[k][1] for r in results.values() if k in r)
        print(f"| {k} | {seconds:.0f} | " + " | ".join(
            f"{results[s][k][0] / results[s][k][1]:.3f}" if k in results[s] else "" for s in args.systems) + " |")


if __name__ == "__main__":
    main()
