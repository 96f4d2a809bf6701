"""Our ASR track taken apart, on asr_quality.py's items (main venv): which of its two errors a
recogniser hears. The separator's mask is linear in what it is applied to, so the ASR track of a
mixture of speech S and background B is gate x (M(S) + M(B)), M the mask the network computes from
the mixture (recorded on the mixture and applied again, chunk by chunk, to S alone). Per --part:
  speech   : gate x M(S)      the speech as the track leaves it, none of the background
  residual : gate x (S + M(B)) the untouched speech, with what the track leaves of the background
  gated    : gate x S          the untouched speech, gated: what the gate alone costs
The gate is the ASR track's: segmenter-v7's speech TimeFrames of the mixture (`separation.speech_gain`).
S is the item's clean twin (asr_quality.py writes `<passage>_clean` with the same speech samples;
none for a background alone) times its least-squares gain in the mixture (1 but for an item scaled
against clipping; speech and background are independent, so the gain is right to a fraction of a
percent), and B = mixture - S.

Run by asr_quality.py --systems ours-parts-speech ours-parts-residual ours-parts-gated."""
import sys
from collections import deque
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root
import _common  # noqa: E402,F401
from _common import parse_sep_args, read_wav16, run_separation, write_wav_f32  # noqa: E402


def clean_twin(item: Path) -> Path | None:
    """The clean item of a noisy item's passage; None for a background alone."""
    stem, _, condition = item.name.rpartition("_")
    if condition == "background":
        return None
    return item.parent / f"{stem}_clean" / "mix.wav"


class Replayed:
    """A mask limit that records the masks `limit` makes of one pass and returns them, in order, in
    the next."""

    def __init__(self, limit: Callable[[np.ndarray], np.ndarray]) -> None:
        self.limit = limit
        self.masks: deque[np.ndarray] = deque()
        self.replaying = False

    def __call__(self, mask: np.ndarray) -> np.ndarray:
        if self.replaying:
            return self.masks.popleft()
        self.masks.append(self.limit(mask))
        return self.masks[-1]


def main() -> None:
    def options(ap):
        ap.add_argument("--part", choices=("speech", "residual", "gated"), required=True)
    args = parse_sep_args(__doc__, (), options)
    from segmenter.asr_track import AsrTrack
    from segmenter.media import SAMPLE_RATE
    from segmenter.pipeline import Segmenter
    from segmenter.separation import Separator, speech_gain
    sep = None if args.part == "gated" else Separator.load()  # the gate alone needs no separator
    segmenter = Segmenter.load()

    def separate(mix_path: Path, item: Path, out_wav: Path) -> None:
        mix = read_wav16(mix_path)
        twin = clean_twin(item)
        speech = read_wav16(twin) if twin else np.zeros_like(mix)
        if twin:
            speech = speech * np.float32(np.dot(mix, speech) / max(float(np.dot(speech, speech)), 1e-12))
        gate = speech_gain(segmenter.segment(mix_path).speech(), 0, len(mix))
        if args.part == "gated":
            track = speech
        else:
            masks = Replayed(AsrTrack().limit)  # the ASR track's mask, with its default limits
            whole = sep.separate_audio(mix, masks)
            masks.replaying = True
            of_speech = sep.separate_audio(speech, masks)
            track = of_speech if args.part == "speech" else speech + (whole - of_speech)
        write_wav_f32(out_wav, (gate * track[:len(mix)]).astype(np.float32), SAMPLE_RATE)

    run_separation(args.sep_dir, args.out, separate)


if __name__ == "__main__":
    main()
