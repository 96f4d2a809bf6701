"""Training: the mixing of examples, the sources, and the trainers' guards."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from segmenter.media import SAMPLE_RATE, read_audio


def test_steady_pool_keeps_the_clips_that_fill_every_frame(example_wav: Path) -> None:
    """Rain-like noise (long, level within 9 dB) is steady; speech with its pauses, or a short
    burst, is not. The steady pool draws its clips alike, whatever their source weights; an empty
    noise pool gives an empty one."""
    from segmenter.training.mixing import Pool, is_steady, steady_pool
    rng = np.random.default_rng(0)
    hiss = rng.normal(scale=0.05, size=4 * SAMPLE_RATE).astype(np.float32)
    speech = read_audio(example_wav)
    assert is_steady(hiss)
    assert not is_steady(hiss[:2 * SAMPLE_RATE])
    assert not is_steady(speech)
    pool = steady_pool(Pool([speech, hiss, hiss * 0.5], np.array([0.98, 0.01, 0.01])))
    assert len(pool.clips) == 2 and np.allclose(pool.weights, 0.5)
    assert all(is_steady(c) for c in pool.clips)
    assert steady_pool(Pool([], np.zeros(0))).clips == []  # a selection without noise (only songs)


def test_separation_only_sources_stay_out_of_the_segmenter_training() -> None:
    """The separator's extra backgrounds were added after segmenter-v1 was trained: the segmenter's
    trainer leaves them out, while the separator's draws on every source."""
    from segmenter.training.sources import SOURCES, sources_for
    extra = {s.id for s in SOURCES if s.separation_only}
    assert extra == {"oad_foley", "sonicpi_fx", "stk_ambience", "scratch_perc", "oad_voice",
                     "hedgewars_voices", "oad_buildings"}
    assert {s.id for s in sources_for("separation")} == {s.id for s in SOURCES}
    assert not extra & {s.id for s in sources_for("segmentation")}
    assert len(sources_for("segmentation")) == len(SOURCES) - len(extra)
    with pytest.raises(ValueError, match="unknown training task"):
        sources_for("separator")


def test_speed_changed_scales_pitch_and_length_together() -> None:
    """A background played 1.25 times as fast is 1/1.25 as long and its tone 1.25 times as high."""
    from segmenter.training.mixing import speed_changed
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = np.sin(2 * np.pi * 800 * t).astype(np.float32)
    fast = speed_changed(tone, Fraction(5, 4))
    assert len(fast) == round(SAMPLE_RATE / 1.25)
    spectrum = np.abs(np.fft.rfft(fast * np.hanning(len(fast))))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / len(fast) - 1000) < 5


def test_coloured_tilts_the_spectrum_both_ways_within_its_range() -> None:
    """Each draw changes a low and a high tone by different gains, within -12 to +6 dB (plus the
    filter's overlap), and the tilt goes either way."""
    from segmenter.training.mixing import coloured
    t = np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE
    low, high = (np.sin(2 * np.pi * f * t).astype(np.float32) for f in (60, 7500))
    tilts = []
    for seed in range(20):
        gains = [20 * np.log10(np.std(coloured(x, np.random.default_rng(seed))[SAMPLE_RATE:]) / np.std(x[SAMPLE_RATE:]))
                 for x in (low, high)]
        assert all(-15 < g < 9 for g in gains)
        tilts.append(gains[1] - gains[0])
    assert min(tilts) < -3 and max(tilts) > 3


def test_a_peaking_filter_has_its_gain_at_its_centre_and_none_far_from_it() -> None:
    from scipy.signal import sosfreqz

    from segmenter.training.mixing import peaking
    for centre, gain, q in ((200.0, 9.0, 0.7), (3000.0, -12.0, 2.5)):
        hz, h = sosfreqz(peaking(centre, gain, q)[None], worN=[20.0, centre, 7900.0], fs=SAMPLE_RATE)
        db = 20 * np.log10(np.abs(h))
        assert abs(db[1] - gain) < 0.01 and abs(db[0]) < 0.5 and abs(db[2]) < 1.0


def test_equalised_raises_and_lowers_bands_and_keeps_the_length() -> None:
    from segmenter.training.mixing import EQ_FILTERS, EQ_GAIN_DB, equalised
    t = np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE
    tone = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    gains = []
    for seed in range(40):
        y = equalised(tone, np.random.default_rng(seed))
        assert y.dtype == np.float32 and len(y) == len(tone)
        gains.append(20 * np.log10(np.std(y[SAMPLE_RATE:]) / np.std(tone[SAMPLE_RATE:])))
    assert min(gains) < -3 and max(gains) > 3
    assert EQ_FILTERS[1] * EQ_GAIN_DB[0] - 0.1 < min(gains) and max(gains) < EQ_FILTERS[1] * EQ_GAIN_DB[1] + 0.1


def test_separation_mixtures_add_up_and_a_fifth_have_a_second_background() -> None:
    """mix = speech + background exactly, speech SNR within -10 to +15 dB, and about 16 % of the
    backgrounds hold both music (a 440 Hz tone here, 352-550 Hz once played faster or slower) and
    ambience (a 3 kHz tone, 2.1-4.2 kHz): the fifth that get a second layer, less ambience under ambience."""
    from segmenter.training.mixing import Pool, rms_db, separation_mixture, speech_activity, steady_pool
    t = np.arange(6 * SAMPLE_RATE) / SAMPLE_RATE

    def pool(*clips: np.ndarray) -> Pool:
        return Pool(list(clips), np.full(len(clips), 1 / len(clips)))
    word = np.concatenate((np.zeros(4000), np.sin(2 * np.pi * 200 * t[:SAMPLE_RATE]), np.zeros(4000))).astype(np.float32)
    speech = Pool([word], np.ones(1), [speech_activity(word)])
    music, sung, noise = (pool(np.sin(2 * np.pi * f * t).astype(np.float32)) for f in (440, 1000, 3000))
    pools = {"speech": speech, "music": music, "sung": sung, "noise": noise, "steady": steady_pool(noise)}
    rng = np.random.default_rng(0)
    both = 0
    for _ in range(300):
        mix, clean, bg = separation_mixture(pools, 2.0, rng)
        np.testing.assert_allclose(mix, clean + bg, atol=1e-6)
        if clean.any():  # the SNR is set outside a pause, which may take half of the mixture
            assert -10.5 - 3.1 < rms_db(clean) - rms_db(bg) < 15.5
        spectrum = np.abs(np.fft.rfft(bg)) ** 2
        hz = np.fft.rfftfreq(len(bg), 1 / SAMPLE_RATE)
        share = [spectrum[(hz > a) & (hz < b)].sum() / spectrum.sum() for a, b in ((340, 560), (2000, 4400))]
        both += min(share) > 1e-4
    assert 0.1 < both / 300 < 0.23


def test_varied_backgrounds_move_a_segmenter_blocks_pitch_and_keep_its_labels() -> None:
    """With `varied` 1, music blocks (a 440 Hz tone) are played faster or slower in about half the
    programmes (352-550 Hz), still labelled music; at 0 nothing is drawn for it, so the programmes of
    recipes without it are unchanged, and `unvaried` (the held-out and calibration mix) is that mix."""
    from segmenter.training.mixing import MUSIC, Pool
    from segmenter.training.programmes import ProgrammeMix, block
    t = np.arange(6 * SAMPLE_RATE) / SAMPLE_RATE
    pools = {"music": Pool([np.sin(2 * np.pi * 440 * t).astype(np.float32)], np.ones(1))}
    n, moved = SAMPLE_RATE, 0
    for seed in range(40):
        audio, labels = block("music", pools, n, np.random.default_rng(seed), ProgrammeMix(varied=1.0))
        assert len(audio) == n and (labels == MUSIC).all()
        peak = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)[np.argmax(np.abs(np.fft.rfft(audio)))]
        assert 350 < peak < 552
        moved += abs(peak - 440) > 3
    assert 10 < moved < 30
    plain = block("music", pools, n, np.random.default_rng(1), ProgrammeMix())[0]
    assert np.array_equal(plain, block("music", pools, n, np.random.default_rng(1),
                                       ProgrammeMix(varied=1.0, equalise=0.5).unvaried())[0])
    with pytest.raises(ValueError, match="equalise applies to varied"):
        ProgrammeMix.from_recipe({"equalise": 0.5})


def test_a_paused_passage_is_silent_for_its_whole_pause() -> None:
    """The pause is one run of exact zeros of 1.5-4 s (at most half the passage), with speech around it."""
    from segmenter.training.mixing import Pool, paused_passage, speech_activity
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    word = np.concatenate((np.zeros(4000), np.sin(2 * np.pi * 200 * t), np.zeros(4000))).astype(np.float32)
    pool = Pool([word], np.ones(1), [speech_activity(word)])
    rng = np.random.default_rng(0)
    n = 8 * SAMPLE_RATE
    for _ in range(20):
        audio, pause = paused_passage(pool, n, rng)
        assert len(audio) == n and 1.5 * SAMPLE_RATE <= pause <= 4 * SAMPLE_RATE
        silent = np.concatenate(([0], (audio == 0).astype(np.int8), [0]))
        runs = np.diff(np.flatnonzero(np.diff(silent)))[::2]
        assert runs.max() >= pause and audio.any()
    assert paused_passage(pool, 2 * SAMPLE_RATE, rng)[1] <= SAMPLE_RATE


def test_training_refuses_to_overwrite_a_trained_model(capsys) -> None:
    """A trainer never rewrites a folder that holds a model (a shipped default included): it stops
    with a clear error before any work."""
    from segmenter.pipeline import DEFAULT_SEGMENTER, PRETRAINED
    from segmenter.training.recipe import REPO
    from segmenter.separation import DEFAULT_SEPARATOR
    from segmenter.training import train_segmenter, train_separator_v2
    for main, recipe, out in ((train_separator_v2.main, "separator-v2", DEFAULT_SEGMENTER),
                              (train_segmenter.main, "segmenter-v3", DEFAULT_SEPARATOR)):
        with pytest.raises(SystemExit) as stop:
            main(["--recipe", str(REPO / "recipes" / f"{recipe}.toml"), "--out", str(PRETRAINED / out)])
        assert stop.value.code == 2 and "already holds a model" in capsys.readouterr().err


@pytest.mark.parametrize("trainer", ["train_segmenter", "train_separator_v2"])
def test_a_trainer_needs_a_recipe(trainer: str, capsys) -> None:
    import importlib
    with pytest.raises(SystemExit) as stop:
        importlib.import_module(f"segmenter.training.{trainer}").main([])
    assert stop.value.code == 2 and "--recipe" in capsys.readouterr().err


def test_labels_are_trusted_only_on_quiet_dry_clips() -> None:
    """A word in silence passes both tests; the same word over hiss 20 dB under it fails both (the
    floor); only the labels fail on the word followed by a reverberant decay of 0.2 s per 8.7 dB
    (the tail the energy rule calls speech)."""
    from segmenter.training.mixing import labels_trusted, quiet_floor, speech_activity
    rng = np.random.default_rng(0)
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    pad = np.zeros(8000, np.float32)
    dry = np.concatenate((pad, tone, pad))
    hissy = dry + (0.3 / np.sqrt(2) * 10 ** (-20 / 20) * rng.standard_normal(len(dry))).astype(np.float32)
    decay = 0.2 * rng.standard_normal(SAMPLE_RATE) * np.exp(-np.arange(SAMPLE_RATE) / (0.2 * SAMPLE_RATE))
    wet = np.concatenate((pad, tone, decay.astype(np.float32), pad))
    assert [labels_trusted(x, speech_activity(x)) for x in (dry, hissy, wet)] == [True, False, False]
    assert [quiet_floor(x, speech_activity(x)) for x in (dry, hissy, wet)] == [True, False, True]
    assert not labels_trusted(pad, speech_activity(pad)) and not quiet_floor(pad, speech_activity(pad))
