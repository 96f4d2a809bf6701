"""Oracle ideal ratio mask (the ceiling): mask = |S|^2 / (|S|^2 + |N|^2) from the clean speech S and
background N, applied to the mixture STFT on the grid our separator applies its mask on (Hann,
segmenter.separation's N_FFT and SYNTH_HOP: 512 / 128); inverse STFT.
Runs in the main venv (numpy + scipy)."""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root
import _common  # noqa: E402,F401  (first: it pins the thread counts before numpy loads)
import numpy as np  # noqa: E402
from scipy.signal import istft, stft  # noqa: E402

from _common import SR, read_wav16, parse_sep_args, run_separation, write_wav_f32  # noqa: E402
from segmenter.separation import N_FFT, SYNTH_HOP  # noqa: E402


def irm_separate(mix: np.ndarray, speech: np.ndarray, background: np.ndarray) -> np.ndarray:
    kw = dict(fs=SR, window="hann", nperseg=N_FFT, noverlap=N_FFT - SYNTH_HOP)
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
