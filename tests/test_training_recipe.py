"""The recipe mechanism: one file makes a complete model folder; a stopped run resumes; real codecs."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from segmenter.media import SAMPLE_RATE, read_audio

TINY = """
name = "tiny"
task = "segmentation"
title = "a test model"
seed = 7

[sources]
festvox_ru = 1.0
wesnoth = 1.0
oad_ambient = 1.0

[network]
width = 8
dilations = [1, 2]
stride = 2
class_weights = { silence = 0.7 }

[mixing]
level = 0.5
tilt = 0.5
codec = 0.5
digital_silence = 0.5

[codecs]
names = ["g711_mulaw"]
bank = 4
seconds = 2.0

[heldout]
programmes = 2
seconds = 12
calibration = 6
seed = 3
unsplit_sources = "leave_out"

[[stage]]
steps = 2
batch = 2
seconds = 3.0
lr = 1e-3
checkpoint_steps = 1

[[stage]]
steps = 1
batch = 2
seconds = 2.0
lr = 1e-4
band_masks = 2
band_mask_width = 4
"""


def tiny_pools(example_wav: Path) -> dict:
    """Pools made from the bundled example (speech and music) and generated noise, as `load_pools` makes them."""
    from segmenter.training.mixing import Pool, speech_activity, steady_pool
    audio = read_audio(example_wav)
    rng = np.random.default_rng(0)
    speech = [audio[:3 * SAMPLE_RATE], audio[3 * SAMPLE_RATE:6 * SAMPLE_RATE]]
    music = [audio[-4 * SAMPLE_RATE:]]
    noise = [rng.normal(scale=0.05, size=4 * SAMPLE_RATE).astype(np.float32)]

    def pool(clips, activity=None):
        return Pool(clips, np.full(len(clips), 1 / len(clips)), activity)
    pools = {"speech": pool(speech, [speech_activity(c) for c in speech]), "music": pool(music),
             "sung": pool(music), "noise": pool(noise)}
    pools["steady"] = steady_pool(pools["noise"])
    return pools


def test_a_tiny_recipe_makes_a_complete_model_folder(tmp_path: Path, example_wav: Path) -> None:
    pytest.importorskip("keras")
    from segmenter.network import NumpyNet
    from segmenter.training import recipe as recipes
    from segmenter.training.train_segmenter import train
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    recipe = recipes.load(path)
    pools = tiny_pools(example_wav)
    out = tmp_path / "model"
    metrics = train(recipe, out, tmp_path / "cache", pools, pools)
    config = json.loads((out / "config.json").read_text())
    assert config["recipe_sha256"] == hashlib.sha256(TINY.encode()).hexdigest()
    assert config["recipe"] == str(path)
    assert config["network"]["stride"] == 2 and config["mixing"]["codec"] == 0.5
    assert config["calibration"]["temperature"] > 0 and len(config["calibration"]["bias"]) == 4
    assert 0 <= metrics["heldout_speech_calibration_error"] <= 1
    card = (out / "MODEL_CARD.md").read_text()
    for part in ("# tiny: a test model", "festvox_ru", "g711_mulaw", "Held-out metrics", "recipe_sha256",
                 "3 steps in all", "In 50% of programmes, stretches of exact zeros",
                 "trained on and left out of the held-out\npools", "before this calibration",
                 "an input convolution with kernel 3 and 2 residual convolutions",
                 "2 masks of up to 4 mel bands in each example"):
        assert part in card
    assert [row["step"] for row in config["heldout_curve"]] == [2, 3]  # each stage's end
    assert (out / "heldout_curve.tsv").read_text().splitlines()[0].split("\t")[1] == "heldout_speech_f1_frames"
    assert not (out / "checkpoint").exists()
    net = NumpyNet.load(out / "weights.npz")
    probs = net.forward(np.zeros((50, 64), np.float32))
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)


def with_teacher(recipe: str, model: Path, share: float = 0.5, sha: str | None = None) -> str:
    from segmenter.training.fetch import sha256_of
    sha = sha or sha256_of(model / "weights.npz")
    return recipe + f'\n[teacher]\nmodel = "{model}"\nweights_sha256 = "{sha}"\nshare = {share}\n'


def test_a_student_trains_on_its_labels_mixed_with_a_pinned_teachers_probabilities(
        tmp_path: Path, example_wav: Path) -> None:
    """[teacher]: a tiny model teaches a student at twice its step; each target is the share's mix of
    the one-hot label and the teacher's probabilities (the label still the largest), and the config and
    card name the teacher. A teacher whose weights or share differ, or that held out other clips, is
    refused; other draw weights or held-out programmes are not a reason to refuse."""
    pytest.importorskip("keras")
    from segmenter.training import recipe as recipes
    from segmenter.training.recipe import RecipeError
    from segmenter.training.teacher import Teacher
    from segmenter.training.train_segmenter import LABELS, check_recipe, train
    pools = tiny_pools(example_wav)
    (tmp_path / "teacher.toml").write_text(TINY)
    teacher_dir = tmp_path / "teacher"
    train(recipes.load(tmp_path / "teacher.toml"), teacher_dir, tmp_path / "cache", pools, pools)

    student = with_teacher(TINY.replace("stride = 2", "stride = 4"), teacher_dir, share=0.3)
    (tmp_path / "student.toml").write_text(student)
    recipe = recipes.load(tmp_path / "student.toml")
    teacher = Teacher.from_recipe(recipe, LABELS)
    features = np.random.default_rng(0).normal(size=(2, 40, 64)).astype(np.float32)
    labels = np.random.default_rng(1).integers(0, 4, size=(2, 40))
    targets = teacher.targets(features, labels)
    np.testing.assert_allclose(targets.sum(axis=2), 1, atol=1e-5)
    assert (targets.argmax(axis=2) == labels).all()
    np.testing.assert_allclose(targets[0] - 0.7 * np.eye(4)[labels[0]], 0.3 * teacher.net.forward(features[0]), atol=1e-6)

    out = tmp_path / "student"
    train(recipe, out, tmp_path / "cache", pools, pools)
    config = json.loads((out / "config.json").read_text())
    assert config["teacher"] == {"model": str(teacher_dir), "weights_sha256": teacher.weights_sha256, "share": 0.3}
    assert config["network"]["stride"] == 4
    assert "70% its label and 30% the probabilities of" in (out / "MODEL_CARD.md").read_text()

    for bad, why in ((with_teacher(TINY, teacher_dir, sha="0" * 64), "not the recipe's"),
                     (with_teacher(TINY, teacher_dir, share=0.6), "at most 0.5"),
                     (with_teacher(TINY.replace('"leave_out"', '"validate"'), teacher_dir), "held out other clips"),
                     (with_teacher(TINY, tmp_path, sha="0" * 64), "no weights.npz")):
        (tmp_path / "bad.toml").write_text(bad)
        with pytest.raises(RecipeError, match=why):
            check_recipe(recipes.load(tmp_path / "bad.toml"))
    (tmp_path / "other.toml").write_text(with_teacher(
        TINY.replace("wesnoth = 1.0", "wesnoth = 2.0").replace("programmes = 2", "programmes = 3"), teacher_dir))
    assert Teacher.from_recipe(recipes.load(tmp_path / "other.toml"), LABELS).share == 0.5


FIRST_STAGE_ONLY = TINY[:TINY.rindex("[[stage]]")]  # the tiny recipe without its last stage


def test_a_run_started_from_the_model_of_its_first_stages_ends_as_a_run_from_scratch(
        tmp_path: Path, example_wav: Path) -> None:
    """--from-model: the tiny recipe, started from the (calibrated) model of its first stage alone,
    makes the model that it makes from scratch, with the same held-out curve."""
    keras = pytest.importorskip("keras")
    from segmenter.training import recipe as recipes
    from segmenter.training.continue_run import seed_from_model
    from segmenter.training.recipe import RecipeError
    from segmenter.training.train_segmenter import CURVE_COLUMNS, train, uncalibrated
    first, whole = tmp_path / "first.toml", tmp_path / "whole.toml"
    first.write_text(FIRST_STAGE_ONLY)
    whole.write_text(TINY)
    pools, cache = tiny_pools(example_wav), tmp_path / "cache"
    train(recipes.load(first), tmp_path / "first", cache, pools, pools)
    train(recipes.load(whole), tmp_path / "scratch", cache, pools, pools)
    assert seed_from_model(recipes.load(whole), tmp_path / "first", tmp_path / "continued", CURVE_COLUMNS,
                           uncalibrated) == 1
    with pytest.raises(RecipeError, match="already holds a run"):
        seed_from_model(recipes.load(whole), tmp_path / "first", tmp_path / "continued", CURVE_COLUMNS, uncalibrated)
    train(recipes.load(whole), tmp_path / "continued", cache, pools, pools)
    configs, networks = [], []
    for d in ("scratch", "continued"):  # compared before calibration, whose fit on this tiny model is ill-posed
        configs.append(json.loads((tmp_path / d / "config.json").read_text()))
        networks.append(keras.models.load_model(tmp_path / d / "model.keras", compile=False))
        uncalibrated(networks[-1], configs[-1])
    for a, b in zip(*(n.get_weights() for n in networks)):
        np.testing.assert_allclose(b, a, atol=1e-5)
    assert [r["step"] for r in configs[1]["heldout_curve"]] == [2, 3]
    assert configs[1]["heldout_curve"] == configs[0]["heldout_curve"]


def test_a_run_starts_from_a_model_only_when_its_recipe_adds_stages_to_the_models(tmp_path: Path) -> None:
    from segmenter.training import recipe as recipes
    from segmenter.training.continue_run import base_recipe
    from segmenter.training.recipe import RecipeError
    first = tmp_path / "first.toml"
    first.write_text(FIRST_STAGE_ONLY)
    base = recipes.load(first)
    config = {"recipe": str(first), "recipe_sha256": base.sha256, "stages": [vars(s) for s in base.stages]}

    def recipe(text: str):
        path = tmp_path / "r.toml"
        path.write_text(text)
        return recipes.load(path)
    assert base_recipe(recipe(TINY), config) == base
    with pytest.raises(RecipeError, match="differs .* in sources"):
        base_recipe(recipe(TINY.replace("wesnoth = 1.0", "wesnoth = 2.0")), config)
    with pytest.raises(RecipeError, match="stages do not begin"):
        base_recipe(recipe(TINY.replace("lr = 1e-3", "lr = 2e-3")), config)
    with pytest.raises(RecipeError, match="stages do not begin"):
        base_recipe(recipe(FIRST_STAGE_ONLY), config)  # adds no stage
    from segmenter.training.train_segmenter import check_recipe
    with pytest.raises(RecipeError, match="loss weights are a separator"):
        check_recipe(recipe(TINY + "loss = { complex = 1.0 }\n"))  # in the last stage
    with pytest.raises(RecipeError, match="model's stages"):
        base_recipe(recipe(TINY), dict(config, stages=[dict(config["stages"][0], steps=4)]))
    first.write_text(FIRST_STAGE_ONLY + "# edited\n")
    with pytest.raises(RecipeError, match="has changed"):
        base_recipe(recipe(TINY), config)


class Killed(RuntimeError):
    pass


def test_a_stopped_run_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    """A run killed in its second stage starts again from its last checkpoint, not from scratch,
    and ends with the model an unbroken run ends with (every batch comes from a fixed seed)."""
    keras = pytest.importorskip("keras")
    from segmenter.network import tcn
    from segmenter.training.common import train_stages
    from segmenter.training.recipe import Stage
    spec = tcn(4, 8, (1, 2), 3, "softmax")
    stages = [Stage(steps=2, batch=2, seconds=1, lr=1e-2, checkpoint_steps=1),
              Stage(steps=3, batch=2, seconds=1, lr=1e-3, checkpoint_steps=1)]
    calls = {"stage 1": 0, "stage 2": 0}

    def batch(stage: Stage, rng: np.random.Generator, kill: bool = False):
        if stage is stages[0]:
            calls["stage 1"] += 1
        else:
            calls["stage 2"] += 1
            if kill and calls["stage 2"] > 1:
                raise Killed()
        return rng.normal(size=(2, 10, 4)).astype(np.float32), rng.integers(0, 3, size=(2, 10)).astype(np.int32)

    def run(folder: str, kill: bool = False):
        return train_stages(spec, lambda stage: losses.append(stage) or "sparse_categorical_crossentropy", stages,
                            lambda s, r: batch(s, r, kill),
                            tmp_path / folder, 5)
    losses = []  # the stages whose loss train_stages asked for
    keras.utils.set_random_seed(0)
    whole = run("a")
    assert losses == stages
    keras.utils.set_random_seed(0)
    with pytest.raises(Killed):
        run("b", kill=True)
    state = json.loads((tmp_path / "b" / "checkpoint" / "state.json").read_text())
    assert state["stage"] == 1
    keras.utils.set_random_seed(123)  # a resumed run does not depend on the seed of a fresh network
    calls.update({"stage 1": 0, "stage 2": 0})
    resumed = run("b")
    assert calls["stage 1"] == 0  # the finished stage is not trained again
    x = np.random.default_rng(1).normal(size=(1, 20, 4)).astype(np.float32)
    np.testing.assert_allclose(resumed.predict(x, verbose=0), whole.predict(x, verbose=0), atol=1e-5)


def test_a_stage_with_average_last_ends_with_the_mean_of_its_last_checkpoints(tmp_path: Path) -> None:
    """The stage's last checkpoint holds the mean of the weights at its averaged checkpoints (those an
    unaveraged run reaches, as training draws the same batches), and a run killed inside the averaged
    epochs resumes to the same model."""
    keras = pytest.importorskip("keras")
    from segmenter.network import tcn
    from segmenter.training.common import train_stages
    from segmenter.training.recipe import Stage
    spec = tcn(4, 8, (1, 2), 3, "softmax")
    plain = [Stage(steps=2, batch=2, seconds=1, lr=1e-2, checkpoint_steps=1),
             Stage(steps=4, batch=2, seconds=1, lr=1e-2, checkpoint_steps=1)]
    averaged = [plain[0], Stage(steps=4, batch=2, seconds=1, lr=1e-2, checkpoint_steps=1, average_last=3)]

    def batch(stage: Stage, rng: np.random.Generator):
        return rng.normal(size=(2, 10, 4)).astype(np.float32), rng.integers(0, 3, size=(2, 10)).astype(np.int32)

    def run(stages, folder: str, after_epoch=None):
        keras.utils.set_random_seed(0)
        return train_stages(spec, lambda stage: "sparse_categorical_crossentropy", stages, batch, tmp_path / folder, 5,
                            after_epoch=after_epoch)

    def kill(model, stage: int, epoch: int) -> None:
        if (stage, epoch) == (1, 2):  # after the stage's third checkpoint: two averaged ones are in
            raise Killed()

    seen = {}
    run(plain, "plain", after_epoch=lambda m, s, e: seen.update({(s, e): m.get_weights()}))
    expected = [np.mean([seen[(1, e)][i] for e in (1, 2, 3)], axis=0) for i in range(len(seen[(1, 0)]))]
    whole = run(averaged, "averaged")
    for w, e in zip(whole.get_weights(), expected):
        np.testing.assert_allclose(w, e, atol=1e-5)
    assert not any((tmp_path / "averaged" / "checkpoint").glob("average-*"))
    with pytest.raises(Killed):
        run(averaged, "killed", after_epoch=kill)
    checkpoint = tmp_path / "killed" / "checkpoint"
    assert json.loads((checkpoint / "state.json").read_text()) == {"stage": 1, "epoch": 3}
    assert (checkpoint / "average-1.npz").exists()
    resumed = run(averaged, "killed")
    for w, e in zip(resumed.get_weights(), expected):
        np.testing.assert_allclose(w, e, atol=1e-5)


def test_weight_average_counts_an_epoch_trained_again_once(tmp_path: Path) -> None:
    from segmenter.training.weight_average import WeightAverage
    average = WeightAverage(tmp_path / "average.npz")
    a, b, b2 = ([np.full(3, v, np.float32)] for v in (1.0, 2.0, 5.0))
    np.testing.assert_array_equal(average.add(4, a)[0], 1.0)
    np.testing.assert_array_equal(average.add(5, b)[0], 1.5)
    mean = WeightAverage(tmp_path / "average.npz").add(5, b2)  # epoch 5 again, after a kill
    np.testing.assert_array_equal(mean[0], 3.0)
    assert mean[0].dtype == np.float32
    average.clear()
    assert not (tmp_path / "average.npz").exists()


def test_calibration_folds_into_the_output_layer() -> None:
    """Over-confident log-probabilities are tempered, and the folded layer gives what the scaling gives."""
    keras = pytest.importorskip("keras")
    from scipy.special import softmax
    from segmenter.network import build_keras, tcn
    from segmenter.training.calibration import expected_calibration_error, fit_scaling, fold_into_output
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 20000)
    truth_p = np.where(labels == 1, 0.7, 0.3)  # P(class 1) is really 0.7 / 0.3 ...
    noisy = (rng.random(20000) < truth_p).astype(int)
    logits = np.stack([np.zeros(20000), np.where(labels == 1, 4.0, -4.0)], axis=1)  # ... but the net says 0.98 / 0.02
    t, b = fit_scaling(logits, noisy)
    p = softmax(logits / t + b, axis=1)[:, 1]
    assert expected_calibration_error(softmax(logits, axis=1)[:, 1], noisy) > 0.2
    assert expected_calibration_error(p, noisy) < 0.02
    keras.utils.set_random_seed(0)
    model = build_keras(tcn(4, 8, (1,), 3, "softmax"))
    x = rng.normal(size=(1, 30, 4)).astype(np.float32)
    before = model.predict(x, verbose=0)[0]
    bias = np.array([0.5, -0.2, 0.1], np.float32)
    fold_into_output(model, 2.0, bias)
    expected = softmax(np.log(before) / 2.0 + bias, axis=1)
    np.testing.assert_allclose(model.predict(x, verbose=0)[0], expected, atol=1e-5)


@pytest.mark.parametrize("codec", ["g711_mulaw", "mp3:24k", "gsm", "amr_nb:7.95k", "codec2:1300", "opus:12k",
                                   "g726:24k", "speex"])
def test_a_codec_round_trip_keeps_timing_and_changes_the_signal(codec: str, example_wav: Path) -> None:
    """Each codec decodes back to the same length and timing (delay removed: the envelope lines up
    within 2 ms), and it really coded: the band above 4 kHz is gone for the 8 kHz codecs."""
    from segmenter.training.codecs import CODECS, code_many
    try:
        from segmenter.training.codecs import binary_for
        binary_for(codec)
    except RuntimeError as e:
        pytest.skip(str(e))
    x = read_audio(example_wav)[:3 * SAMPLE_RATE]
    a, b = code_many([x, x[:SAMPLE_RATE]], codec)
    assert len(a) == len(x) and len(b) == SAMPLE_RATE
    assert not np.allclose(a, x, atol=1e-3)
    env = lambda s: np.log(np.mean(s[:len(s) // 160 * 160].reshape(-1, 160) ** 2, axis=1) + 1e-9)
    assert np.corrcoef(env(a), env(x))[0, 1] > 0.8
    if CODECS[codec.split(":")[0]][2] == 8000:
        spec = np.abs(np.fft.rfft(a)) ** 2
        hz = np.fft.rfftfreq(len(a), 1 / SAMPLE_RATE)
        assert spec[hz > 4200].sum() < 1e-3 * spec.sum()


def test_mp3_comes_back_on_time(example_wav: Path) -> None:
    """MP3's delay at 16 kHz (about 70 ms) is found and removed to the sample: labels stay aligned."""
    from segmenter.training.codecs import code
    x = read_audio(example_wav)[:4 * SAMPLE_RATE]
    y = code(x, "mp3:32k")
    n = len(x)
    corr = np.fft.irfft(np.fft.rfft(y, 2 * n) * np.conj(np.fft.rfft(x, 2 * n)))
    lags = np.r_[0:4000, -4000:0]
    assert abs(int(lags[np.argmax(corr[lags])])) <= 2


def test_align_finds_a_known_delay(example_wav: Path) -> None:
    from segmenter.training.codecs import align
    x = read_audio(example_wav)[:2 * SAMPLE_RATE]
    late = np.concatenate((np.zeros(320, np.float32), x))
    np.testing.assert_array_equal(align(late, x), x)
    early = x[160:]
    np.testing.assert_array_equal(align(early, x)[160:], x[160:])


def test_a_recipe_with_unknown_keys_or_sources_is_refused(tmp_path: Path) -> None:
    from segmenter.training.recipe import RecipeError, load
    bad = tmp_path / "bad.toml"
    bad.write_text("learning = 1\n" + TINY)
    with pytest.raises(RecipeError, match="unknown keys"):
        load(bad)
    bad.write_text("not = [toml")
    with pytest.raises(RecipeError, match="not valid TOML"):
        load(bad)
    with pytest.raises(RecipeError, match="cannot read"):
        load(tmp_path / "missing.toml")


def test_a_stage_may_draw_on_its_own_sources_and_the_held_out_pools_stay_the_recipes(tmp_path: Path) -> None:
    """A stage's `sources` weigh over [sources] (0 leaves one out); its training pools are loaded when
    its selection differs from the last stage's, one selection at a time; a source only a stage draws
    on is fetched and credited but never held out; the segmenter's trainer refuses such a stage."""
    from segmenter.training import train_segmenter
    from segmenter.training.common import describe_stages, recipe_sources, source_hours
    from segmenter.training.recipe import RecipeError, load
    from segmenter.training.recipe_pools import StagePools
    from test_training_data import fake_pool
    path = tmp_path / "r.toml"
    path.write_text(TINY + "\n[[stage]]\nsteps = 1\nbatch = 2\nseconds = 2.0\nlr = 1e-4\n"
                           "sources = { nexuiz_sung = 0.5, wesnoth = 0 }\n")
    recipe = load(path)
    assert recipe.stage_sources(recipe.stages[0]) == recipe.sources
    assert recipe.stage_sources(recipe.stages[2]) == {"festvox_ru": 1.0, "oad_ambient": 1.0, "nexuiz_sung": 0.5}
    assert recipe.trained_sources == {"festvox_ru", "wesnoth", "oad_ambient", "nexuiz_sung"}
    assert {s.id for s in recipe_sources(recipe)} == recipe.drawn_sources
    loaded = []
    pools = StagePools(recipe, lambda selection: loaded.append(selection) or {"selection": selection})
    got = [pools(stage)["selection"] for stage in recipe.stages]
    assert loaded == [recipe.sources, recipe.stage_sources(recipe.stages[2])] and got[0] is got[1]
    assert describe_stages([vars(s) for s in recipe.stages]).endswith("drawing on nexuiz_sung at 0.5, wesnoth at 0")
    sources = [s for s in recipe_sources(recipe) if s.id == "nexuiz_sung"]
    fake_pool(tmp_path, "nexuiz_sung", ["sound/cdtracks/digital-pursuit.ogg"], 3)
    for validated in (set(recipe.sources), None):
        held = source_hours(sources, tmp_path, "validate", validated)["nexuiz_sung"]["heldout"]
        assert held == (0.0 if validated else pytest.approx(3 / 3600))
    with pytest.raises(RecipeError, match="a stage's own sources are a separator recipe's"):
        train_segmenter.check_recipe(recipe)
    path.write_text(TINY + "\n[[stage]]\nsteps = 1\nbatch = 2\nseconds = 2.0\nlr = 1e-4\nsources = { wesnoth = -1 }\n")
    with pytest.raises(RecipeError, match="source weights must be numbers from 0 up"):
        load(path)


def test_a_stage_runs_exactly_its_steps() -> None:
    """Checkpoints are whole Keras epochs: a short stage checkpoints at its end, an uneven one is refused."""
    from segmenter.training.recipe import RecipeError, Stage
    assert Stage(steps=1, batch=1, seconds=1, lr=1e-3).epochs == 1
    assert Stage(steps=1000, batch=1, seconds=1, lr=1e-3).epochs == 4
    with pytest.raises(RecipeError, match="multiple"):
        Stage(steps=300, batch=1, seconds=1, lr=1e-3)
    assert Stage(steps=1000, batch=1, seconds=1, lr=1e-3, average_last=500).averaged_epochs == 2
    for bad in (100, 1250, -250):
        with pytest.raises(RecipeError, match="average_last"):
            Stage(steps=1000, batch=1, seconds=1, lr=1e-3, average_last=bad)


def test_a_band_mask_keeps_each_masked_bands_level_and_loses_its_course_in_time() -> None:
    from segmenter.training.spec_augment import mask_bands
    rng = np.random.default_rng(0)
    features = rng.normal(size=(6, 40, 64)).astype(np.float32)
    masked = mask_bands(features, 2, 8, np.random.default_rng(1))
    assert masked.shape == features.shape and not np.shares_memory(masked, features)
    changed = (masked != features).any(axis=1)  # (examples, bands)
    assert changed.any() and changed.sum(axis=1).max() <= 16
    flat = np.ptp(masked, axis=1) == 0  # a masked band is one value over the example
    assert (flat == changed).all()
    np.testing.assert_allclose(masked[changed.nonzero()[0], 0, changed.nonzero()[1]],
                               features.mean(axis=1)[changed], rtol=1e-5)
    np.testing.assert_array_equal(mask_bands(features, 0, 8, rng), features)


def test_band_masks_are_a_segmenter_stages_and_fit_the_features(tmp_path: Path) -> None:
    from segmenter.training import recipe as recipes, train_segmenter, train_separator_v2
    from segmenter.training.recipe import RecipeError
    with pytest.raises(RecipeError, match="band_mask"):
        recipes.Stage(steps=1, batch=1, seconds=1, lr=1e-3, band_masks=-1)
    path = tmp_path / "wide.toml"
    path.write_text(TINY.replace("band_mask_width = 4", "band_mask_width = 65"))
    with pytest.raises(RecipeError, match="more than the 64 mel bands"):
        train_segmenter.check_recipe(recipes.load(path))
    from segmenter.models import DEFAULT_SEPARATOR
    from segmenter.training.recipe import REPO
    separator = REPO / "recipes" / f"{DEFAULT_SEPARATOR}.toml"
    path.write_text(separator.read_text() + "band_masks = 1\n")  # on its last stage
    with pytest.raises(RecipeError, match="band_masks are a segmenter stage's"):
        train_separator_v2.check_recipe(recipes.load(path))


def test_digital_silence_survives_the_channel_only_in_its_share() -> None:
    """Exact zeros of 25 ms or more stay exact through the channel when `digital_silence` says so;
    at 0 (older recipes) the channel draws and gives what it did before."""
    from segmenter.training.programmes import ProgrammeMix, channel
    rng = np.random.default_rng(0)
    x = (rng.normal(size=48000) * 0.1).astype(np.float32)
    x[16000:24000] = 0  # half a second of digital silence
    x[30000:30100] = 0  # 6 ms: shorter than a feature window, the floor fills it
    kept = channel(x, np.random.default_rng(1), ProgrammeMix(digital_silence=1.0, lowpass=1.0, tilt=1.0))
    assert not kept[16000:24000].any() and kept[30000:30100].all() and kept[:16000].all()
    plain = channel(x, np.random.default_rng(2), ProgrammeMix())
    assert plain[16000:24000].all()
    assert np.array_equal(plain, channel(x, np.random.default_rng(2), ProgrammeMix(digital_silence=0.0)))


def test_unsplit_sources_must_name_a_known_choice(tmp_path: Path) -> None:
    from segmenter.training import recipe as recipes
    from segmenter.training.recipe import RecipeError
    from segmenter.training.common import unsplit_sources
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    assert unsplit_sources(recipes.load(path)) == "leave_out"
    path.write_text(TINY.replace('unsplit_sources = "leave_out"', 'unsplit_sources = "drop"'))
    with pytest.raises(RecipeError, match="unsplit_sources must be one of"):
        unsplit_sources(recipes.load(path))
    path.write_text(TINY.replace('unsplit_sources = "leave_out"\n', ""))
    assert unsplit_sources(recipes.load(path)) == "validate"


def test_speech_clips_must_name_a_known_test() -> None:
    from segmenter.training.programmes import ProgrammeMix
    assert ProgrammeMix.from_recipe({"speech_clips": "trusted"}).speech_clips == "trusted"
    with pytest.raises(ValueError, match="speech_clips"):
        ProgrammeMix.from_recipe({"speech_clips": "clean"})


def test_heldout_segments_span_each_speech_block_as_the_dev_references_do() -> None:
    """Pauses between the first and last speech frame of a speech block are speech in the 4-class
    labels; before the first and in other blocks the background stays."""
    from segmenter.training.programmes import speech_spans
    S, M, N = 0, 1, 2
    labels = np.array([M] * 3 + [S, S, M, M, S, M] + [N, N], np.int8)
    blocks = [{"type": "speech_music", "start": 0.0, "end": 0.09}, {"type": "noise", "start": 0.09, "end": 0.11}]
    assert speech_spans(labels, blocks).tolist() == [M, M, M, S, S, S, S, S, M, N, N]


def test_the_held_out_curve_has_a_row_every_curve_steps_and_at_each_stage_end() -> None:
    from segmenter.training.heldout_curve import CURVE_STEPS, HeldoutCurve
    from segmenter.training.recipe import Stage
    stages = [Stage(steps=2 * CURVE_STEPS, batch=1, seconds=1.0, lr=1e-3, checkpoint_steps=CURVE_STEPS // 4),
              Stage(steps=CURVE_STEPS // 2, batch=1, seconds=1.0, lr=1e-3, checkpoint_steps=CURVE_STEPS // 4)]
    curve = HeldoutCurve(Path("unused.tsv"), stages, (), lambda model, stage: {})
    due = [curve.due(s, e) for s, stage in enumerate(stages) for e in range(stage.epochs)]
    assert [d for d in due if d is not None] == [CURVE_STEPS, 2 * CURVE_STEPS, 2 * CURVE_STEPS + CURVE_STEPS // 2]


@pytest.mark.parametrize("path", sorted((Path(__file__).parent.parent / "recipes").glob("*.toml")), ids=lambda p: p.stem)
def test_every_committed_recipe_passes_its_trainers_checks(path: Path) -> None:
    from segmenter.training import recipe as recipes, train_segmenter, train_separator_v2
    from segmenter.training.common import recipe_sources
    recipe = recipes.load(path)
    assert recipe.name == path.stem and f"recipes/{path.name}" in path.read_text()  # its "Made with" line
    assert {s.id for s in recipe_sources(recipe)} == recipe.drawn_sources
    trainer = train_segmenter if recipe.task == "segmentation" else train_separator_v2
    trainer.check_recipe(recipe)


def test_a_source_held_out_whole_is_never_trained_on_and_shares_no_clip_with_training(tmp_path: Path) -> None:
    """`[heldout] sources`: a song too small to split is measured unseen, beside the songs training draws on."""
    from segmenter.training import recipe as recipes
    from segmenter.training.common import held_whole, recipe_hours, recipe_sources
    from segmenter.training.recipe import RecipeError
    from segmenter.training.recipe_pools import pools_for
    from test_training_data import fake_pool
    track = "usr/share/scummvm/drascula/audio/track{}.ogg"
    for source, numbers in (("drascula_sung", (1, 2, 30)), ("drascula_sung_1_30", (1, 30)), ("drascula_sung_2", (2,))):
        fake_pool(tmp_path, source, [track.format(n) for n in numbers], 21)  # 21 s: no pitch variants
    fake_pool(tmp_path, "wesnoth", [f"usr/share/games/wesnoth/1.16/data/core/music/{i}.ogg" for i in range(8)], 1)
    fake_pool(tmp_path, "oad_ambient", [f"audio/ambient/{i}.ogg" for i in range(8)], 1)
    fake_pool(tmp_path, "festvox_ru", [f"usr/share/festival/voices/russian/x/wav/{i}.wav" for i in range(8)], 1)
    tiny = TINY.replace("oad_ambient = 1.0\n", "oad_ambient = 1.0\nSONGS = 1.0\n")
    held = 'unsplit_sources = "leave_out"\nsources = { drascula_sung_2 = 1.0 }\n'
    path = tmp_path / "r.toml"
    path.write_text(tiny.replace("SONGS", "drascula_sung_1_30").replace('unsplit_sources = "leave_out"\n', held))
    recipe = recipes.load(path)
    assert recipe.heldout_sources == {"drascula_sung_2": 1.0} and "drascula_sung_2" not in recipe.trained_sources
    assert "drascula_sung_2" in {s.id for s in recipe_sources(recipe)}  # fetched, and credited on the card
    stages, heldout = pools_for(recipe, tmp_path)
    assert len(stages(recipe.stages[0])["sung"].clips) == 2  # tracks 1 and 30
    assert len(heldout["sung"].clips) == 1  # track 2 alone: the unsplit drascula_sung_1_30 is left out
    song = 21 / 3600
    assert recipe_hours(recipe, tmp_path)["drascula_sung_2"] == pytest.approx({"trained": 0.0, "heldout": song})
    assert held_whole({"heldout": recipe.heldout}).endswith("never trained on: drascula_sung_2.")
    path.write_text(tiny.replace("SONGS", "drascula_sung").replace('unsplit_sources = "leave_out"\n', held))
    with pytest.raises(RecipeError, match=r"\['drascula_sung_2'\] share clips with sources that training draws on"):
        pools_for(recipes.load(path), tmp_path)
    path.write_text(tiny.replace("SONGS", "drascula_sung_2").replace('unsplit_sources = "leave_out"\n', held))
    with pytest.raises(RecipeError, match="never trained on, but a stage draws on"):
        recipes.load(path)
    path.write_text(tiny.replace("SONGS", "drascula_sung_1_30").replace('unsplit_sources = "leave_out"\n',
                                                                         held.replace("1.0", "0")))
    with pytest.raises(RecipeError, match="positive draw weights"):
        recipes.load(path)


def test_heldout_only_draws_a_larger_set_from_the_same_pools(tmp_path: Path, example_wav: Path) -> None:
    """--heldout-programmes and --heldout-seed: another set from the recipe's held-out pools, in its
    own folder; the recipe's own set is unchanged by it."""
    from segmenter.training import recipe as recipes
    from segmenter.training.programmes import ProgrammeMix
    from segmenter.training.train_segmenter import heldout_dir
    (tmp_path / "tiny.toml").write_text(TINY)
    recipe = recipes.load(tmp_path / "tiny.toml")
    pools, mix = tiny_pools(example_wav), ProgrammeMix.from_recipe(recipe.mixing)
    own = heldout_dir(recipe, tmp_path, pools, mix)
    larger = heldout_dir(recipe, tmp_path, pools, mix, programmes=3, seed=4)
    assert larger.name == own.name + "-p3-s4"
    assert len(list(own.glob("*.wav"))) == 2 and len(list(larger.glob("*.wav"))) == 3
    assert (own / "prog_00.wav").read_bytes() != (larger / "prog_00.wav").read_bytes()
