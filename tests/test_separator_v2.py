"""Separator-v2: the NumPy path against Keras (a random network and the shipped one), exact chunked
streaming, a tiny recipe that trains a few steps into a complete model folder, and a tiny folder and
the shipped one through the engine, its command line and cli.py."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from segmenter import cmask
from segmenter.cmask_net import CmaskNet, CmaskSpec
from segmenter.media import SAMPLE_RATE, read_audio
from segmenter.models import DEFAULT_SEGMENTER, DEFAULT_SEPARATOR, PRETRAINED
from segmenter.separation import Separator

BANDS = cmask.DEFAULT_BANDS
TINY = """
name = "tiny-separator"
task = "separation"
title = "a test separator"
seed = 11

[sources]
festvox_ru = 1.0
wesnoth = 1.0
oad_ambient = 1.0

[network]
width = 16
hidden = 24
dilations = [1, 2]
init_scale = 0.1
full_bins = 96
erb_bands = 16

[mixing]
speech_free = 0.2
clean = 0.2
codec = 0.5
digital_silence = 0.5
equalise = 0.5

[codecs]
names = ["g711_mulaw"]

[loss]
log_mel_bels = 0.5
over_suppression = 2.0

[heldout]
mixtures = 6
seconds = 2.0
seed = 5

[[stage]]
steps = 2
batch = 3
seconds = 1.5
lr = 1e-3
checkpoint_steps = 1

"""


def random_model(spec: CmaskSpec, seed: int = 0):
    """A Keras model of `spec` with every weight random (layer norms and biases included)."""
    keras = pytest.importorskip("keras")
    from segmenter.cmask_net import build_keras
    keras.utils.set_random_seed(seed)
    model = build_keras(spec)
    rng = np.random.default_rng(seed)
    model.set_weights([(w + rng.normal(scale=0.2, size=w.shape)).astype(np.float32) for w in model.get_weights()])
    return model


def test_stft_and_its_inverse_give_back_the_input() -> None:
    x = np.random.default_rng(0).normal(scale=0.1, size=16000 + 77).astype(np.float32)
    spec = cmask.stft(x)
    assert spec.shape == (-(-len(x) // cmask.STFT_HOP) + 1, cmask.N_BINS)
    np.testing.assert_allclose(cmask.istft(spec, len(x)), x, atol=1e-6)


@pytest.mark.parametrize("layout", [BANDS, cmask.BandLayout(128, 16)], ids=str)
def test_the_compact_axis_keeps_low_bins_and_interpolates_above(layout: cmask.BandLayout) -> None:
    e = layout.expansion()
    assert e.shape == (layout.bands, cmask.N_BINS)
    np.testing.assert_allclose(e.sum(axis=0), 1, atol=1e-6)
    np.testing.assert_array_equal(e[:layout.full_bins, :layout.full_bins], np.eye(layout.full_bins))
    x = cmask.stft(np.random.default_rng(0).normal(scale=0.05, size=4000).astype(np.float32))
    assert layout.features(x).shape == (len(x), layout.n_features)
    for bad in ((1, 32), (64, 0), (64, 200), (64.0, 32)):
        with pytest.raises(ValueError, match="a band layout needs"):
            cmask.BandLayout(*bad)


def test_numpy_inference_matches_keras(tmp_path: Path) -> None:
    from segmenter.cmask_net import export
    spec = CmaskSpec(BANDS.n_features, 2 * BANDS.bands, 16, 24, (1, 4, 2))
    model = random_model(spec)
    export(model, spec, tmp_path / "weights.npz")
    net = CmaskNet.load(tmp_path / "weights.npz")
    x = BANDS.features(cmask.stft(np.random.default_rng(1).normal(scale=0.05, size=16000).astype(np.float32)))
    np.testing.assert_allclose(net.forward(x), model.predict(x[None], verbose=0)[0], atol=2e-4, rtol=1e-4)


def test_the_shipped_export_matches_its_keras_model() -> None:
    keras = pytest.importorskip("keras")
    d = PRETRAINED / DEFAULT_SEPARATOR
    net = CmaskNet.load(d / "weights.npz")
    model = keras.models.load_model(d / "model.keras", compile=False)
    x = BANDS.features(cmask.stft(np.random.default_rng(2).normal(scale=0.05, size=32000).astype(np.float32)))
    np.testing.assert_allclose(net.forward(x), model.predict(x[None], verbose=0)[0], atol=2e-4, rtol=1e-4)


def test_the_loss_resynthesis_matches_numpy() -> None:
    pytest.importorskip("keras")
    from keras import ops
    from segmenter.training.train_separator_v2 import _istft
    x = np.random.default_rng(2).normal(scale=0.1, size=(2, 8000)).astype(np.float32)
    spec = np.stack([cmask.stft(a) for a in x])
    y = ops.convert_to_numpy(_istft(spec.real, spec.imag))
    np.testing.assert_allclose(y[:, :8000], x, atol=1e-5)


DEEP = cmask.BandLayout(64, 32, 5)  # deep filtering of the full-resolution bins over 5 frames


def test_a_deep_filter_weights_the_frames_around_each_full_bin() -> None:
    """Only a centre tap is the plain mask; a tap k reads frame t + k of the bins below full_bins
    (zeros past the ends); bins above are masked by the band mask alone; the limit acts on the gain."""
    rng = np.random.default_rng(5)
    x = cmask.stft(rng.normal(scale=0.1, size=4000).astype(np.float32))
    band = (rng.normal(size=(len(x), DEEP.bands)) + 1j * rng.normal(size=(len(x), DEEP.bands))).astype(np.complex64)
    coefs = np.zeros((len(x), DEEP.n_coefficients), np.complex64)
    coefs[:, :DEEP.bands] = band
    plain = cmask.BandLayout(64, 32).apply_mask(x, band)
    np.testing.assert_allclose(DEEP.apply_mask(x, coefs), plain, atol=1e-6)
    assert DEEP.offsets == (-2, -1, 1, 2) and DEEP.n_outputs == 2 * (96 + 4 * 64)
    side = coefs.copy()
    side[:, :DEEP.bands] = 0
    side[:, DEEP.bands + 3 * 64:] = 1  # tap +2
    y = DEEP.apply_mask(x, side)
    np.testing.assert_allclose(y[:-2, :64], x[2:, :64], atol=1e-6)
    assert not y[-2:, :64].any() and not y[:, 64:].any()
    np.testing.assert_allclose(DEEP.apply_mask(x, side[3:8], first=3), y[3:8], atol=1e-6)  # frames around from x
    from segmenter.asr_track import AsrTrack
    closed = DEEP.apply_mask(x, side, limit=AsrTrack(attenuation_limit=6.0).limit)  # gains floored at 0.501
    heard = x != 0
    assert np.all(np.abs(closed[heard]) >= 0.5 * np.abs(x[heard]))
    passed = np.abs(y) > 0.51 * np.abs(x)  # where the filter passes more than the floor, it stays
    np.testing.assert_allclose(closed[passed], y[passed], rtol=1e-5)
    with pytest.raises(ValueError, match="df_taps"):
        cmask.BandLayout(64, 32, 4)


@pytest.mark.parametrize("layout", [BANDS, DEEP], ids=["mask", "deep-filter"])
def test_streaming_in_chunks_is_exact_at_the_boundaries(tmp_path: Path, layout: cmask.BandLayout) -> None:
    """Chunks of 7 frames (context 2 x 4 frames) and ragged input blocks give the one-pass output."""
    from segmenter.cmask_net import export
    spec = CmaskSpec(layout.n_features, layout.n_outputs, 16, 24, (1, 2, 1))
    export(random_model(spec, 3), spec, tmp_path / "weights.npz")
    net = CmaskNet.load(tmp_path / "weights.npz")
    x = np.random.default_rng(4).normal(scale=0.1, size=3 * 16000 + 77).astype(np.float32)
    whole = cmask.istft(cmask.ComplexMaskSeparator(net, layout=layout).masked(cmask.stft(x)), len(x))
    cuts = [0, 100, 1000, 5000, 20000, len(x)]
    blocks = [x[a:b] for a, b in zip(cuts[:-1], cuts[1:])]
    chunked = np.concatenate(list(cmask.ComplexMaskSeparator(net, core_frames=7, layout=layout).stream(blocks)))
    assert len(chunked) == len(x)
    np.testing.assert_allclose(chunked, whole, atol=1e-5)
    assert not np.allclose(whole, x, atol=1e-3)


def test_the_loss_deep_filter_matches_numpy() -> None:
    """The trainer's estimate (Keras ops) is the one inference makes (NumPy), deep filter included."""
    pytest.importorskip("keras")
    from keras import ops
    from segmenter.training.train_separator_v2 import masked_spectrum
    rng = np.random.default_rng(6)
    x = np.stack([cmask.stft(a) for a in rng.normal(scale=0.1, size=(2, 4000)).astype(np.float32)])
    z = rng.normal(size=(2, x.shape[1], DEEP.n_outputs)).astype(np.float32)
    yr, yi = (ops.convert_to_numpy(v) for v in masked_spectrum(z, x.real, x.imag, DEEP))
    for b in range(2):
        expected = DEEP.apply_mask(x[b], DEEP.bounded_mask(z[b]))
        np.testing.assert_allclose(yr[b] + 1j * yi[b], expected, atol=1e-5)


def test_the_over_suppression_term_costs_speech_taken_away_only() -> None:
    """A closed mask over speech costs `over_suppression` x the speech's compressed magnitude power
    more; over a speech-free background, where nothing can be taken away, it costs nothing more."""
    pytest.importorskip("keras")
    from keras import ops
    from segmenter.training.train_separator_v2 import LOSS_WEIGHTS, _compressed, _loss
    rng = np.random.default_rng(7)
    speech, background = (np.stack([cmask.stft(a) for a in rng.normal(scale=0.1, size=(2, 4000)).astype(np.float32)])
                          for _ in range(2))
    closed = np.zeros((2, speech.shape[1], BANDS.n_outputs), np.float32)

    def extra(target: np.ndarray) -> np.ndarray:
        mix = target + background
        y_true = np.concatenate([mix.real, mix.imag, target.real, target.imag], axis=-1).astype(np.float32)
        costs = [ops.convert_to_numpy(_loss(y_true, closed, dict(LOSS_WEIGHTS, over_suppression=w), None, BANDS))
                 for w in (0.0, 3.0)]
        return costs[1] - costs[0]

    scale = 1 / np.sqrt(np.mean(np.abs(speech + background) ** 2, axis=(1, 2), keepdims=True))
    floor = ops.convert_to_numpy(_compressed(np.float32(0), np.float32(0), np.float32(1))[0])
    taken = np.mean(np.maximum(ops.convert_to_numpy(_compressed(speech.real, speech.imag, scale)[0]) - floor, 0) ** 2,
                    axis=(1, 2))
    np.testing.assert_allclose(extra(speech), 3.0 * taken, rtol=1e-4)
    np.testing.assert_allclose(extra(np.zeros_like(speech)), 0.0, atol=1e-7)


def test_a_grown_network_starts_as_the_one_it_grew_from() -> None:
    """`grown` adds a deep filter's taps at zero: the masked STFT is unchanged until training moves them."""
    from segmenter.cmask_net import build_keras, grown, weights_of
    plain = cmask.BandLayout(64, 32)
    small = CmaskSpec(plain.n_features, plain.n_outputs, 16, 24, (1, 2))
    big = dataclasses.replace(small, outputs=DEEP.n_outputs, passing=DEEP.bands)
    before = random_model(small, 8)
    after = build_keras(big)
    grown(before.get_weights(), after)
    x = cmask.stft(np.random.default_rng(9).normal(scale=0.1, size=8000).astype(np.float32))
    y0 = cmask.ComplexMaskSeparator(CmaskNet(small, weights_of(before)), layout=plain).masked(x)
    y1 = cmask.ComplexMaskSeparator(CmaskNet(big, weights_of(after)), layout=DEEP).masked(x)
    np.testing.assert_allclose(y1, y0, atol=1e-5)
    bias = weights_of(build_keras(big))["output/b"]  # a new network's filter starts as a mask of one
    assert bias[:DEEP.bands].tolist() == [1.0] * DEEP.bands and not bias[DEEP.bands:].any()


def test_a_stage_may_grow_a_deep_filter_and_nothing_else(tmp_path: Path) -> None:
    from segmenter.training import recipe as recipes
    from segmenter.training.train_segmenter import check_recipe as check_segmenter_recipe
    from segmenter.training.train_separator_v2 import band_layout, check_recipe, network
    added = "[[stage]]\nsteps = 1\nbatch = 3\nseconds = 1.5\nlr = 1e-4\nnetwork = {{ {} }}\n"
    path = tmp_path / "r.toml"
    path.write_text(TINY + added.format("df_taps = 3") + added.format("df_taps = 3"))
    recipe = recipes.load(path)
    check_recipe(recipe)
    assert [band_layout(recipe, i).df_taps for i in range(3)] == [1, 3, 3]
    assert network(recipe, 0).outputs == 2 * 112 and network(recipe).outputs == 2 * (112 + 2 * 96)
    for bad, message in ((added.format("width = 32"), "may set only"),
                         (added.format("df_taps = 3") + added.format("df_taps = 5"), "changes a deep filter"),
                         (added.format("df_taps = 2"), "df_taps")):
        path.write_text(TINY + bad)
        with pytest.raises(recipes.RecipeError, match=message):
            check_recipe(recipes.load(path))
    segmenter_recipe = recipes.load(recipes.REPO / "recipes" / f"{DEFAULT_SEGMENTER}.toml")
    grows = recipes.Stage(**{**vars(segmenter_recipe.stages[-1]), "network": {"width": 64}})
    with pytest.raises(recipes.RecipeError, match="a stage's own network"):
        check_segmenter_recipe(dataclasses.replace(segmenter_recipe, stages=(*segmenter_recipe.stages, grows)))


def test_a_tiny_recipe_makes_a_complete_model_folder(tmp_path: Path, example_wav: Path) -> None:
    pytest.importorskip("keras")
    from test_training_recipe import tiny_pools
    from segmenter.training import recipe as recipes
    from segmenter.training.recipe_pools import StagePools
    from segmenter.training.train_separator_v2 import train
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)  # one stage: each stage compiles the graph again (test_training_recipe covers several)
    pools = tiny_pools(example_wav)
    out = tmp_path / "model"
    recipe = recipes.load(path)
    metrics = train(recipe, out, tmp_path / "cache", StagePools(recipe, lambda selection: pools), pools)
    config = json.loads((out / "config.json").read_text())
    assert config["recipe_sha256"] == hashlib.sha256(TINY.encode()).hexdigest()
    assert config["recipe"] == str(path)
    assert config["mixing"] == {"speech_free": 0.2, "clean": 0.2, "codec": 0.5, "digital_silence": 0.5,
                                 "speech_clips": "all", "equalise": 0.5}
    assert metrics["heldout_mixtures"] + metrics["heldout_clean_examples"] + metrics["heldout_speech_free_examples"] == 6
    assert config["loss"]["weights"]["log_mel_bels"] == 0.5 and config["loss"]["weights"]["complex"] == 30.0
    assert config["bands"] == {"full_bins": 96, "erb_bands": 16}
    # a held-out row at the end of the stage (2 steps, fewer than CURVE_STEPS): the final model's
    curve = config["heldout_curve"]
    assert [row["step"] for row in curve] == [2]
    assert curve[-1]["heldout_si_sdr_improvement_db"] == pytest.approx(metrics["heldout_si_sdr_improvement_db"], abs=1e-3)
    card = (out / "MODEL_CARD.md").read_text()
    for part in ("# tiny-separator: a test separator", "festvox_ru", "g711_mulaw", "Held-out metrics",
                 "recipe_sha256", "2 steps in all", "dilations\n1, 2", "50% of all examples hold a stretch of exact zeros",
                 "In training, 50% of the backgrounds (each layer) go through 1-3 peaking filters",
                 "during training, by step: `heldout_curve` in config.json",
                 "0.5 x the mean absolute log-mel distance in bels (40 mel bands from 133.33 to 6855.5 Hz",
                 "2 x the compressed magnitude MSE where the estimate falls below the speech"):
        assert part in card
    assert not (out / "checkpoint").exists() and (out / "model.keras").exists()
    sep = Separator.load(out)  # the kind the trainer's config.json names
    assert isinstance(sep, cmask.ComplexMaskSeparator) and sep.model_dir == out
    assert sep.layout == cmask.BandLayout(96, 16)  # the layout its config.json records
    y = sep.separate_audio(np.zeros(5000, np.float32))
    assert y.shape == (5000,) and np.all(np.isfinite(y))


def test_a_stage_that_grows_a_deep_filter_trains_resumes_and_makes_a_complete_folder(tmp_path: Path,
                                                                                      example_wav: Path) -> None:
    """A run killed at the first batch of the growing stage resumes from the plain mask's checkpoint
    into the grown network; the folder, its config and card say so and the separator loads with it."""
    pytest.importorskip("keras")
    from test_training_recipe import Killed, tiny_pools
    from segmenter.training import recipe as recipes
    from segmenter.training.recipe import RecipeError
    from segmenter.training.snapshot import write_snapshot
    from segmenter.training.train_separator_v2 import train
    path = tmp_path / "grows.toml"
    path.write_text(TINY + "[[stage]]\nsteps = 1\nbatch = 3\nseconds = 1.5\nlr = 1e-4\nnetwork = { df_taps = 3 }\n")
    recipe, pools, out = recipes.load(path), tiny_pools(example_wav), tmp_path / "model"

    def killed_in_stage_2(stage):
        if stage is recipe.stages[1]:
            raise Killed()
        return pools
    with pytest.raises(Killed):
        train(recipe, out, tmp_path / "cache", killed_in_stage_2, pools)
    assert json.loads((out / "checkpoint" / "state.json").read_text()) == {"stage": 1, "epoch": 0}
    snap = write_snapshot(recipe, out, tmp_path / "snapshot")  # the plain mask the first stage ended with
    assert snap["snapshot"]["stage"] == 1 and snap["snapshot"]["step"] == recipe.stages[0].steps
    assert Separator.load(tmp_path / "snapshot").layout == cmask.BandLayout(96, 16)
    with pytest.raises(RecipeError, match="already holds"):
        write_snapshot(recipe, out, tmp_path / "snapshot")
    train(recipe, out, tmp_path / "cache", lambda stage: pools, pools)
    with pytest.raises(RecipeError, match="no checkpoint"):
        write_snapshot(recipe, out, tmp_path / "after")
    config = json.loads((out / "config.json").read_text())
    assert config["bands"] == {"full_bins": 96, "erb_bands": 16, "df_taps": 3}
    assert config["network"]["outputs"] == 2 * (112 + 2 * 96) and config["network"]["passing"] == 112
    assert [row["step"] for row in config["heldout_curve"]] == [2, 3]
    card = (out / "MODEL_CARD.md").read_text()
    assert "the network growing to df_taps 3" in card and "(deep filtering)" in card
    sep = Separator.load(out)
    assert sep.layout == cmask.BandLayout(96, 16, 3)
    assert np.all(np.isfinite(sep.separate_audio(np.random.default_rng(0).normal(scale=0.1, size=5000))))


def test_a_stage_may_set_its_own_loss_weights(tmp_path: Path) -> None:
    """A stage's `loss` overrides the recipe's [loss] in that stage alone, and the card says so."""
    from segmenter.training import recipe as recipes
    from segmenter.training.common import describe_stages
    from segmenter.training.recipe import RecipeError
    from segmenter.training.train_separator_v2 import check_recipe, loss_weights
    added = "[[stage]]\nsteps = 1\nbatch = 3\nseconds = 1.5\nlr = 1e-4\nloss = {{ {} }}\n"
    path = tmp_path / "r.toml"
    path.write_text(TINY + added.format("log_mel_bels = 2.0, complex = 10"))
    recipe = recipes.load(path)
    check_recipe(recipe)
    assert loss_weights(recipe, recipe.stages[0])["log_mel_bels"] == 0.5
    assert loss_weights(recipe, recipe.stages[1]) == dict(loss_weights(recipe), log_mel_bels=2.0, complex=10.0)
    assert describe_stages([vars(s) for s in recipe.stages]).endswith("loss weights log_mel_bels 2, complex 10")
    for bad in ("mel = 1.0", "complex = -1.0"):
        path.write_text(TINY + added.format(bad))
        with pytest.raises(RecipeError):
            check_recipe(recipes.load(path))


def test_log_mel_distance_weighs_quiet_residue_down_to_its_floor() -> None:
    """Zero for the speech itself; residue 20 dB under the speech in every band costs about 0.04 bels,
    while SI-SDR would call it 20 dB; below the floor (30 dB under the mixture's mean) nothing counts."""
    pytest.importorskip("keras")
    from segmenter.training.train_separator_v2 import asr_mel_matrix, log_mel_distance
    mel = asr_mel_matrix()
    assert mel.shape == (cmask.N_BINS, 40) and mel[:4].sum() == 0 and mel[-30:].sum() == 0  # 133-6855 Hz
    rng = np.random.default_rng(0)
    s = rng.normal(size=(2, 1, 50, cmask.N_BINS)).astype(np.float32)  # re, im of (1 example, 50 frames)
    n = rng.normal(size=s.shape).astype(np.float32)

    def dist(y, x):
        return float(np.asarray(log_mel_distance(y[0], y[1], s[0], s[1], x[0], x[1], mel))[0])
    assert dist(s, s) == pytest.approx(0, abs=1e-6)
    assert 0.02 < dist(s + 0.1 * n, s + n) < 0.08
    assert dist(s + 3e-3 * n, s + 10 * n) < 0.005  # far below the floor
    assert dist(0 * s, s + n) > 1.0  # a closed mask on speech costs over a bel


def test_a_recipe_with_unknown_or_negative_loss_weights_is_refused(tmp_path: Path) -> None:
    from segmenter.training import recipe as recipes
    from segmenter.training.train_segmenter import check_recipe as check_segmenter_recipe
    from segmenter.training.train_separator_v2 import check_recipe
    for table, message in (("log_mel = 1.0", "unknown"), ("si_sdr_bels = -1.0", "negative")):
        path = tmp_path / "r.toml"
        path.write_text(TINY.replace("log_mel_bels = 0.5", table))
        with pytest.raises(recipes.RecipeError, match=message):
            check_recipe(recipes.load(path))
    segmenter_recipe = recipes.load(recipes.REPO / "recipes" / f"{DEFAULT_SEGMENTER}.toml")
    with pytest.raises(recipes.RecipeError, match="loss weights are a separator"):
        check_segmenter_recipe(dataclasses.replace(segmenter_recipe, loss={"log_mel_bels": 1.0}))


def test_a_recipe_with_too_few_speech_free_examples_is_refused() -> None:
    from segmenter.training.recipe import RecipeError
    from segmenter.training.train_separator_v2 import MixShares
    with pytest.raises(RecipeError, match="speech_free"):
        MixShares.from_recipe({"speech_free": 0.1})
    with pytest.raises(RecipeError, match="unexpected"):
        MixShares.from_recipe({"speechless": 0.2})
    with pytest.raises(RecipeError, match="speech_clips"):
        MixShares.from_recipe({"speech_clips": "clean"})


@pytest.fixture(scope="module")
def tiny_v2(tmp_path_factory) -> Path:
    """A separator-v2 folder as the trainer lays it out (model.keras, weights.npz, config.json naming
    the model kind), with random weights."""
    from segmenter.training.common import save_model
    from segmenter.cmask_net import export
    d = tmp_path_factory.mktemp("tiny-v2")
    spec = CmaskSpec(BANDS.n_features, 2 * BANDS.bands, 16, 24, (1, 2))
    save_model(random_model(spec, 7), spec, d, exporter=export)
    (d / "config.json").write_text(json.dumps({"task": "separation", "model": cmask.MODEL_KIND}))
    return d


@pytest.fixture(params=["tiny", "shipped"])
def model_dir(request, tiny_v2) -> Path:
    return tiny_v2 if request.param == "tiny" else PRETRAINED / DEFAULT_SEPARATOR


def test_a_folder_loads_as_the_kind_its_config_names(tiny_v2: Path, tmp_path: Path) -> None:
    """The shipped folder and a tiny one load; a folder of another kind (separator-v20's magnitude
    mask, or one this version has never heard of) is refused by name."""
    assert isinstance(Separator.load(tiny_v2), cmask.ComplexMaskSeparator)
    assert isinstance(Separator.load(PRETRAINED / DEFAULT_SEPARATOR), cmask.ComplexMaskSeparator)
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "weights.npz").write_bytes((tiny_v2 / "weights.npz").read_bytes())
    for kind in ("wavelet-mask", "magnitude-mask"):
        (odd / "config.json").write_text(json.dumps({"model": kind}))
        with pytest.raises(ValueError, match=kind):
            Separator.load(odd)


def test_through_the_engine(model_dir: Path, example_wav: Path, tmp_path: Path) -> None:
    """Plain and speech-only tracks have the source's samples, and a limited mask changes the track."""
    from segmenter.asr_track import AsrTrack
    from segmenter.pipeline import Segmenter
    from segmenter.separation import segment_and_separate
    import soundfile as sf
    n = len(read_audio(example_wav))
    sep, segmenter = Separator.load(model_dir), Segmenter.load()
    plain = sep.separate(example_wav, tmp_path / "plain.wav")
    seg, only = segment_and_separate(segmenter, sep, example_wav, tmp_path / "only.wav", speech_only=True)
    assert seg == segmenter.segment(example_wav)
    for track in (plain, only):
        info = sf.info(track)
        assert (info.frames, info.samplerate, info.channels) == (n, SAMPLE_RATE, 1)
    x = read_audio(example_wav)
    assert not np.allclose(sep.separate_audio(x), sep.separate_audio(x, AsrTrack(6.0, 0.5).limit), atol=1e-3)


def test_through_the_engine_command_line(model_dir: Path, example_wav: Path, tmp_path: Path) -> None:
    from segmenter.__main__ import main
    out = tmp_path / "speech.wav"
    assert main(["separate", str(example_wav), str(out), "--model", str(model_dir), "--speech-only",
                 "--attenuation-limit", "18", "--mix-back", "0.1"]) == 0
    assert len(read_audio(out)) == len(read_audio(example_wav))


def test_through_cli_py(model_dir: Path, example_wav: Path, tmp_path: Path) -> None:
    """cli.py with $SEPARATOR_MODEL at the folder: the ASR track has the source's samples."""
    from conftest import ROOT, source_mmif
    from mmif import DocumentTypes, Mmif
    src, out, tracks = tmp_path / "in.mmif", tmp_path / "out.mmif", tmp_path / "tracks"
    src.write_text(source_mmif(("audio/wav", example_wav)))
    p = subprocess.run([sys.executable, "cli.py", "--separate", "true", "--speechOnly", "true", "--outputDir",
                        str(tracks), str(src), str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, SEPARATOR_MODEL=str(model_dir)))
    assert p.returncode == 0, p.stderr[-3000:]
    (track,) = [d for v in Mmif(out.read_text()).views for d in v.get_documents()
                if d.at_type == DocumentTypes.AudioDocument]
    assert len(read_audio(track.location_path())) == len(read_audio(example_wav))


def test_digital_silence_examples_hold_exact_zeros_in_input_and_target(example_wav: Path) -> None:
    """With `digital_silence` = 1 every example has a stretch of exact zeros (input and target
    alike); at 0 (older recipes) no example changes."""
    from test_training_recipe import tiny_pools
    from segmenter.training.train_separator_v2 import ZERO_SECONDS, MixShares, example
    pools = tiny_pools(example_wav)
    on, off = MixShares(digital_silence=1.0), MixShares()
    shortest = int(ZERO_SECONDS[0] * 16000)
    for seed in range(6):
        x, target, _ = example(pools, 4.0, np.random.default_rng(seed), on)
        zero = (x == 0) & (target == 0)
        runs = np.diff(np.flatnonzero(np.diff(np.concatenate(([0], zero.astype(np.int8), [0])))))[::2]
        assert runs.max() >= shortest
        plain = example(pools, 4.0, np.random.default_rng(seed), off)
        again = example(pools, 4.0, np.random.default_rng(seed), MixShares(digital_silence=0.0))
        assert all(np.array_equal(a, b) for a, b in zip(plain[:2], again[:2]))


def test_equalised_backgrounds_change_training_examples_and_leave_the_heldout_set(example_wav: Path,
                                                                                  tmp_path: Path) -> None:
    """`equalise` draws only when it is on (older recipes' examples stay), and the held-out set is
    the same with it as without it, so that two runs' held-out curves compare."""
    from test_training_recipe import tiny_pools
    from segmenter.training import recipe as recipes
    from segmenter.training.train_separator_v2 import MixShares, example, heldout_set
    pools = tiny_pools(example_wav)
    on, off = MixShares(equalise=1.0), MixShares()
    changed = 0
    for seed in range(6):
        plain = example(pools, 4.0, np.random.default_rng(seed), off)
        again = example(pools, 4.0, np.random.default_rng(seed), MixShares(equalise=0.0))
        assert all(np.array_equal(a, b) for a, b in zip(plain[:2], again[:2]))
        eq = example(pools, 4.0, np.random.default_rng(seed), on)
        changed += plain[2] == "mixture" and not np.array_equal(plain[0], eq[0])
    assert changed
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    recipe = recipes.load(path)
    for (x, t, k), (y, u, j) in zip(heldout_set(pools, recipe, on), heldout_set(pools, recipe, off)):
        assert k == j and np.array_equal(x, y) and np.array_equal(t, u)


def test_a_stage_may_set_its_own_mixing_shares(tmp_path: Path) -> None:
    """A stage's `mixing` weighs over [mixing] for its batches, the card says so per stage, and the
    speech clips (loaded once) and the segmenter's stages stay the recipe's."""
    from test_training_recipe import TINY as SEGMENTER_TINY
    from segmenter.training import train_segmenter
    from segmenter.training.common import describe_stages
    from segmenter.training.recipe import RecipeError, load
    from segmenter.training.train_separator_v2 import MixShares, _equalised_sentence, check_recipe
    stage = "\n[[stage]]\nsteps = 1\nbatch = 2\nseconds = 2.0\nlr = 1e-4\nmixing = { equalise = 0.25, codec = 0.1 }\n"
    path = tmp_path / "r.toml"
    path.write_text(TINY + stage)
    recipe = load(path)
    check_recipe(recipe)
    assert MixShares.from_recipe(recipe.stage_mixing(recipe.stages[0])).equalise == 0.5
    assert MixShares.from_recipe(recipe.stage_mixing(recipe.stages[1])) == MixShares(
        speech_free=0.2, clean=0.2, codec=0.1, digital_silence=0.5, equalise=0.25)
    stages = [vars(s) for s in recipe.stages]
    assert describe_stages(stages).endswith("mixing equalise 0.25, codec 0.1")
    config = {"mixing": recipe.mixing, "stages": stages,
              "mixture": {"equaliser": {"filters": (1, 3), "centre_hz": (100, 6000), "gain_db": (-12, 12), "q": (0.7, 2.5)}}}
    assert "a share of the backgrounds (stage 1: 50%, stage 2: 25%)" in _equalised_sentence(config)
    assert _equalised_sentence({**config, "mixing": {}, "stages": [stages[0]]}) == ""
    for bad, match in (("speech_clips = \"quiet\"", "speech_clips is the recipe's"), ("equalise = 2", "within 0-1")):
        path.write_text(TINY + stage.replace("equalise = 0.25", bad))
        with pytest.raises(RecipeError, match=match):
            check_recipe(load(path))
    path.write_text(SEGMENTER_TINY + stage)
    with pytest.raises(RecipeError, match="a stage's own mixing is a separator recipe's"):
        train_segmenter.check_recipe(load(path))


def test_a_mixture_with_an_inaudible_background_is_scored_as_clean_speech() -> None:
    from segmenter.training.train_separator_v2 import INAUDIBLE_DB, scored_kind
    rng = np.random.default_rng(0)
    speech = rng.standard_normal(16000).astype(np.float32)
    noise = rng.standard_normal(16000).astype(np.float32)
    under = lambda db: speech + noise * np.float32(10 ** (-db / 20))  # noqa: E731
    assert scored_kind(under(INAUDIBLE_DB + 5), speech, "mixture") == "clean"
    assert scored_kind(under(INAUDIBLE_DB - 5), speech, "mixture") == "mixture"
    assert scored_kind(noise, np.zeros_like(noise), "speech-free") == "speech-free"


def test_a_snapshot_names_the_stage_and_step_its_checkpoint_holds(tmp_path: Path) -> None:
    from segmenter.training import recipe as recipes
    from segmenter.training.recipe import RecipeError
    from segmenter.training.snapshot import checkpoint_position
    path = tmp_path / "r.toml"
    path.write_text(TINY + "[[stage]]\nsteps = 4\nbatch = 3\nseconds = 1.5\nlr = 1e-4\ncheckpoint_steps = 2\n")
    recipe, state = recipes.load(path), tmp_path / "run" / "checkpoint" / "state.json"
    first = recipe.stages[0].steps
    state.parent.mkdir(parents=True)
    for position, expected in (({"stage": 1, "epoch": 1}, (1, first + 2)), ({"stage": 1, "epoch": 0}, (0, first)),
                               ({"stage": 2, "epoch": 0}, (1, first + 4))):
        state.write_text(json.dumps(position))
        assert checkpoint_position(recipe, tmp_path / "run") == expected
    state.write_text(json.dumps({"stage": 0, "epoch": 0}))
    with pytest.raises(RecipeError, match="no training yet"):
        checkpoint_position(recipe, tmp_path / "run")
