"""Train separator-v2 from a recipe: `python -m segmenter train-separator --recipe recipes/separator-v2.toml`.

The recipe (see recipes/) names the sources, the mixing shares, the codecs, the network and the
stages. A run that is stopped resumes from its last checkpoint when started again with the same
--out. After training, the model is scored on a fixed, seeded set of held-out mixtures made from
the training sources' held-out groups (never the dev corpus).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from .. import cmask
from ..cmask_net import CmaskNet, CmaskSpec, build_keras, export, grown, weights_of
from ..models import DEFAULT_SEPARATOR
from ..scoring import si_sdr
from .codecs import code_many
from .common import (checked_recipe, describe_stages, in_one_blas_thread, recipe_hours, recipe_parser, recipe_sources,
                     save_model, seed_everything, start_from_model, train_stages, write_card)
from .heldout_curve import CURVE_FILE, HeldoutCurve
from .mixing import SEPARATION_MIX, SPEECH_CLIPS, Pool, describe_speech_clips, separation_mixture, set_level
from .recipe import Recipe, RecipeError, Stage
from .recipe_pools import StagePools, pools_for

Kind = Literal["mixture", "clean", "speech-free"]
MIN_SPEECH_FREE = 0.15
# The loss (GTCRN's hybrid loss): compressed complex MSE and compressed magnitude MSE, on spectra
# scaled by the mixture's RMS, plus the negative SI-SDR in bels, capped. A recipe's [loss] table may
# change these weights and add a log-mel distance on a recogniser's filterbank (`log_mel_bels`), or
# an extra cost on speech taken away (`over_suppression`: the compressed magnitude MSE where the
# estimate falls below the speech, VoiceFilter-Lite's asymmetric loss, there for a recogniser's sake).
LOSS_WEIGHTS = {"complex": 30.0, "magnitude": 70.0, "si_sdr_bels": 1.0, "log_mel_bels": 0.0,
                "over_suppression": 0.0}
# pocketsphinx's en-us front end: 40 mel filters from 133.33 to 6855.5 Hz over a 512-point FFT at 16 kHz
ASR_MEL = {"n_mels": 40, "fmin": 133.33, "fmax": 6855.5}
# Band powers are floored this far below the mixture's mean band power (30 dB): SI-SDR barely sees
# residue in quiet stretches and bands, a recogniser's log features do, down to about such a floor.
LOG_MEL_FLOOR = 1e-3
SI_SDR_CAP_DB = 30  # clean speech cannot pull the loss without bound
SDR_CAP = 10 ** (-SI_SDR_CAP_DB / 10)  # the error energy's floor, relative to the target's


@dataclass(frozen=True)
class MixShares:
    """What share of the examples are speech-free backgrounds, clean speech (which must come out
    untouched), and coded with a real codec; the rest are speech over a background. A share of all
    (`digital_silence`) also get a stretch of exact zeros, as at a file's start or an edit: clean
    speech holds such pauses too, and without them the network reads zeros as a clean recording
    and passes the background that follows them. `speech_clips` names the speech clips used, as a
    key of `mixing.SPEECH_CLIPS` ("quiet": none whose hiss the target would teach it to keep).
    `equalise` is the share of backgrounds `mixing.equalised`, in training only: the held-out
    examples stay those of a recipe without it, so that the two runs' held-out curves compare."""
    speech_free: float = MIN_SPEECH_FREE
    clean: float = 0.1
    codec: float = 0.2
    digital_silence: float = 0.0
    speech_clips: str = "all"
    equalise: float = 0.0

    def __post_init__(self) -> None:
        if not (MIN_SPEECH_FREE <= self.speech_free and 0 <= self.clean and self.speech_free + self.clean < 1
                and all(0 <= v <= 1 for v in (self.codec, self.digital_silence, self.equalise))
                and self.speech_clips in SPEECH_CLIPS):
            raise RecipeError(f"mixing shares must have speech_free >= {MIN_SPEECH_FREE}, clean >= 0, "
                              f"their sum < 1, codec, digital_silence and equalise within 0-1, and speech_clips one "
                              f"of {sorted(SPEECH_CLIPS)}: {self}")

    @classmethod
    def from_recipe(cls, mixing: dict) -> "MixShares":
        try:
            return cls(**mixing)
        except TypeError as e:
            raise RecipeError(f"[mixing]: {e}") from None


LAYOUT_KEYS = ("full_bins", "erb_bands", "df_taps")
GROWABLE = {"df_taps"}  # what a stage's `network` may set: `cmask_net.grown` adds a deep filter's taps


def band_layout(recipe: Recipe, stage: int = -1) -> cmask.BandLayout:
    """The layout of stage `stage` (the last by default): the recipe's [network] full_bins, erb_bands
    and df_taps with the stages' own up to it, cmask's defaults where it names none."""
    n = recipe.stage_network(stage % len(recipe.stages))
    try:
        return cmask.BandLayout(**{k: n[k] for k in LAYOUT_KEYS if k in n})
    except ValueError as e:
        raise RecipeError(f"[network] {' / '.join(LAYOUT_KEYS)}: {e}") from None


def network(recipe: Recipe, stage: int = -1) -> CmaskSpec:
    """The network of stage `stage` (the last by default)."""
    n, lay = recipe.network, band_layout(recipe, stage)
    return CmaskSpec(lay.n_features, lay.n_outputs, n["width"], n["hidden"], tuple(n["dilations"]),
                     n.get("kernel", 3), passing=lay.bands if lay.offsets else 0)


def check_growth(recipe: Recipe) -> None:
    """Raise unless every stage's own `network` only adds a deep filter to a plain mask."""
    for i, stage in enumerate(recipe.stages):
        if set(stage.network) - GROWABLE:
            raise RecipeError(f"recipe {recipe.path}: a stage's network may set only {sorted(GROWABLE)}, "
                              f"not {sorted(set(stage.network) - GROWABLE)}")
        if i and band_layout(recipe, i) != band_layout(recipe, i - 1) and band_layout(recipe, i - 1).offsets:
            raise RecipeError(f"recipe {recipe.path}: stage {i + 1} changes a deep filter; a stage may only "
                              f"add one to a plain mask (df_taps 1)")


def example(pools: dict[str, Pool], seconds: float, rng: np.random.Generator, shares: MixShares
            ) -> tuple[np.ndarray, np.ndarray, Kind]:
    """(input, target speech, kind). Mixtures are `separation_mixture`'s with speech; speech-free
    examples are one of its backgrounds alone, at its levels; clean examples are its speech alone,
    for which the target is the input. `shares.digital_silence` of them get `with_zeros`."""
    u = rng.random()
    while True:
        mix, speech, bg = separation_mixture(pools, seconds, rng, shares.equalise)
        if u < shares.speech_free:
            drawn = (set_level(bg, rng.uniform(*SEPARATION_MIX.level_dbfs)) if speech.any() else mix), np.zeros_like(mix), "speech-free"
            break
        if speech.any():
            drawn = (speech, speech, "clean") if u < shares.speech_free + shares.clean else (mix, speech, "mixture")
            break
    if shares.digital_silence and rng.random() < shares.digital_silence:  # no draw at 0: older recipes' examples stay
        return with_zeros(*drawn, rng)
    return drawn


ZERO_SECONDS = (0.2, 1.5)  # a stretch of digital silence


def with_zeros(x: np.ndarray, target: np.ndarray, kind: Kind, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray, Kind]:
    """The example with input and target exactly zero over a stretch of ZERO_SECONDS: at the start
    (a file's) one time in three, else anywhere (an edit)."""
    n = min(len(x), int(rng.uniform(*ZERO_SECONDS) * cmask.SAMPLE_RATE))
    start = 0 if rng.random() < 1 / 3 else int(rng.integers(0, len(x) - n + 1))
    x, target = x.copy(), target.copy()
    x[start:start + n] = 0
    target[start:start + n] = 0
    return x, target, kind


def coded(drawn: list[tuple[np.ndarray, np.ndarray, Kind]], codecs: list[str], share: float,
          rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray, Kind]]:
    """A `share` of the examples through one codec (drawn per batch): the input, and the target
    speech coded alone (what the codec would give for the speech alone); a clean example's target
    is its coded input, a speech-free one's stays silent."""
    picked = [i for i in range(len(drawn)) if rng.random() < share] if codecs else []
    if not picked:
        return drawn
    codec = str(rng.choice(codecs))
    speech_of = [i for i in picked if drawn[i][2] == "mixture"]
    out = code_many([drawn[i][0] for i in picked] + [drawn[i][1] for i in speech_of], codec)
    inputs, speech = dict(zip(picked, out)), dict(zip(speech_of, out[len(picked):]))
    result = list(drawn)
    for i in picked:
        mix, target, kind = drawn[i]
        result[i] = (inputs[i], inputs[i] if kind == "clean" else speech.get(i, target), kind)
    return result


def arrays(drawn: list[tuple[np.ndarray, np.ndarray, Kind]], layout: cmask.BandLayout) -> tuple[np.ndarray, np.ndarray]:
    """Network input (features of the mixture's STFT) and the loss's target: per frame the
    mixture's and the speech's STFT, real and imaginary parts."""
    xs, ys = [], []
    for mix, speech, _ in drawn:
        m, s = cmask.stft(mix), cmask.stft(speech)
        xs.append(layout.features(m))
        ys.append(np.concatenate((m.real, m.imag, s.real, s.imag), axis=1))
    return np.stack(xs), np.stack(ys).astype(np.float32)


def _istft(re, im):
    """`cmask.istft` in Keras ops: (batch, frames, bins) -> (batch, (frames - 1) * STFT_HOP)."""
    from keras import ops
    y = ops.irfft((re, im), cmask.N_FFT) * ops.convert_to_tensor(cmask.WINDOW)
    blocks = y[:, :-1, cmask.STFT_HOP:] + y[:, 1:, :cmask.STFT_HOP]
    return ops.reshape(blocks, (ops.shape(y)[0], -1))


def masked_spectrum(z, xr, xi, layout: cmask.BandLayout):
    """`cmask.BandLayout.apply_mask` (of `bounded_mask(z)`, no limit) in Keras ops: the network's
    output z and the mixture's STFT (batch, frames, bins) -> the estimate's real and imaginary parts."""
    from keras import ops
    c, bands, f = layout.n_coefficients, layout.bands, layout.full_bins
    re, im = z[..., :c], z[..., c:]
    length = ops.sqrt(re * re + im * im + 1e-8)
    g = cmask.MAX_GAIN * ops.tanh(length) / length
    re, im = re * g, im * g
    e = ops.convert_to_tensor(layout.expansion())
    mr, mi = ops.matmul(re[..., :bands], e), ops.matmul(im[..., :bands], e)
    yr, yi = mr * xr - mi * xi, mr * xi + mi * xr
    if not layout.offsets:
        return yr, yi
    dr = di = 0.0
    for i, k in enumerate(layout.offsets):
        tr, ti = re[..., bands + i * f:bands + (i + 1) * f], im[..., bands + i * f:bands + (i + 1) * f]
        ar, ai = _shifted(xr[..., :f], k), _shifted(xi[..., :f], k)
        dr, di = dr + tr * ar - ti * ai, di + tr * ai + ti * ar
    rest = ops.zeros_like(xr[..., f:])
    return yr + ops.concatenate((dr, rest), axis=-1), yi + ops.concatenate((di, rest), axis=-1)


def _shifted(x, k: int):
    """(batch, frames, bins) -> frame t holds x's frame t + k, zeros beyond x's ends."""
    from keras import ops
    pad = [[0, 0], [0, k], [0, 0]] if k > 0 else [[0, 0], [-k, 0], [0, 0]]
    return ops.pad(x[:, k:] if k > 0 else x[:, :k], pad)


def _compressed(re, im, scale):
    """|Y|^0.3 and Y's real and imaginary parts at that magnitude, Y scaled by `scale` first."""
    from keras import ops
    re, im = re * scale, im * scale
    power = re * re + im * im + 1e-8
    gain = ops.power(power, (cmask.COMPRESS - 1) / 2)
    return ops.power(power, cmask.COMPRESS / 2), re * gain, im * gain


def loss_weights(recipe: Recipe, stage: Stage | None = None) -> dict[str, float]:
    """LOSS_WEIGHTS with the recipe's [loss] overrides, and then `stage`'s."""
    overrides = {**recipe.loss, **(stage.loss if stage else {})}
    unknown = sorted(set(overrides) - set(LOSS_WEIGHTS))
    if unknown:
        raise RecipeError(f"recipe {recipe.path}: unknown loss weights {unknown} (known: {sorted(LOSS_WEIGHTS)})")
    weights = {**LOSS_WEIGHTS, **{k: float(v) for k, v in overrides.items()}}
    if min(weights.values()) < 0:
        raise RecipeError(f"recipe {recipe.path}: loss weights must not be negative: {weights}")
    return weights


def asr_mel_matrix() -> np.ndarray:
    """(bins, mel bands): ASR_MEL's triangular filters (HTK mel scale, unnormalised) on cmask's STFT bins."""
    import librosa
    return librosa.filters.mel(sr=cmask.SAMPLE_RATE, n_fft=cmask.N_FFT, htk=True, norm=None,
                               **ASR_MEL).T.astype(np.float32)


def log_mel_distance(yr, yi, sr, si, xr, xi, mel):
    """Per example, the mean absolute difference in bels between the estimate's (y) and the speech's
    (s) band powers on `mel`, each floored at LOG_MEL_FLOOR x the mixture's (x) mean band power."""
    from keras import ops
    m = ops.convert_to_tensor(mel)
    est, ref = ops.matmul(yr * yr + yi * yi, m), ops.matmul(sr * sr + si * si, m)
    floor = LOG_MEL_FLOOR * ops.mean(ops.matmul(xr * xr + xi * xi, m), axis=(1, 2), keepdims=True) + 1e-12
    return ops.mean(ops.abs(ops.log10(est + floor) - ops.log10(ref + floor)), axis=(1, 2))


def make_loss(weights: dict[str, float], layout: cmask.BandLayout):
    """The training loss with these weights, for a network's mask on `layout` (a function named
    `loss`, as checkpoints record it)."""
    mel = asr_mel_matrix() if weights["log_mel_bels"] else None

    def loss(y_true, y_pred):
        return _loss(y_true, y_pred, weights, mel, layout)
    return loss


def _loss(y_true, y_pred, w: dict[str, float], mel: np.ndarray | None, layout: cmask.BandLayout):
    """Compressed complex and magnitude MSE (spectra scaled by the mixture's RMS, so every level
    counts alike), the magnitude MSE again where the estimate is below the speech (with a weight of its own),
    plus the negative SI-SDR of the resynthesised speech, in bels, capped at SI_SDR_CAP_DB,
    and with `mel`, the log-mel distance. With no speech there is no SI-SDR nor log-mel distance,
    and the MSE alone teaches the mask to close: a log-level term there has a gradient that grows
    as the output falls, and in a short run it closed the mask on speech too (output 15-24 dB
    below the mixture)."""
    from keras import ops
    b = cmask.N_BINS
    xr, xi, sr, si = (y_true[..., k * b:(k + 1) * b] for k in range(4))
    yr, yi = masked_spectrum(y_pred, xr, xi, layout)
    scale = 1.0 / ops.sqrt(ops.mean(xr * xr + xi * xi, axis=(1, 2), keepdims=True) + 1e-12)
    cy, ayr, ayi = _compressed(yr, yi, scale)
    cs, asr, asi = _compressed(sr, si, scale)
    magnitude = ops.mean(ops.square(cy - cs), axis=(1, 2))
    complex_ = ops.mean(ops.square(ayr - asr) + ops.square(ayi - asi), axis=(1, 2))
    est, ref = _istft(yr, yi), _istft(sr, si)
    est = est - ops.mean(est, axis=1, keepdims=True)
    ref = ref - ops.mean(ref, axis=1, keepdims=True)
    ref_energy = ops.sum(ops.square(ref), axis=1)
    target = (ops.sum(est * ref, axis=1) / (ref_energy + 1e-10))[:, None] * ref
    t_energy = ops.sum(ops.square(target), axis=1)
    sdr_bels = ops.log10((t_energy + 1e-10) / (ops.sum(ops.square(est - target), axis=1) + SDR_CAP * t_energy + 1e-10))
    speech = ref_energy > 1e-8
    total = (w["complex"] * complex_ + w["magnitude"] * magnitude
             + w["si_sdr_bels"] * ops.where(speech, -sdr_bels, 0.0))
    if w["over_suppression"]:  # the part of `magnitude` below the speech, again
        total = total + w["over_suppression"] * ops.mean(ops.square(ops.relu(cs - cy)), axis=(1, 2))
    if mel is not None:
        total = total + w["log_mel_bels"] * ops.where(speech, log_mel_distance(yr, yi, sr, si, xr, xi, mel), 0.0)
    return total


def heldout_set(pools: dict[str, Pool], recipe: Recipe, shares: MixShares) -> list[tuple[np.ndarray, np.ndarray, Kind]]:
    """The same `[heldout] mixtures` examples of `seconds` every time (seeded), from held-out clips;
    the shares of the training examples, no codecs and no `equalise`."""
    h = recipe.heldout
    rng = np.random.default_rng(h["seed"])
    plain = replace(shares, equalise=0.0)
    return [example(pools, h["seconds"], rng, plain) for _ in range(h["mixtures"])]


INAUDIBLE_DB = 40.0  # a background this far under its speech leaves nothing to separate


def speech_to_background_db(mix: np.ndarray, speech: np.ndarray) -> float:
    """The energy ratio of an example's speech to its background (mix - speech), in dB."""
    background = np.sum((mix.astype(np.float64) - speech) ** 2)
    return float(10 * np.log10(np.sum(speech.astype(np.float64) ** 2) / (background + 1e-12)))


def scored_kind(mix: np.ndarray, speech: np.ndarray, kind: Kind) -> Kind:
    """How the held-out scores count an example: a mixture whose background lies INAUDIBLE_DB or
    more under its speech (a silent stretch of a background clip, say) counts as clean speech,
    since an SI-SDR improvement on it measures only the damage done."""
    if kind == "mixture" and speech_to_background_db(mix, speech) >= INAUDIBLE_DB:
        return "clean"
    return kind


def evaluate(sep: cmask.ComplexMaskSeparator, examples: list[tuple[np.ndarray, np.ndarray, Kind]]) -> dict:
    """SI-SDR improvement on the mixtures; SI-SDR of the output against the input on clean speech
    (how untouched it comes out); output level relative to the input where no one speaks."""
    gains, clean, residual = [], [], []
    for mix, speech, kind in examples:
        est = sep.separate_audio(mix)
        kind = scored_kind(mix, speech, kind)
        if kind == "mixture":
            gains.append(si_sdr(est, speech) - si_sdr(mix, speech))
        elif kind == "clean":
            clean.append(si_sdr(est, speech))
        else:
            residual.append(10 * np.log10(np.sum(est.astype(np.float64) ** 2) / (np.sum(mix.astype(np.float64) ** 2) + 1e-12) + 1e-12))
    return {"heldout_si_sdr_improvement_db": float(np.mean(gains)), "heldout_mixtures": len(gains),
            "heldout_clean_speech_si_sdr_db": float(np.mean(clean)) if clean else float("nan"),
            "heldout_clean_examples": len(clean),
            "heldout_speech_free_output_db": float(np.mean(residual)) if residual else float("nan"),
            "heldout_speech_free_examples": len(residual)}


# what the held-out curve follows
CURVE_COLUMNS = ("heldout_si_sdr_improvement_db", "heldout_clean_speech_si_sdr_db", "heldout_speech_free_output_db")


def _loss_term(config: dict, key: str, what: str) -> str:
    """The card's " + weight x what" for a loss term that the recipe or some of its stages weight, else ""."""
    weight = config["loss"]["weights"].get(key)
    if weight:
        return f" + {weight:g} x {what}"
    if any(s.get("loss", {}).get(key) for s in config["stages"]):
        return f" + (in the stages that weight it, below) {what}"
    return ""


def _equalised_sentence(config: dict) -> str:
    """The card's line on `equalise` (`mixing.equalised`), the recipe's or its stages', if any."""
    shares = [{**config["mixing"], **s.get("mixing", {})}.get("equalise", 0.0) for s in config["stages"]]
    if not any(shares):
        return ""
    eq = config["mixture"]["equaliser"]
    where = (f"{shares[0]:.0%} of the backgrounds" if len(set(shares)) == 1 else "a share of the backgrounds ("
             + ", ".join(f"stage {i + 1}: {v:.0%}" for i, v in enumerate(shares)) + ")")
    return (f"\nIn training, {where} (each layer) go through {eq['filters'][0]}-{eq['filters'][1]} peaking "
            f"filters at random centres ({eq['centre_hz'][0]:g}-{eq['centre_hz'][1]:g} Hz), gains "
            f"({eq['gain_db'][0]:+g} to {eq['gain_db'][1]:+g} dB) and Q ({eq['q'][0]:g}-{eq['q'][1]:g}).")


def describe(config: dict) -> str:
    """The card's description, from config.json's values."""
    net, stft, mix, codecs = config["network"], config["stft"], config["mixing"], config["codecs"]
    steps = sum(s["steps"] for s in config["stages"])
    stages = describe_stages(config["stages"])
    bands = config["bands"]
    reach = config["receptive_field_frames"] // 2 * stft["hop"] / stft["sample_rate"]
    w = config["loss"]["weights"]
    extra_terms = (_loss_term(config, "log_mel_bels", (
        f"the mean absolute log-mel distance in bels ({ASR_MEL['n_mels']} mel bands from {ASR_MEL['fmin']:g} to "
        f"{ASR_MEL['fmax']:g} Hz, pocketsphinx's front end; band powers floored "
        f"{-10 * np.log10(config['loss']['log_mel_floor']):g} dB below the mixture's mean)"))
        + _loss_term(config, "over_suppression", "the compressed magnitude MSE where the estimate falls below the "
                     "speech (speech taken away costs more than background left, for a recogniser's sake)"))
    taps = bands.get("df_taps", 1)
    deep_filter = (f"; each of the {bands['full_bins']} full-resolution bins also gets a complex coefficient for "
                   f"each of the {taps - 1} frames around it ({taps // 2} either side), which weights that frame's bin "
                   f"(deep filtering)" if taps > 1 else "")
    snr = config["mixture"]["snr_db"]
    zeros = (f"\n{mix['digital_silence']:.0%} of all examples hold a stretch of exact zeros in input and target "
             f"({ZERO_SECONDS[0]:g}-{ZERO_SECONDS[1]:g} s, at the start one time in three)."
             if mix.get("digital_silence") else "")
    equalised = _equalised_sentence(config)
    return f"""A complex ratio mask on a compact frequency axis. The mixture's STFT ({stft['n_fft']}-point square-root Hann window,
{stft['hop']}-sample hop at {stft['sample_rate'] // 1000} kHz) is described per frame by {net['inputs']} features: the log power of {bands['full_bins'] + bands['erb_bands']} bands
(each of the {bands['full_bins']} bins below {bands['full_bins'] * stft['sample_rate'] / stft['n_fft'] / 1000:.2f} kHz, then {bands['erb_bands']} ERB-spaced bands up to {stft['sample_rate'] // 2000} kHz) and the
power-law compressed (|X|^{stft['compress']:g}) real and imaginary parts of the {bands['full_bins']} full-resolution bins.
An input projection to {net['width']} channels and {len(net['dilations'])} residual blocks (layer norm, 1x1 convolution to
{net['hidden']} channels, dilated depthwise convolution over time with kernel {net['kernel']} and dilations
{", ".join(map(str, net['dilations']))}, 1x1 convolution back to {net['width']}) see {reach:.2f} s either side; a last
1x1 convolution gives a complex mask per band and frame, its magnitude bounded by {config['max_gain']:g}
(tanh). The mask is spread to the bins by linear interpolation between band centres, multiplies the
mixture's STFT (magnitude and phase){deep_filter}, and the result is inverted by overlap-add.
{config['parameters']:,} parameters; {config['macs_per_second'] / 1e6:.1f} M multiply-accumulates per second of audio.

Training examples ({mix['speech_free']:.0%} speech-free backgrounds, {mix['clean']:.0%} clean speech that must come out as it went in, the
rest speech over music, sung music or ambience at {snr[0]:g} to {snr[1]:+g} dB SNR, as `separation_mixture` makes
them) are mixed on the fly from real recordings; {mix['codec']:.0%} of them are coded with a real codec through ffmpeg
(one per batch, from {", ".join(codecs['names'])}), the target speech coded alone.{zeros}{equalised}{describe_speech_clips(mix.get('speech_clips', 'all'))}
The loss is {w['complex']:g} x the compressed complex MSE + {w['magnitude']:g} x the compressed magnitude MSE (spectra
scaled by the mixture's RMS, |Y|^{stft['compress']:g}) + {w['si_sdr_bels']:g} x the negative SI-SDR in bels (capped at {config['loss']['si_sdr_cap_db']:g} dB){extra_terms};
without speech, the MSE terms alone.

Training: {stages} ({steps} steps in all), Adam with gradient clipping, resumable from checkpoints.
The held-out metrics come from {config['heldout']['mixtures']} fixed, seeded {config['heldout']['seconds']:g} s examples of the
training sources' held-out clips (voices and recordings never trained on), with the training shares
and no codecs."""


def train(recipe: Recipe, out: Path, cache: Path, train_pools: StagePools, val_pools: dict[str, Pool]) -> dict:
    """Train, score and write the model folder; the held-out metrics."""
    import keras
    shares = MixShares.from_recipe(recipe.mixing)
    codecs = list(recipe.codecs.get("names", []))
    seed_everything(recipe.seed)
    n = range(len(recipe.stages))
    specs, layouts = [network(recipe, i) for i in n], [band_layout(recipe, i) for i in n]
    spec, lay = specs[-1], layouts[-1]

    mixes = [MixShares.from_recipe(recipe.stage_mixing(s)) for s in recipe.stages]

    def index(stage: Stage) -> int:
        return next(i for i, s in enumerate(recipe.stages) if s is stage)  # train_stages passes the recipe's own

    def batch(stage: Stage, rng: np.random.Generator):
        pools, mix = train_pools(stage), mixes[index(stage)]
        drawn = [example(pools, stage.seconds, rng, mix) for _ in range(stage.batch)]
        return arrays(coded(drawn, codecs, mix.codec, rng), lay)

    def stage_loss(stage: Stage):
        return make_loss(loss_weights(recipe, stage), layouts[index(stage)])

    heldout = heldout_set(val_pools, recipe, shares)
    curve = HeldoutCurve(out / CURVE_FILE, recipe.stages, CURVE_COLUMNS, lambda model, i: evaluate(
        cmask.ComplexMaskSeparator(CmaskNet(specs[i], weights_of(model)), layout=layouts[i]), heldout))
    model = train_stages(specs, stage_loss, recipe.stages, batch, out, recipe.seed,
                         init_scale=recipe.network.get("init_scale", 1.0), build=build_keras, after_epoch=curve,
                         carry=grown)
    save_model(model, spec, out, exporter=export)
    metrics = evaluate(cmask.ComplexMaskSeparator(CmaskNet.load(out / "weights.npz"), layout=lay), heldout)
    print(metrics, flush=True)
    config = {"task": "separation", "model": cmask.MODEL_KIND, **recipe.record(), "seed": recipe.seed,
              "keras": keras.__version__,
              "stft": {"sample_rate": cmask.SAMPLE_RATE, "n_fft": cmask.N_FFT, "hop": cmask.STFT_HOP,
                       "window": "sqrt-hann", "compress": cmask.COMPRESS},
              "bands": lay.to_json(), "max_gain": cmask.MAX_GAIN,
              "network": spec.to_json(), "parameters": int(model.count_params()),
              "macs_per_second": spec.macs_per_frame() * cmask.SAMPLE_RATE / cmask.STFT_HOP,
              "receptive_field_frames": 2 * spec.context + 1,
              "sources": recipe.sources, "mixing": asdict(shares),
              "mixture": SEPARATION_MIX.to_json(), "codecs": {"names": codecs}, "heldout": recipe.heldout,
              "loss": {"weights": loss_weights(recipe), "si_sdr_cap_db": SI_SDR_CAP_DB, "asr_mel": ASR_MEL,
                       "log_mel_floor": LOG_MEL_FLOOR},
              "stages": [vars(s) for s in recipe.stages], "heldout_curve": curve.rows()}
    sources = recipe_sources(recipe)
    config["source_hours"] = recipe_hours(recipe, cache)
    write_card(out, f"{recipe.name}: {recipe.title}", config, metrics, describe(config), sources)
    return metrics


def check_recipe(recipe: Recipe) -> None:
    """Raise on mixing shares (the recipe's or a stage's), loss weights, a network this trainer
    cannot use, a teacher, or band masks."""
    MixShares.from_recipe(recipe.mixing)
    for stage in recipe.stages:
        MixShares.from_recipe(recipe.stage_mixing(stage))
        if "speech_clips" in stage.mixing:  # the speech pools are loaded once, for every stage
            raise RecipeError(f"recipe {recipe.path}: speech_clips is the recipe's [mixing], not a stage's")
    if recipe.teacher:
        raise RecipeError(f"recipe {recipe.path}: a [teacher] is a segmenter recipe's (this trainer has none)")
    if any(s.band_masks for s in recipe.stages):
        raise RecipeError(f"recipe {recipe.path}: band_masks are a segmenter stage's (this trainer's input is audio)")
    for stage in recipe.stages:
        loss_weights(recipe, stage)
    check_growth(recipe)
    network(recipe)


def main(argv: list[str] | None = None) -> None:
    ap = recipe_parser("python -m segmenter train-separator", __doc__, f"recipes/{DEFAULT_SEPARATOR}.toml")
    ap.add_argument("--snapshot", type=Path, metavar="DIR",
                    help="write the --out run's last checkpoint to DIR as a model folder to measure "
                         "(benchmarks/asr_quality.py --candidate NAME=DIR), and stop: no training")
    args = ap.parse_args(argv)
    recipe, out = checked_recipe(ap, args, "separation", check_recipe, writes_model=not args.snapshot)
    if args.snapshot:
        from .snapshot import write_snapshot
        try:
            at = write_snapshot(recipe, out, args.snapshot)["snapshot"]
        except RecipeError as e:
            ap.error(str(e))
        print(f"{args.snapshot}: {recipe.name} at step {at['step']} (stage {at['stage']} of {len(recipe.stages)})")
        return
    start_from_model(ap, args, recipe, out, CURVE_COLUMNS)
    train_pools, val_pools = pools_for(recipe, args.cache, MixShares.from_recipe(recipe.mixing).speech_clips)
    in_one_blas_thread(train, recipe, out, args.cache, train_pools, val_pools)
