"""Command line: segment, evaluate, separate, plot, train, train-separator."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .asr_track import HELP as ASR_TRACK_HELP, AsrTrack
from .models import SEGMENTER_DIR_HELP, SEPARATOR_DIR_HELP
from .scoring import DEFAULT_COLLAR
from .segments import SMOOTHING_HELP, SmoothingParams
from .separation import SPEECH_ONLY_HELP


def add_smoothing(ap: argparse.ArgumentParser) -> None:
    defaults = SmoothingParams()
    for name in SmoothingParams.names():
        ap.add_argument("--" + name.replace("_", "-"), dest=name, type=float, default=getattr(defaults, name),
                        help=f"{SMOOTHING_HELP[name]} (default %(default)s)")


def smoothing(args: argparse.Namespace) -> SmoothingParams:
    return SmoothingParams(**{n: getattr(args, n) for n in SmoothingParams.names()}).validate()


def fix_mmap_threshold(size: int = 4 * 1024 * 1024) -> None:
    """Fix glibc's mmap threshold at `size`, above the separator network's per-chunk temporaries
    (about 2 MB each).

    By default glibc raises the threshold after each freed large block, so later blocks come from
    the heap and fragment it: over a 10-hour file RSS crept up by 10 %. A fixed threshold keeps it
    flat. At 128 KB every temporary was mapped and faulted in page by page, which doubled the time
    of `separate`; at 4 MB the temporaries are reused from the heap, chunk after chunk, and only the
    long buffers are mapped. No-op off glibc.
    """
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").mallopt(-3, size)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    fix_mmap_threshold()
    ap = argparse.ArgumentParser(prog="python -m segmenter", description="Speech / music / noise / silence "
                                 "segmentation and speech separation for broadcast archives.")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("segment", help="segment files or folders into a TSV of speech segments")
    p.add_argument("paths", nargs="+", help="media files or folders (walked for media files)")
    p.add_argument("--model", help=SEGMENTER_DIR_HELP)
    p.add_argument("--out", type=Path, default=Path("segmented.tsv"), help="TSV to write (default %(default)s)")
    p.add_argument("--slice", type=Path, dest="slice_dir", help="also write each speech segment as a WAV here")
    p.add_argument("-n", type=int, dest="limit", help="process at most N files")
    add_smoothing(p)

    p = sub.add_parser("evaluate", help="score against dev-corpus references (prog_NN.json + .wav)")
    p.add_argument("ref_dir", type=Path)
    p.add_argument("--model", help=SEGMENTER_DIR_HELP)
    p.add_argument("--collar", type=float, default=DEFAULT_COLLAR,
                   help="seconds not scored either side of a boundary (default %(default)s)")
    p.add_argument("--json", type=Path, help="also write the scores here")
    add_smoothing(p)

    p = sub.add_parser("separate", help="write the separated speech of a medium as a 16 kHz WAV")
    p.add_argument("media", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--model", help=SEPARATOR_DIR_HELP)
    p.add_argument("--speech-only", action="store_true", help=SPEECH_ONLY_HELP)
    for name in AsrTrack.names():
        p.add_argument("--" + name.replace("_", "-"), dest=name, type=float, default=getattr(AsrTrack(), name),
                       help=f"With --speech-only. {ASR_TRACK_HELP[name]} (default %(default)s)")
    p.add_argument("--segmenter-model", help=SEGMENTER_DIR_HELP)
    add_smoothing(p)

    p = sub.add_parser("plot", help="spectrogram, speech mask, masked spectrogram and segments")
    p.add_argument("media", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--start", type=float, default=0.0)
    p.add_argument("--end", type=float)
    p.add_argument("--model", help=SEGMENTER_DIR_HELP)
    p.add_argument("--separator-model", help=SEPARATOR_DIR_HELP)
    add_smoothing(p)

    sub.add_parser("train", help="train the segmentation model (see --help)", add_help=False)
    sub.add_parser("train-separator", help="train the separation model: --recipe FILE (see --help)",
                   add_help=False)

    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("train", "train-separator"):
        from .training import train_segmenter, train_separator_v2
        (train_segmenter if argv[0] == "train" else train_separator_v2).main(argv[1:])
        return 0
    args = ap.parse_args(argv)
    try:
        params = smoothing(args)
        asr = (AsrTrack(**{n: getattr(args, n) for n in AsrTrack.names()}).validate()
               if args.command == "separate" else None)
    except ValueError as e:
        ap.error(str(e))

    from .media import MediaError
    try:
        if args.command == "segment":
            from . import batch
            failed = batch.run(args.paths, args.out, args.model, args.slice_dir, params, args.limit)
            return 1 if failed else 0
        if args.command == "evaluate":
            from . import evaluate
            scores = evaluate.run(args.ref_dir, args.model, params, args.collar)
            print(json.dumps(scores, indent=2))
            if args.json:
                args.json.write_text(json.dumps(scores, indent=2) + "\n")
            return 0
        if args.command == "separate":
            from .pipeline import Segmenter
            from .separation import Separator, segment_and_separate
            if args.speech_only:
                _, track = segment_and_separate(Segmenter.load(args.segmenter_model), Separator.load(args.model),
                                                args.media, args.out, params, speech_only=True, asr=asr)
                if track is None:
                    print(f"warning: {args.media} has no audio samples (zero length): no track written",
                          file=sys.stderr)
            else:
                Separator.load(args.model).separate(args.media, args.out)
            return 0
        if args.command == "plot":
            from . import plot
            plot.run(args.media, args.out, args.start, args.end, args.model, args.separator_model, params)
            return 0
    except (MediaError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
