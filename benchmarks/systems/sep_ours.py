"""Our separator, in the main venv: segmenter.separation.Separator.load().separate(mix_path, out_wav)
(writes a 16 kHz mono WAV with the mixture's duration). Model: --model DIR, else $SEPARATOR_MODEL /
its default.
With --speech-only, as the app's separate=true&speechOnly=true (segment_and_separate): the ASR
track, with the engine's default attenuation limit and mix-back unless --attenuation-limit /
--mix-back say otherwise, and the segmenter's segmentation of the mixture (default smoothing)
silencing what it calls non-speech (--segmenter DIR: another segmenter model's)."""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root
import _common  # noqa: E402,F401
from _common import parse_sep_args, run_separation  # noqa: E402


def main():
    from segmenter.asr_track import HELP, AsrTrack

    def options(ap):
        ap.add_argument("--model", default=None, help="separator model folder (default: the engine's)")
        ap.add_argument("--segmenter", default=None,
                        help="with --speech-only: the segmenter model folder of the gate (default: the engine's)")
        for name in AsrTrack.names():
            ap.add_argument("--" + name.replace("_", "-"), dest=name, type=float, default=getattr(AsrTrack(), name),
                            help=f"With --speech-only. {HELP[name]}")
    args = parse_sep_args(__doc__, ("--speech-only",), options)
    from segmenter.pipeline import Segmenter
    from segmenter.separation import Separator, segment_and_separate
    asr = AsrTrack(**{n: getattr(args, n) for n in AsrTrack.names()}).validate()
    t0 = time.perf_counter()
    sep = Separator.load(args.model)
    segmenter = Segmenter.load(args.segmenter) if args.speech_only else None
    load = time.perf_counter() - t0

    def separate(mix, item, out_wav):
        if segmenter:
            segment_and_separate(segmenter, sep, mix, out_wav, speech_only=True, asr=asr)
        else:
            sep.separate(mix, out_wav)
        return None  # time the whole call: (segmentation +) decode + separation + WAV writing

    run_separation(args.sep_dir, args.out, separate, load)


if __name__ == "__main__":
    main()
