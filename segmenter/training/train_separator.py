"""Train the speech-mask network: `python -m segmenter train-separator`."""
from __future__ import annotations

import numpy as np

from ..media import SAMPLE_RATE
from ..models import DEFAULT_SEPARATOR, PRETRAINED
from ..network import Layer, NumpyNet, tcn
from ..scoring import si_sdr
from ..separation import (MAGNITUDE_MASK, MASK_FEATURES_SCALING, N_BINS, N_FFT, STFT_HOP, SYNTH_HOP,
                          MagnitudeMaskSeparator, mask_features, network_frames, power, stft)
from ..stationary_noise import FLOOR_SECONDS
from .common import fit, parse_args, prepare, training_config, write_card
from .mixing import SEPARATION_MIX, separation_mixture
from .sources import sources_for

# The refiner looks 8 bins (250 Hz) either side: across a voice's neighbouring harmonics.
REFINER = (Layer(16, 5, 1), Layer(16, 3, 2), Layer(16, 3, 4), Layer(1, 1, 1, "linear"))
DILATIONS = (2, 4, 8, 16, 32, 1, 2, 4, 8, 16, 1, 2)
SPEC = tcn(N_BINS, 256, DILATIONS, N_BINS, "sigmoid", refiner=REFINER)
CALIBRATION_MIXTURES, HELDOUT_MIXTURES = 50, 100  # held-out mixtures that set mask_gain, and that score the model
LEAK_FLOOR_DB = -30.0  # the speech-free loss: the output's level relative to the mixture's, floored here
INFERENCE_GRIDS = ("the mean of two masks brought to the whole grid in the same way, one from the even frames and "
                   "one from the odd frames (the same analysis shifted by half a hop)")  # as MagnitudeMaskSeparator.mask does


def example(mix: np.ndarray, speech: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Input: log-power features of the mixture's network frames. Target, per network frame:
    the mixture STFT (real, imaginary) of its two synthesis-grid frames (the second is zero past
    the end) and the clean speech samples of that hop, so that the loss can resynthesise."""
    m = stft(mix)
    net = network_frames(m)
    frames = net.shape[1]
    pairs = np.zeros((m.shape[0], 2 * frames), np.complex64)
    pairs[:, :m.shape[1]] = m
    pairs = pairs.T.reshape(frames, 2 * N_BINS)
    hops = np.zeros(frames * STFT_HOP, np.float32)
    hops[:len(speech)] = speech
    return mask_features(power(net)), np.concatenate((pairs.real, pairs.imag, hops.reshape(frames, STFT_HOP)), axis=1)


def batch(pools, rng: np.random.Generator, size: int, seconds: float):
    pairs = [example(*separation_mixture(pools, seconds, rng)[:2]) for _ in range(size)]
    return np.stack([x for x, _ in pairs]), np.stack([y for _, y in pairs]).astype(np.float32)


def loss(y_true, y_pred):
    """Negative SI-SDR of the resynthesised masked mixture: the training loss is the benchmark's
    measure. The mask reaches the synthesis grid as in `separation.to_synthesis_grid`. Mixtures
    without speech have no SI-SDR; for them the loss is the output's level relative to the
    mixture's (in dB, floored at LEAK_FLOOR_DB), so that the mask learns to close."""
    from keras import ops
    size, frames = ops.shape(y_pred)[0], ops.shape(y_pred)[1]
    length = (frames - 1) * STFT_HOP
    grid = 2 * frames - 1  # synthesis frames of `length` samples
    between = 0.5 * (y_pred + ops.concatenate((y_pred[:, 1:], y_pred[:, -1:]), axis=1))
    mask = ops.reshape(ops.stack((y_pred, between), axis=2), (size, 2 * frames, N_BINS))[:, :grid]
    re, im = (ops.reshape(y_true[..., k * 2 * N_BINS:(k + 1) * 2 * N_BINS], (size, 2 * frames, N_BINS))[:, :grid]
              for k in (0, 1))

    def istft(gain):
        return ops.istft((gain * re, gain * im), N_FFT, SYNTH_HOP, N_FFT, length=length, window="hann", center=True)
    est, mix = istft(mask), istft(1.0)
    ref = ops.reshape(y_true[..., 4 * N_BINS:], (size, -1))[:, :length]
    est = est - ops.mean(est, axis=1, keepdims=True)
    ref = ref - ops.mean(ref, axis=1, keepdims=True)
    ref_energy = ops.sum(ops.square(ref), axis=1)
    scale = ops.sum(est * ref, axis=1) / (ref_energy + 1e-10)
    target = scale[:, None] * ref
    sdr = 10.0 * ops.log10(ops.sum(ops.square(target), axis=1) + 1e-10) - \
        10.0 * ops.log10(ops.sum(ops.square(est - target), axis=1) + 1e-10)
    leak = 10.0 * ops.log10(ops.sum(ops.square(est), axis=1) / (ops.sum(ops.square(mix), axis=1) + 1e-10) + 10 ** (LEAK_FLOOR_DB / 10))
    return ops.where(ref_energy > 1e-8, -sdr, leak)


def heldout_mixtures(pools, n: int, seconds: float, seed: int):
    """The same `n` (mixture, speech) pairs of held-out clips every time; those without speech skipped."""
    rng = np.random.default_rng([seed, 999])
    for _ in range(n):
        mix, speech, _ = separation_mixture(pools, seconds, rng)
        if speech.any():
            yield mix, speech


def calibrate(sep: MagnitudeMaskSeparator, pools, seed: int) -> float:
    """The median least-squares gain from the network's output to the clean speech: the SI-SDR
    loss leaves the output level free (and the no-speech term pushes it down), so the level is
    restored by one fixed gain, measured on held-out mixtures."""
    gains = []
    for mix, speech in heldout_mixtures(pools, CALIBRATION_MIXTURES, 8.0, seed + 1):
        est = sep.separate_audio(mix)
        gains.append(float(np.dot(est, speech) / max(float(np.dot(est, est)), 1e-12)))
    return float(np.median(gains))


def evaluate(sep: MagnitudeMaskSeparator, pools, seed: int) -> dict[str, float]:
    gains = [si_sdr(sep.separate_audio(mix), speech) - si_sdr(mix, speech)
             for mix, speech in heldout_mixtures(pools, HELDOUT_MIXTURES, 8.0, seed)]
    return {"heldout_si_sdr_improvement_db": float(np.mean(gains)), "heldout_mixtures": len(gains)}


def finish(args, val_pools) -> None:
    """Calibrate the trained model's level, measure it on held-out mixtures, write config and card."""
    import keras
    sep = MagnitudeMaskSeparator(NumpyNet.load(args.out / "weights.npz"), args.out)
    sep.gain = calibrate(sep, val_pools, args.seed)
    metrics = evaluate(sep, val_pools, args.seed)
    print(sep.gain, metrics)
    config = {"task": "separation", "model": MAGNITUDE_MASK, "seed": args.seed, "keras": keras.__version__,
              "features": {"type": "log-power STFT", "sample_rate": SAMPLE_RATE, "n_fft": N_FFT, "hop": STFT_HOP,
                           "window": "hann", "scaling": MASK_FEATURES_SCALING},
              "synthesis": {"hop": SYNTH_HOP, "mask_between_frames": "mean of the two neighbours",
                            "inference": INFERENCE_GRIDS},
              "network": SPEC.to_json(), "mask_gain": sep.gain, "receptive_field_frames": 2 * SPEC.context + 1,
              "loss": "negative SI-SDR of istft(mask * X) on the synthesis grid against the clean speech; output level "
                      f"in dB (floor {LEAK_FLOOR_DB:g}) when there is no speech",
              "leak_floor_db": LEAK_FLOOR_DB, "mixture": SEPARATION_MIX.to_json(),
              "calibration_mixtures": CALIBRATION_MIXTURES, "noise_floor_seconds": FLOOR_SECONDS,
              "training": training_config(args)}
    write_card(args.out, f"{args.out.name}: speech mask for speech / background separation", config, metrics,
               describe(config), sources_for("separation"))


def describe(config: dict) -> str:
    """The card's description, from config.json's values and the network's spec."""
    f, mix, synth, gain = config["features"], config["mixture"], config["synthesis"], config["mask_gain"]
    sr, n_fft = f["sample_rate"], f["n_fft"]
    width, kernel = SPEC.layers[0].filters, SPEC.layers[1].kernel
    convs = REFINER[:-1]  # the last layer is the refiner's 1x1 output
    reach = sum((c.kernel - 1) // 2 * c.dilation for c in convs)
    kinds = mix["backgrounds"]
    ambience = kinds["noise"] + kinds["steady"]
    speeds, steady, colour = mix["speeds"], mix["steady"], mix["colour"]
    only = sum(s.separation_only for s in sources_for("separation"))

    def pct(share: float) -> str:
        return f"{round(100 * share)} %"

    def span(r: list[float], sep: str = " to ") -> str:
        return f"{r[0]:g}{sep}{r[1]:g}"
    return f"""A dilated 1-D convolutional network over {n_fft // 2 + 1} log-power STFT bins ({n_fft}-point Hann window,
{f['hop']}-sample hop at {sr / 1000:g} kHz). An input convolution and {len(DILATIONS)} residual convolutions ({width} channels,
kernel {kernel}, dilations {", ".join(map(str, DILATIONS))}) see {SPEC.context} frames (about {SPEC.context * f['hop'] / sr:.1f} s) either side, and a per-frame
layer gives one value per bin and frame. A small refiner then works along the bins of each frame: {len(convs)}
convolutions ({convs[0].filters} channels, kernels {", ".join(str(c.kernel) for c in convs)}, dilations {", ".join(str(c.dilation) for c in convs)}: {reach} bins or {reach * sr / n_fft:.0f} Hz either side) over
two channels, the input's log power and those values, and one output channel added to them. It
can follow the harmonics that the input shows, detail the full-band stack must carry through its
{width} channels. A per-bin sigmoid gives the speech mask. The mixture STFT is taken with a
{synth['hop']}-sample hop, whose every other frame is the network's: the frames between get the mean of their
neighbours' masks, and the masked STFT is inverted at {pct(1 - synth['hop'] / n_fft)} overlap, which smooths the mask's
frame-to-frame errors. Training sees the even frames only; at inference the mask is {synth['inference']}.

Training mixtures ({config['training']['seconds']:g} s) are made on the fly from real recordings: speech passages over instrumental
music ({pct(kinds['music'])}), music with sung lines ({pct(kinds['sung'])}) or ambience / effects ({pct(ambience)}), at SNRs from {mix['snr_db'][0]:g} to {mix['snr_db'][1]:+g} dB
and levels {span(mix['level_dbfs'])} dBFS, {pct(mix['telephone'])} telephone-band speech, a pink noise floor; {pct(mix['speech_free'])} have no speech at
all, and {pct(mix['paused'])} of the others pause for {span(mix['pause_seconds'], '-')} s, as between a programme's speakers. {pct(kinds['steady'] / ambience)} of
the ambience backgrounds come from the steady clips alone (at least {steady['seconds']:g} s, 100 ms
levels within {steady['range_db']:g} dB: rain, running water, fire, engines, murmur), drawn alike: among hundreds of
short effects they would otherwise be rare. {pct(mix['speed_changed'])} of the backgrounds are played faster or slower
(pitch and tempo together: ambience {span(speeds['noise'], '-')} times, music {span(speeds['music'], '-')} times), {pct(mix['recoloured'])} are recoloured (a
random tilt, {colour['gain_db'][0]:g} to {colour['gain_db'][1]:+g} dB below and above a corner of {span(colour['corner_hz'], '-')} Hz), and {pct(mix['layered'])} get a second
background {span(mix['layer_below_db'], '-')} dB quieter (ambience under music, music or ambience under ambience): the allowed packages
hold few recordings of each kind, and these give new sizes, keys and colours of the same sources.
{only} sources serve the separator only: as speech, 0 A.D.'s unit lines (men and women acting in
four languages) and Hedgewars' team voices (a dozen actors and accents, in English and four other
languages; grunts, laughs and the Singer pack left out); as backgrounds, footsteps, gates, ships and
building sounds from 0 A.D., percussion, hits and vinyl noise from Sonic Pi and Scratch, engines and
animals from SuperTuxKart's tracks. FreedroidRPG's spoken lines and SuperTuxKart's airport
announcements are left out of the effects. The loss is computed on the
waveform: the masked mixture STFT is inverted inside the graph, on the same grid as at inference, and scored by its negative scale-invariant SDR against
the clean speech, the measure the benchmark reports. For mixtures without speech it is the
output's level relative to the mixture's (dB, floored at {config['leak_floor_db']:g}), which teaches the mask to close.

That loss leaves the output's overall level free, and the no-speech term pushes it down, so the
network's mask is about {20 * np.log10(gain):.0f} dB below the speech level. One fixed gain,
`mask_gain` = {gain:.2f} in `config.json` (the median least-squares gain from the output to the
clean speech over {config['calibration_mixtures']} held-out mixtures), restores it: the separator multiplies the mask by it.

At inference the mask is also multiplied by a gain against steady background noise, estimated from
the mixture alone (`segmenter/stationary_noise.py`: minimum statistics over {config['noise_floor_seconds']:g} s). The held-out
metric below is the whole separator's, that gain included."""


def main(argv: list[str] | None = None) -> None:
    args = parse_args("python -m segmenter train-separator", __doc__, PRETRAINED / DEFAULT_SEPARATOR, argv, epochs=32, steps=250, batch=16,
                      seconds=4.0, lr=1e-3)
    train_pools, val_pools = prepare(args, "separation")
    fit(SPEC, loss, lambda rng: batch(train_pools, rng, args.batch, args.seconds), args.epochs, args.steps, args.lr,
        args.out, args.seed, init_scale=0.1, init=args.init)
    finish(args, val_pools)
