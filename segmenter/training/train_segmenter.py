"""Train the 4-class frame classifier from a recipe: `python -m segmenter train --recipe FILE`.

The recipe (see recipes/) names the sources, the mixing and codecs, the network and the stages.
A run that is stopped resumes from its last checkpoint when started again with the same --out.
After training, the output layer is calibrated on held-out programmes, and the model is scored on
other held-out programmes in the dev corpus's layout, which `--heldout-only` writes by itself
(for choosing smoothing defaults and comparing systems without touching the dev corpus).
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..features import N_MELS, config as features_config, log_mel
from ..frames import FRAME_RATE
from ..models import DEFAULT_SEGMENTER
from ..network import NetSpec, NumpyNet, conv_weights, export, tcn
from ..scoring import load_reference, reference_files
from ..segments import LABELS
from .calibration import expected_calibration_error, fit_scaling, fold_into_output, unfold_from_output
from .common import (checked_recipe, describe_stages, in_one_blas_thread, recipe_hours, recipe_parser, recipe_sources,
                     save_model, seed_everything, start_from_model, train_stages, write_card)
from .heldout_curve import CURVE_FILE, HeldoutCurve
from .mixing import LOWPASS_HZ, PAUSE_FRAMES, SEPARATION_MIX, Pool, describe_speech_clips
from .programmes import MAX_BLOCKS, ProgrammeMix, coded_bank, draw, write_heldout
from .recipe import Recipe, RecipeError, Stage
from .recipe_pools import pools_for
from .spec_augment import mask_bands
from .teacher import Teacher



def network(recipe: Recipe) -> NetSpec:
    n = recipe.network
    return tcn(N_MELS, n["width"], tuple(n["dilations"]), len(LABELS), "softmax", stride=n["stride"],
               input_kernel=n.get("input_kernel", 3))


def class_weights(recipe: Recipe) -> np.ndarray:
    return np.array([recipe.network.get("class_weights", {}).get(c, 1.0) for c in LABELS], np.float32)


# The clean-channel held-out set: the same held-out voices and backgrounds, mixed as the recipe
# mixes them, but without codecs or channel effects (as broadcast masters reach an archive).
CLEAN_CHANNEL = {"telephone": 0.0, "lowpass": 0.0, "tilt": 0.0, "level": 0.0, "codec": 0.0}


def heldout_dir(recipe: Recipe, cache: Path, val_pools: dict[str, Pool], mix: ProgrammeMix,
                clean_channel: bool = False, programmes: int | None = None, seed: int | None = None) -> Path:
    """The recipe's held-out programmes (written on first use): its channel, or with `clean_channel`
    the same draws without codecs and channel effects. `programmes` and `seed` draw another set from
    the same held-out pools: a larger one tells models apart more finely than the recipe's own."""
    h = recipe.heldout
    name = (f"{recipe.name}-{recipe.sha256[:12]}" + (f"-p{programmes}" if programmes is not None else "")
            + (f"-s{seed}" if seed is not None else "") + ("-clean" if clean_channel else ""))
    mix = mix.unvaried()
    if clean_channel:
        mix = replace(mix, **CLEAN_CHANNEL)
    return write_heldout(val_pools, cache / "heldout" / name, h["programmes"] if programmes is None else programmes,
                         h["seconds"], h["seed"] if seed is None else seed, mix,
                         [] if clean_channel else list(recipe.codecs.get("names", [])))


def examples(pools: dict[str, Pool], n: int, seconds: float, rng: np.random.Generator, mix: ProgrammeMix,
             bank: list) -> tuple[list[np.ndarray], list[np.ndarray]]:
    drawn = [draw(pools, seconds, rng, mix, bank) for _ in range(n)]
    return [a for a, _ in drawn], [y for _, y in drawn]


def calibrate(net: NumpyNet, pools: dict[str, Pool], n: int, seed: int, mix: ProgrammeMix,
              bank: list) -> tuple[float, np.ndarray]:
    """Temperature and class biases fitted on n held-out 8 s programmes (a `mix.codec` share coded;
    backgrounds not varied, as the held-out programmes')."""
    audio, labels = examples(pools, n, 8.0, np.random.default_rng([seed, 8001]), mix.unvaried(), bank)
    log_probs = np.concatenate([np.log(net.forward(log_mel(a)) + 1e-7) for a in audio])
    return fit_scaling(log_probs, np.concatenate(labels).astype(int))


def score_heldout(net: NumpyNet, folder: Path) -> dict[str, float]:
    """Frame metrics on the held-out programmes, before any smoothing: speech at P >= 0.5, the
    4 classes by argmax, and the calibration error of P(speech)."""
    import soundfile as sf
    from ..scoring import labels_to_frames
    probs, speech, classes = [], [], []
    for ref_json in reference_files(folder):
        ref, frames = load_reference(ref_json)
        audio, _ = sf.read(ref_json.with_suffix(".wav"), dtype="float32")
        p = net.forward(log_mel(audio))[:len(frames)]
        probs.append(p)
        speech.append(frames)
        classes.append(labels_to_frames(ref["segments"], len(frames)))
    p, truth, cls = np.concatenate(probs), np.concatenate(speech), np.concatenate(classes)
    hyp = p[:, 0] >= 0.5
    tp, fp, fn = int(np.sum(hyp & truth)), int(np.sum(hyp & ~truth)), int(np.sum(~hyp & truth))
    valid = cls >= 0
    return {"heldout_speech_f1_frames": 2 * tp / max(1, 2 * tp + fp + fn),
            "heldout_detection_error_rate_frames": (fp + fn) / max(1, tp + fn),
            "heldout_frame_accuracy_4class": float(np.mean(p[valid].argmax(axis=1) == cls[valid])),
            "heldout_speech_calibration_error": expected_calibration_error(p[:, 0], truth),
            "heldout_programmes": len(probs), "heldout_hours": len(p) / FRAME_RATE / 3600,
            "classes": list(LABELS)}


# what the held-out curve follows
CURVE_COLUMNS = ("heldout_speech_f1_frames", "heldout_detection_error_rate_frames", "heldout_frame_accuracy_4class",
                 "heldout_speech_calibration_error")


def describe(config: dict) -> str:
    """The card's description, from config.json's values."""
    net, mix, codecs, features = config["network"], config["mixing"], config["codecs"], config["features"]
    projection, blocks = net["layers"][0], [l for l in net["layers"] if l["residual"]]
    width = projection["filters"]
    kernels = "/".join(str(k) for k in sorted({l["kernel"] for l in blocks}))
    dilations = ", ".join(str(l["dilation"]) for l in blocks)
    frame_seconds = features["hop"] / features["sample_rate"]
    window_ms = 1000 * features["n_fft"] / features["sample_rate"]
    lowpass_khz = "-".join(f"{hz / 1000:g}" for hz in LOWPASS_HZ)
    reach = sum(l["kernel"] // 2 * l["dilation"] for l in net["layers"]) * net["stride"] * frame_seconds
    steps = sum(s["steps"] for s in config["stages"])
    stages = describe_stages(config["stages"])
    bw = ", ".join(f"{k.replace('_', ' over ')} {v:g}" for k, v in mix["block_weights"].items())
    cal = config["calibration"]
    curve = ("\nThe held-out curve scores the network as it was at each of its steps, before this calibration."
             if config.get("heldout_curve") else "")
    zeros = (f"\nIn {mix['digital_silence']:.0%} of programmes, stretches of exact zeros (25 ms or more) stay exact through the channel."
             if mix.get("digital_silence") else "")
    equalised = f", and {mix['equalise']:.0%} of those equalised by 1-3 random peaking filters" if mix.get("equalise") else ""
    varied = (f"\n{mix['varied']:.0%} of the music, sung-music and noise backgrounds are varied as a separator's are "
              f"({SEPARATION_MIX.speed_changed:.0%} played faster or slower, {SEPARATION_MIX.recoloured:.0%} recoloured)"
              f"{equalised}; held-out and calibration programmes are not."
              if mix.get("varied") else "")
    return f"""A dilated 1-D convolutional network over {net['input_dim']} log-mel energies every {1000 * frame_seconds:g} ms ({window_ms:g} ms windows).
{net['stride']} frames are stacked into one step; an input convolution with kernel {projection['kernel']} and {len(blocks)} residual convolutions
({width} channels, kernel {kernels}, dilations {dilations}) see {reach:.2f} s either side, and a softmax per step
gives {", ".join(f"P({c})" for c in config["labels"])} for each of its frames. {config['parameters']:,} parameters.

Training examples are mini-programmes mixed on the fly from real recordings, 1-{MAX_BLOCKS} blocks each, drawn
with weights {bw}. Block levels {mix['block_level_db'][0]:g} to {mix['block_level_db'][1]:g} dBFS, speech {mix['snr_db'][0]:g} to
{mix['snr_db'][1]:g} dB over its background, {mix['telephone']:.0%} of speech passages band-limited as telephone speech.
Each programme's channel: {mix['lowpass']:.0%} low-passed at {lowpass_khz} kHz, {mix['tilt']:.0%} given a random spectral
tilt, {mix['level']:.0%} moved to a level of {mix['level_db'][0]:g} to {mix['level_db'][1]:g} dBFS, and {mix['codec']:.0%} of every batch drawn
from a bank of {codecs['bank']} programmes of {codecs['seconds']:g} s (chained or cut to length) coded with real codecs through ffmpeg ({", ".join(codecs['names'])}).{zeros}{varied}
Speech is labelled where it is present (pauses under {PAUSE_FRAMES * frame_seconds * 1000:g} ms bridged); singing is music.{describe_speech_clips(mix.get("speech_clips", "all"))}
Classes weigh {", ".join(f"{c} {w:g}" for c, w in zip(config['labels'], config['class_weights']))} in the loss.{distilled(config.get("teacher"))}

Training: {stages} ({steps} steps in all), Adam with gradient clipping, resumable from checkpoints.
Then the output layer was calibrated (temperature {cal['temperature']:.3f} and a bias per class, fitted by
log-likelihood on {cal['programmes']} held-out programmes and folded into the weights), so that P(speech) = 0.5
is the natural threshold.{curve}"""


def distilled(teacher: dict | None) -> str:
    """The card's sentence on the training targets when a teacher made part of them."""
    if not teacher:
        return ""
    return (f"\nEach frame's target is {1 - teacher['share']:.0%} its label and {teacher['share']:.0%} the probabilities of "
            f"`{teacher['model']}`\n(knowledge distillation; weights.npz sha256 {teacher['weights_sha256'][:12]}...), "
            f"trained on the same sources and held-out split.")


def uncalibrated(model, config: dict) -> None:
    """The network of a model folder as training left it, before its calibration."""
    cal = config["calibration"]
    unfold_from_output(model, cal["temperature"], np.asarray(cal["bias"], np.float32))


def check_recipe(recipe: Recipe) -> None:
    """Raise on mixing, a [loss] table, a stage's own sources, network or mixing, band masks wider than
    the features, a network this trainer cannot use, or a teacher that is not the model the recipe pins."""
    ProgrammeMix.from_recipe(recipe.mixing)
    Teacher.from_recipe(recipe, LABELS)
    if recipe.loss or any(s.loss for s in recipe.stages):
        raise RecipeError(f"recipe {recipe.path}: loss weights are a separator recipe's (this trainer's are fixed)")
    if any(s.sources for s in recipe.stages):
        # its codec bank is coded once from the recipe's sources, before the stages
        raise RecipeError(f"recipe {recipe.path}: a stage's own sources are a separator recipe's "
                          f"(this trainer draws every stage from [sources])")
    if any(s.network for s in recipe.stages):
        raise RecipeError(f"recipe {recipe.path}: a stage's own network is a separator recipe's "
                          f"(this trainer's network is [network]'s in every stage)")
    if any(s.band_mask_width > N_MELS for s in recipe.stages):
        raise RecipeError(f"recipe {recipe.path}: a stage's band_mask_width is more than the {N_MELS} mel bands")
    if any(s.mixing for s in recipe.stages):
        raise RecipeError(f"recipe {recipe.path}: a stage's own mixing is a separator recipe's "
                          f"(this trainer mixes every stage as [mixing] says)")
    network(recipe)


def main(argv: list[str] | None = None) -> None:
    ap = recipe_parser("python -m segmenter train", __doc__, f"recipes/{DEFAULT_SEGMENTER}.toml")
    ap.add_argument("--heldout-only", action="store_true",
                    help="only write the held-out programmes and print their folder")
    ap.add_argument("--clean-channel", action="store_true",
                    help="with --heldout-only: the same held-out programmes without codecs or channel effects")
    ap.add_argument("--heldout-programmes", type=int, metavar="N",
                    help="with --heldout-only: N programmes instead of the recipe's [heldout] programmes")
    ap.add_argument("--heldout-seed", type=int, metavar="SEED",
                    help="with --heldout-only: this seed instead of the recipe's [heldout] seed")
    args = ap.parse_args(argv)
    if (args.heldout_programmes is not None or args.heldout_seed is not None) and not args.heldout_only:
        ap.error("--heldout-programmes and --heldout-seed go with --heldout-only")
    recipe, out = checked_recipe(ap, args, "segmentation", check_recipe, writes_model=not args.heldout_only)
    if not args.heldout_only:
        start_from_model(ap, args, recipe, out, CURVE_COLUMNS, untrained=uncalibrated)
    mix = ProgrammeMix.from_recipe(recipe.mixing)
    train_pools, val_pools = pools_for(recipe, args.cache, mix.speech_clips)
    if args.heldout_only:
        print(heldout_dir(recipe, args.cache, val_pools, mix, args.clean_channel, args.heldout_programmes,
                          args.heldout_seed))
        return
    in_one_blas_thread(train, recipe, out, args.cache, train_pools.of_recipe(), val_pools)


def train(recipe: Recipe, out: Path, cache: Path, train_pools: dict[str, Pool], val_pools: dict[str, Pool]) -> dict:
    """Train, calibrate, score and write the model folder; the held-out metrics."""
    import keras
    mix = ProgrammeMix.from_recipe(recipe.mixing)
    codecs = list(recipe.codecs.get("names", []))
    seed_everything(recipe.seed)
    spec, weights = network(recipe), class_weights(recipe)
    teacher = Teacher.from_recipe(recipe, LABELS)
    # the bank depends on the sources (and the mixing, codecs and seed that coded_bank adds), not on the stages
    data_key = json.dumps(recipe.sources, sort_keys=True)
    bank = (coded_bank(train_pools, codecs, recipe.codecs["bank"], recipe.codecs["seconds"], recipe.seed, mix, cache,
                       data_key) if mix.codec > 0 else [])

    def batch(stage: Stage, rng: np.random.Generator):
        audio, labels = examples(train_pools, stage.batch, stage.seconds, rng, mix, bank)
        y = np.stack(labels).astype(np.int32)
        features = np.stack([log_mel(a) for a in audio])
        heard = mask_bands(features, stage.band_masks, stage.band_mask_width, rng) if stage.band_masks else features
        x = heard.reshape(stage.batch, -1, spec.stride * N_MELS)
        return x, (teacher.targets(features, y) if teacher else y), weights[y]

    heldout = heldout_dir(recipe, cache, val_pools, mix)
    curve = HeldoutCurve(out / CURVE_FILE, recipe.stages, CURVE_COLUMNS,
                         lambda model, stage: score_heldout(NumpyNet(spec, conv_weights(model, spec)), heldout))
    loss = "categorical_crossentropy" if teacher else "sparse_categorical_crossentropy"
    model = train_stages(spec, lambda stage: loss, recipe.stages, batch, out, recipe.seed,
                         init_scale=recipe.network.get("init_scale", 1.0), after_epoch=curve)
    n_cal = recipe.heldout["calibration"]
    val_bank = (coded_bank(val_pools, codecs, max(1, n_cal // 4), 8.0, recipe.seed, mix, cache, "heldout" + data_key)
                if codecs else [])
    export(model, spec, out / "weights.npz")
    temperature, bias = calibrate(NumpyNet.load(out / "weights.npz"), val_pools, n_cal, recipe.seed, mix, val_bank)
    fold_into_output(model, temperature, bias)
    save_model(model, spec, out)
    metrics = score_heldout(NumpyNet.load(out / "weights.npz"), heldout)
    sources = recipe_sources(recipe)
    print(metrics, flush=True)
    config = {"task": "segmentation", "labels": list(LABELS), **recipe.record(), "seed": recipe.seed,
              "keras": keras.__version__,
              "features": features_config(),
              "network": spec.to_json(), "parameters": int(model.count_params()),
              "receptive_field_frames": 2 * spec.context * spec.stride + 1,
              "init_scale": recipe.network.get("init_scale", 1.0),
              "class_weights": weights.tolist(), **({"teacher": teacher.record()} if teacher else {}),
              "sources": recipe.sources, "mixing": mix.to_json(),
              "codecs": {"names": codecs, "bank": recipe.codecs.get("bank", 0), "seconds": recipe.codecs.get("seconds")},
              "stages": [vars(s) for s in recipe.stages], "heldout": recipe.heldout,
              "source_hours": recipe_hours(recipe, cache),
              "calibration": {"temperature": temperature, "bias": bias.tolist(), "programmes": n_cal},
              "heldout_curve": curve.rows()}
    write_card(out, f"{recipe.name}: {recipe.title}", config, metrics, describe(config), sources)
    return metrics
