"""Oracle ideal ratio mask (the ceiling): STFT 512 / hop 128 (Hann, the grid our separator applies its
mask on), mask = |S|^2 / (|S|^2 + |N|^2) from the clean speech S and background N, applied to the
mixture STFT; inverse STFT.
Runs in the main venv (numpy + scipy)."""
import time

import _common  # noqa: F401
import numpy as np
from scipy.signal import istft, stft

from _common import SR, read_wav16, parse_sep_args, run_separation, write_wav_f32

NFFT, HOP = 512, 128


def irm_separate(mix: np.ndarray, speech: np.ndarray, background: np.ndarray) -> np.ndarray:
    kw = dict(fs=SR, window="hann", nperseg=NFFT, noverlap=NFFT - HOP)
    _, _, X = stft(mix, **kw)
    _, _, S = stft(speech, **kw)
    _, _, N = stft(background, **kw)
    ps, pn = np.abs(S) ** 2, np.abs(N) ** 2
    mask = ps / (ps + pn + 1e-12)
    _, y = istft(mask * X, **kw)
    return y[:len(mix)].astype(np.float32)


def main():
    args = parse_sep_args(__doc__)

    def separate(mix, item, out_wav):
        x, s, n = (read_wav16(item / f) for f in ("mix.wav", "speech.wav", "background.wav"))
        t0 = time.perf_counter()
        est = irm_separate(x, s, n)
        proc = time.perf_counter() - t0
        write_wav_f32(out_wav, est)
        return proc

    run_separation(args.sep_dir, args.out, separate)


if __name__ == "__main__":
    main()
