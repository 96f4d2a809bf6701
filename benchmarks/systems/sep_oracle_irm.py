"""Oracle ideal ratio mask (the ceiling): mask = |S|^2 / (|S|^2 + |N|^2) from the clean speech S and
background N, applied to the mixture STFT (Hann, 512 points, 128-sample hop: the finest grid a
magnitude mask of our frame size has); inverse STFT.
Runs in the main venv (numpy + scipy)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root
import _common  # noqa: E402,F401  (first: it pins the thread counts before numpy loads)
import numpy as np  # noqa: E402
from scipy.signal import istft, stft  # noqa: E402

from _common import SR, parse_sep_args, run_array_separation  # noqa: E402
from segmenter.separation import N_FFT  # noqa: E402

HOP = 128


def irm_separate(mix: np.ndarray, speech: np.ndarray, background: np.ndarray) -> np.ndarray:
    kw = dict(fs=SR, window="hann", nperseg=N_FFT, noverlap=N_FFT - HOP)
    _, _, X = stft(mix, **kw)
    _, _, S = stft(speech, **kw)
    _, _, N = stft(background, **kw)
    ps, pn = np.abs(S) ** 2, np.abs(N) ** 2
    mask = ps / (ps + pn + 1e-12)
    _, y = istft(mask * X, **kw)
    return y[:len(mix)].astype(np.float32)


def main():
    args = parse_sep_args(__doc__)
    run_array_separation(args.sep_dir, args.out, irm_separate, ("mix.wav", "speech.wav", "background.wav"))


if __name__ == "__main__":
    main()
