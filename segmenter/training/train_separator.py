"""Train the speech-mask network: `python -m segmenter train-separator`."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..network import NumpyNet, tcn
from ..pipeline import PRETRAINED
from ..scoring import si_sdr
from ..separation import DEFAULT_SEPARATOR, HOP, N_BINS, N_FFT, Separator, mask_features, stft
from .common import fit, make_dataset, parse_args, prepare, write_card
from .mixing import separation_mixture

SPEC = tcn(N_BINS, 128, (2, 4, 8, 16, 32), N_BINS, "sigmoid")


def batch(pools, rng: np.random.Generator, size: int, seconds: float):
    xs, ys = [], []
    for _ in range(size):
        mix, speech, _ = separation_mixture(pools, seconds, rng)
        m, s = stft(mix), stft(speech)
        mag = np.abs(m)
        # Phase-sensitive target: the part of the speech in phase with the mixture, which is
        # what a real mask on the mixture STFT can best reach (Erdogan et al., 2015).
        psa = np.clip((s * np.conj(m)).real / np.maximum(mag, 1e-8), 0.0, mag)
        xs.append(mask_features(m))
        ys.append(np.concatenate((mag.T, psa.T), axis=1))
    return np.stack(xs), np.stack(ys).astype(np.float32)


def loss(y_true, y_pred):
    """Squared error of the masked mixture against the phase-sensitive target, relative to the
    mixture's energy (so that quiet and loud examples weigh the same)."""
    from keras import ops
    mix, target = y_true[..., :N_BINS], y_true[..., N_BINS:]
    err = ops.mean(ops.square(y_pred * mix - target), axis=(1, 2))
    return err / (ops.mean(ops.square(mix), axis=(1, 2)) + 1e-10)


def evaluate(sep: Separator, pools, n: int, seconds: float, seed: int) -> dict[str, float]:
    rng = np.random.default_rng([seed, 999])
    gains = []
    for _ in range(n):
        mix, speech, _ = separation_mixture(pools, seconds, rng)
        if not speech.any():
            continue
        gains.append(si_sdr(sep.separate_audio(mix), speech) - si_sdr(mix, speech))
    return {"heldout_si_sdr_improvement_db": float(np.mean(gains)), "heldout_mixtures": len(gains)}


def main(argv: list[str] | None = None) -> None:
    args = parse_args("python -m segmenter train-separator", __doc__, PRETRAINED / DEFAULT_SEPARATOR, argv, epochs=24, steps=200, batch=16, seconds=4.0, lr=2e-3)
    train_pools, val_pools = prepare(args)
    data = make_dataset(lambda rng: batch(train_pools, rng, args.batch, args.seconds), args.steps, args.seed)
    import keras
    fit(SPEC, loss, data, args.epochs, args.steps, args.lr, args.out)
    metrics = evaluate(Separator(NumpyNet.load(args.out / "weights.npz"), args.out), val_pools, 100,
                       8.0, args.seed)
    print(metrics)
    config = {"task": "separation", "seed": args.seed, "keras": keras.__version__,
              "features": {"type": "log-power STFT", "sample_rate": 16000, "n_fft": N_FFT, "hop": HOP,
                           "window": "hann", "scaling": "(10*log10(|X|^2+1e-10)+40)/20"},
              "network": SPEC.to_json(), "receptive_field_frames": 2 * SPEC.context + 1,
              "loss": "MSE of mask*|X| against the phase-sensitive target, over the mixture energy",
              "training": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                           if k not in ("cache", "out")}}
    write_card(args.out, "separator-v1: speech mask for speech / background separation", config, metrics,
               f"""A dilated 1-D convolutional network over 257 log-power STFT bins (512-point Hann window,
256-sample hop at 16 kHz). Seven convolutions (128 channels, kernel 3, dilations 1-32, residual) see
{SPEC.context} frames (about 1 s) either side; a per-bin sigmoid gives the speech mask, which multiplies
the mixture STFT before the inverse STFT.

Training mixtures (4 s) are made on the fly from real recordings: speech passages over instrumental
music (40 %), music with sung lines (20 %) or ambience / effects (40 %), at SNRs from -10 to +15 dB
and levels -38 to -16 dBFS, 20 % telephone-band speech, a pink noise floor; 10 % have no speech at
all, so that their target is a zero mask. The loss is the squared error between the masked
mixture magnitude and the phase-sensitive target |S| cos(angle(S) - angle(X)) (clipped to
[0, |X|]), divided by the mixture's energy: it favours what the SI-SDR measures.""", ("speech", "music", "sung", "noise"))
