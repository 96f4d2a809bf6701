"""The untouched mixture gated by our speech TimeFrames, in the main venv: Segmenter.load().segment(mix)
(default smoothing), and everything outside its speech segments silenced with the same short ramps
as the app's speechOnly track (segmenter.separation.speech_gain). What an ASR step that transcribes
only the speech TimeFrames of the source hears. SEP_DIR (NNNN/mix.wav) -> OUT/NNNN.wav."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root
import _common  # noqa: E402,F401
from _common import parse_sep_args, read_wav16, run_separation, write_wav_f32  # noqa: E402


def main():
    args = parse_sep_args(__doc__)
    from segmenter.pipeline import Segmenter
    from segmenter.separation import speech_gain
    segmenter = Segmenter.load()

    def gate(mix, item, out_wav):
        y = read_wav16(mix)
        write_wav_f32(out_wav, y * speech_gain(segmenter.segment(mix).speech(), 0, len(y)))
        return None  # time the whole call: decode + segmentation + gating + WAV writing

    run_separation(args.sep_dir, args.out, gate)


if __name__ == "__main__":
    main()
