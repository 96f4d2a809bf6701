"""Smoothing rules, tiling, the binary collapse, and feature framing."""
from __future__ import annotations

import numpy as np
import pytest

from segmenter.features import FeatureStream, frame_count, log_mel
from segmenter.segments import LABELS, ParameterValueError, SmoothingParams, smooth, speech_mask


def probs_from(pattern: str, frames_per_char: int = 10) -> np.ndarray:
    """'S' speech, 'M' music, 'N' noise, '.' silence; each char = 10 frames (0.1 s)."""
    idx = np.repeat(["SMN.".index(c) for c in pattern], frames_per_char)
    p = np.full((len(idx), 4), 0.01)
    p[np.arange(len(idx)), idx] = 0.97
    return p


def test_gap_shorter_than_min_gap_is_filled() -> None:
    p = probs_from("SSSSS..SSSSS")  # 0.2 s gap
    mask = speech_mask(p[:, 0], SmoothingParams(min_gap=0.3, padding=0.0))
    assert mask.all()


def test_gap_at_least_min_gap_is_kept() -> None:
    p = probs_from("SSSSS....SSSSS")  # 0.4 s gap
    mask = speech_mask(p[:, 0], SmoothingParams(min_gap=0.3, padding=0.0))
    assert not mask[55:85].any() and mask[:50].all() and mask[90:].all()


def test_short_speech_is_dropped() -> None:
    p = probs_from("MMMMMSMMMMM")  # 0.1 s of speech
    mask = speech_mask(p[:, 0], SmoothingParams(min_speech=0.25, padding=0.0))
    assert not mask.any()


def test_padding_extends_both_ends_within_file() -> None:
    p = probs_from("SSS.....SSS")
    mask = speech_mask(p[:, 0], SmoothingParams(padding=0.1, min_gap=0.0, padding_floor=0.0))
    assert mask[:40].all() and not mask[40:70].any() and mask[70:].all()


def test_padding_stops_under_its_floor() -> None:
    """A faint tail (P 0.3) is padded over; silence beyond it (P 0.01) is not."""
    p = probs_from("SSS......")[:, 0]
    p[30:35] = 0.3
    mask = speech_mask(p, SmoothingParams(padding=0.2, min_gap=0.0, padding_floor=0.1))
    assert mask[:35].all() and not mask[35:].any()
    with pytest.raises(ParameterValueError):
        SmoothingParams(padding_floor=1.0).validate()


def test_padding_leaves_no_pause_shorter_than_min_gap() -> None:
    """A 0.5 s pause (kept: at least min_gap) narrowed to 0.1 s by the padding becomes speech; a
    0.8 s one keeps 0.4 s (the bundled example showed 20 ms of 'music' between two speech segments)."""
    params = SmoothingParams(min_gap=0.3, padding=0.2, padding_floor=0.0)
    assert speech_mask(probs_from("SSSSS.....SSSSS")[:, 0], params).all()
    mask = speech_mask(probs_from("SSSSS........SSSSS")[:, 0], params)
    assert mask[:70].all() and not mask[70:110].any() and mask[110:].all()
    mask = speech_mask(probs_from("...SSSSS...")[:, 0], params)  # no pause beyond the file's ends
    assert mask[10:100].all() and not mask[:10].any() and not mask[100:].any()


def test_threshold_decides_speech() -> None:
    p = np.tile([[0.6, 0.4, 0.0, 0.0]], (100, 1))
    assert speech_mask(p[:, 0], SmoothingParams(threshold=0.5)).all()
    assert not speech_mask(p[:, 0], SmoothingParams(threshold=0.7)).any()


def test_segments_tile_the_duration_and_scores_are_means() -> None:
    p = probs_from("..MMMMMMMMMMSSSSSSSSSSNNNNNNNNNN...")
    seg = smooth(p, 3.456, SmoothingParams(padding=0.0))
    assert seg.segments[0].start == 0.0 and seg.segments[-1].end == 3.456
    for a, b in zip(seg.segments, seg.segments[1:]):
        assert a.end == b.start and a.label != b.label
    speech = [s for s in seg.segments if s.label == "speech"]
    assert len(speech) == 1 and speech[0].start == pytest.approx(1.2) and speech[0].end == pytest.approx(2.2)
    assert speech[0].scores["speech"] == pytest.approx(0.97)
    assert set(speech[0].scores) == set(LABELS)
    assert {s.label for s in seg.segments} == {"speech", "music", "noise", "silence"}


def test_uint8_probabilities_give_the_same_segments() -> None:
    p = probs_from("..MMMMMMSSSSSSSNNNNN.")
    a = smooth(p, 2.1)
    b = smooth(np.round(p * 255).astype(np.uint8), 2.1)
    assert [(s.start, s.end, s.label) for s in a.segments] == [(s.start, s.end, s.label) for s in b.segments]


def test_binary_collapse_merges_non_speech() -> None:
    seg = smooth(probs_from("MMMMMNNNNNSSSSS....."), 2.0, SmoothingParams(padding=0.0))
    binary = seg.binary()
    assert [s.label for s in binary] == ["non-speech", "speech", "non-speech"]
    assert binary[0].end == pytest.approx(1.0) and binary[-1].end == 2.0
    assert binary[1].scores["speech"] + binary[1].scores["non-speech"] == pytest.approx(1.0)


def test_empty_input_gives_empty_segmentation() -> None:
    seg = smooth(np.zeros((0, 4)), 0.0)
    assert seg.segments == [] and seg.binary() == [] and seg.speech_ratio() == 0.0


@pytest.mark.parametrize("bad", [dict(threshold=1.5), dict(min_speech=-1), dict(padding=100)])
def test_bad_parameters_are_named(bad: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        SmoothingParams(**bad).validate()


def test_feature_frames_match_duration_and_streaming() -> None:
    rng = np.random.default_rng(1)
    audio = rng.standard_normal(16000 * 3 + 77).astype(np.float32) * 0.1
    whole = log_mel(audio)
    assert len(whole) == frame_count(len(audio)) == 301
    stream = FeatureStream()
    parts = [stream.push(audio[i:i + 5000]) for i in range(0, len(audio), 5000)] + [stream.finish()]
    assert np.allclose(np.concatenate(parts), whole, atol=1e-5)


def test_feature_frame_is_centred_on_its_10ms_span() -> None:
    audio = np.zeros(16000, np.float32)
    audio[5000:5160] = 0.5  # frame 31.25 -> energy peaks in frames 31/32
    f = log_mel(audio).mean(axis=1)
    assert int(np.argmax(f)) in (31, 32)


def test_log_mel_equals_the_dense_textbook_computation() -> None:
    """The filterbank is applied in blocks of bands over their own bins: no weight may be lost."""
    from segmenter.features import FRAME_HOP, LEAD, N_FFT, mel_basis, window
    audio = np.random.default_rng(3).standard_normal(16000).astype(np.float32) * 0.1
    n = frame_count(len(audio))
    padded = np.concatenate((np.zeros(LEAD), audio, np.zeros(N_FFT)))
    frames = np.stack([padded[i * FRAME_HOP:i * FRAME_HOP + N_FFT] for i in range(n)]) * window()
    mel = np.abs(np.fft.rfft(frames, axis=1)) ** 2 @ mel_basis().T.astype(np.float64)
    assert np.allclose(log_mel(audio), 0.5 * np.log10(mel + 1e-10) + 2.0, atol=1e-4)


def test_stored_filterbank_is_librosas() -> None:
    from segmenter.features import librosa_frontend, mel_basis, window
    w, m = librosa_frontend()
    assert np.array_equal(window(), w) and np.array_equal(mel_basis(), m)


def test_moving_average_matches_a_direct_mean() -> None:
    from segmenter.segments import moving_average
    x = np.random.default_rng(2).random((50, 3)).astype(np.float32)
    avg = moving_average(x, 5)
    padded = np.concatenate((x[:1], x[:1], x, x[-1:], x[-1:]))
    assert np.allclose(avg, [padded[i:i + 5].mean(axis=0) for i in range(50)], atol=1e-6)


@pytest.mark.parametrize("params", [SmoothingParams(), SmoothingParams(threshold=0.3, min_speech=0.5, min_gap=1.0,
                                                                       padding=0.3)])
def test_streamed_smoothing_equals_one_pass(params: SmoothingParams) -> None:
    from segmenter.segments import Smoother
    rng = np.random.default_rng(8)
    # flickering probabilities with slow drifts, so that every rule fires somewhere
    p = np.abs(np.cumsum(rng.normal(0, 0.08, (5000, 4)), axis=0)) + rng.random((5000, 4)) * 0.3
    p = np.round(p / p.sum(axis=1, keepdims=True) * 255).astype(np.uint8)
    whole = smooth(p, 49.995, params)
    s = Smoother(params, chunk_frames=300)
    for a in range(0, 5000, 777):
        s.push(p[a:a + 777])
    streamed = s.finish(49.995)
    assert len(whole.segments) > 5
    assert streamed == whole
