"""Oracle complex ratio mask of separator-v2's kind (the ceiling of its mask type): per frame,
the complex band mask on segmenter.cmask's compact frequency axis (every bin below 2 kHz, 32 ERB
bands above, spread to the bins by interpolation) that brings the mixture STFT closest to the
clean speech STFT (least squares), its magnitude bounded by cmask.MAX_GAIN as the network's is;
applied to the mixture STFT (512-point square-root Hann, 256-sample hop) and inverted.
`--full-resolution`: one complex mask per bin instead (S / X, bounded alike). `--bands FULL:ERB`:
another compact axis (cmask.BandLayout: FULL bins, then ERB bands), the ceiling a model on it would have.
Prints the mean SI-SDR improvement over the SEP items. Runs in the main venv (numpy only)."""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root
import _common  # noqa: E402,F401  (first: it pins the thread counts before numpy loads)
import numpy as np  # noqa: E402

from _common import read_wav16, parse_sep_args, run_separation, write_wav_f32  # noqa: E402
from segmenter import cmask  # noqa: E402
from segmenter.scoring import si_sdr  # noqa: E402


def bounded(m: np.ndarray) -> np.ndarray:
    mag = np.abs(m)
    return m * np.minimum(1.0, cmask.MAX_GAIN / np.maximum(mag, 1e-12))


def band_mask(x: np.ndarray, s: np.ndarray, layout: cmask.BandLayout) -> np.ndarray:
    """(frames, bands): per frame, argmin_M sum_k |S_k - X_k (M E)_k|^2 (normal equations)."""
    e = layout.expansion().astype(np.float64)
    px = np.abs(x) ** 2
    a = np.einsum("bk,ck,tk->tbc", e, e, px)
    a += np.eye(len(e)) * (1e-9 * np.trace(a, axis1=1, axis2=2)[:, None, None] + 1e-12)
    r = (np.conj(x) * s) @ e.T
    return np.linalg.solve(a, r[..., None])[..., 0]


def oracle(mix: np.ndarray, speech: np.ndarray, full_resolution: bool, layout: cmask.BandLayout) -> np.ndarray:
    x, s = cmask.stft(mix).astype(np.complex128), cmask.stft(speech).astype(np.complex128)
    if full_resolution:
        est = x * bounded(s / np.where(np.abs(x) > 1e-9, x, 1e-9))
    else:
        est = layout.apply_mask(x, bounded(band_mask(x, s, layout)))
    return cmask.istft(est.astype(np.complex64), len(mix))


def main():
    args = parse_sep_args(__doc__, ("--full-resolution",), lambda ap: ap.add_argument(
        "--bands", default=None, help="FULL:ERB, e.g. 128:16 (default: separator-v2's)"))
    layout = cmask.BandLayout(*map(int, args.bands.split(":"))) if args.bands else cmask.DEFAULT_BANDS
    gains = []

    def separate(mix, item, out_wav):
        x, s = read_wav16(item / "mix.wav"), read_wav16(item / "speech.wav")
        t0 = time.perf_counter()
        est = oracle(x, s, args.full_resolution, layout)
        proc = time.perf_counter() - t0
        write_wav_f32(out_wav, est)
        gains.append(si_sdr(est, s) - si_sdr(x, s))
        return proc

    run_separation(args.sep_dir, args.out, separate)
    print(f"mean SI-SDR improvement {np.mean(gains):.2f} dB over {len(gains)} items")


if __name__ == "__main__":
    main()
