"""Separation: chunk tiling, speech-only gating, exact duration, and agreement with one pass."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from segmenter.asr_track import AsrTrack
from segmenter.media import SAMPLE_RATE, read_audio
from segmenter.pipeline import Segmenter
from segmenter.separation import FADE_SECONDS, Separator, segment_and_separate, speech_gain


def test_speech_gain_ramps_outside_speech_only() -> None:
    g = speech_gain([(1.0, 2.0)], 0, 3 * SAMPLE_RATE)
    assert g[SAMPLE_RATE:2 * SAMPLE_RATE].min() == 1.0
    assert g[:SAMPLE_RATE - 400].max() == 0.0 and g[2 * SAMPLE_RATE + 400:].max() == 0.0
    assert 0.0 < g[SAMPLE_RATE - 100] < 1.0  # a 20 ms fade-in before the speech starts


def test_separated_file_has_the_source_duration(example_wav: Path, tmp_path: Path) -> None:
    sep = Separator.load()
    out = sep.separate(example_wav, tmp_path / "speech.wav")
    info = sf.info(out)
    assert info.samplerate == SAMPLE_RATE and info.channels == 1
    assert info.frames == len(read_audio(example_wav))


def test_keeps_the_speech_level_and_removes_the_music(example_wav: Path) -> None:
    """The example opens with clean speech (0-5 s) and has music alone at 6.5-11 s. The music's
    first second after the digital silence at 5.5-6.5 s is left out: separator-v2 passes it (README)."""
    audio = read_audio(example_wav)
    out = Separator.load().separate_audio(audio)

    def db(x: np.ndarray) -> float:
        return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-20))
    speech, music = slice(0, 5 * SAMPLE_RATE), slice(8 * SAMPLE_RATE, int(10.5 * SAMPLE_RATE))
    assert abs(db(out[speech]) - db(audio[speech])) < 6.0
    assert db(out[music]) < db(audio[music]) - 20.0


def test_chunked_separation_matches_one_pass(example_wav: Path) -> None:
    """The shipped separator in chunks of 100 frames (1.6 s), blocks cut anywhere: one pass's output."""
    from segmenter.cmask import ComplexMaskSeparator
    sep = Separator.load()
    audio = read_audio(example_wav)
    whole = sep.separate_audio(audio)
    small = ComplexMaskSeparator(sep.net, core_frames=100)
    chunked = np.concatenate(list(small.stream(iter([audio[:30000], audio[30000:30001], audio[30001:]]))))
    assert len(chunked) == len(audio)
    err = np.sqrt(np.mean((chunked - whole) ** 2)) / np.sqrt(np.mean(whole ** 2))
    assert err < 1e-3


def test_one_decode_gives_the_same_segmentation_and_track(example_wav: Path, tmp_path: Path) -> None:
    """segment_and_separate decodes once for both: its segmentation and its track are exactly
    those of two separate passes."""
    segmenter, separator = Segmenter.load(), Separator.load()
    seg, out = segment_and_separate(segmenter, separator, example_wav, tmp_path / "both.wav")
    assert seg == segmenter.segment(example_wav)
    alone = separator.separate(example_wav, tmp_path / "alone.wav")
    assert out.read_bytes() == alone.read_bytes()


def test_speech_only_zeroes_non_speech(example_wav: Path, tmp_path: Path) -> None:
    """Silence outside the segmentation's speech (beyond the fades), inside it the separated track
    with the ASR track's limits."""
    segmenter, separator = Segmenter.load(), Separator.load()
    asr = AsrTrack(attenuation_limit=10.0, mix_back=0.2)
    seg, out = segment_and_separate(segmenter, separator, example_wav, tmp_path / "only.wav", speech_only=True,
                                    asr=asr)
    gated, _ = sf.read(out, dtype="int16")
    full, _ = sf.read(separator.separate(example_wav, tmp_path / "full.wav", asr.limit), dtype="int16")
    speech = seg.speech()
    assert speech and seg.duration - sum(e - s for s, e in speech) > 1.0  # both kinds to check
    inside = np.zeros(len(full), bool)
    for s, e in speech:
        inside[int(s * SAMPLE_RATE):int(e * SAMPLE_RATE)] = True
    fade = int(FADE_SECONDS * SAMPLE_RATE) + 1
    near = np.convolve(inside, np.ones(2 * fade + 1), "same") > 0  # speech or within a fade of it
    assert np.array_equal(gated[inside], full[inside])
    assert not gated[~near].any() and full[~near].any()


def test_never_overwrites_its_input(example_wav: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.wav"
    shutil.copy(example_wav, src)
    before = src.read_bytes()
    with pytest.raises(ValueError, match="overwrite"):
        Separator.load().separate(src, src)
    with pytest.raises(ValueError, match="overwrite"):
        segment_and_separate(Segmenter.load(), Separator.load(), src, src)
    assert src.read_bytes() == before


def test_cli_speech_only_on_zero_length_says_no_track(tmp_path: Path, capsys) -> None:
    """`separate --speech-only` on a medium without samples writes nothing, and says so."""
    import wave
    from segmenter.__main__ import main
    zero = tmp_path / "zero.wav"
    with wave.open(str(zero), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(SAMPLE_RATE)
    assert main(["separate", str(zero), str(tmp_path / "out.wav"), "--speech-only"]) == 0
    assert "no track written" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zero.wav"]


def test_the_asr_track_limits_the_mask_only_when_asked(example_wav: Path, tmp_path: Path) -> None:
    """By default the ASR track is the plain separated track gated to the speech; with an
    attenuation limit, the music that the plain track removes (8-10.5 s) stays at no less than
    the limit (less up to 3 dB: a floored gain keeps the complex mask's phase, and overlap-add
    partly cancels frames whose phases disagree)."""
    segmenter, separator = Segmenter.load(), Separator.load()
    audio = read_audio(example_wav)
    limit = AsrTrack(attenuation_limit=6.0)
    limited = separator.separate_audio(audio, limit.limit)
    plain = separator.separate_audio(audio)
    music = slice(8 * SAMPLE_RATE, int(10.5 * SAMPLE_RATE))

    def db(x: np.ndarray) -> float:
        return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-20))
    assert db(plain[music]) < db(audio[music]) - limit.attenuation_limit - 3
    assert db(limited[music]) > db(audio[music]) - limit.attenuation_limit - 3
    seg, out = segment_and_separate(segmenter, separator, example_wav, tmp_path / "asr.wav", speech_only=True)
    track, _ = sf.read(out, dtype="int16")
    expected, _ = sf.read(separator.separate(example_wav, tmp_path / "plain.wav"), dtype="int16")
    s, e = seg.speech()[0]
    inside = slice(int(s * SAMPLE_RATE) + 400, int(e * SAMPLE_RATE) - 400)
    assert e - s > 1 and np.array_equal(track[inside], expected[inside])


def test_the_asr_track_floor_keeps_a_complex_masks_phase() -> None:
    m = np.array([0.0, 1e-3j, 0.5 + 0.5j, 1.1], np.complex64)
    out = AsrTrack(attenuation_limit=20.0, mix_back=0.0).limit(m)
    np.testing.assert_allclose(out, [0.1, 0.1j, 0.5 + 0.5j, 1.1], atol=1e-7)
    np.testing.assert_allclose(AsrTrack(attenuation_limit=100.0, mix_back=0.25).limit(np.float32([0.0, 1.0])),
                               [0.25, 1.0], atol=1e-4)
    with pytest.raises(ValueError, match="mix_back"):
        AsrTrack(mix_back=1.5).validate()
