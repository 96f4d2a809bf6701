"""Media input: every container/codec the issue names, streaming, and each failure mode."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from segmenter.media import (SAMPLE_RATE, MediaNotFoundError, MediaUnreadableError, NoAudioStreamError,
                             UndecodableMediaError, ffmpeg_binary, read_audio, stream_audio)

FORMATS = {  # suffix: ffmpeg output options (44.1 kHz stereo, as archive files often are)
    "wav": ["-ar", "44100"], "mp3": ["-ar", "44100"], "flac": ["-ar", "44100"],
    "ogg": ["-ar", "44100", "-c:a", "libvorbis"], "opus": ["-ar", "48000", "-c:a", "libopus"],
    "m4a": ["-ar", "44100", "-c:a", "aac"], "aac": ["-ar", "44100", "-c:a", "aac"],
}
VIDEOS = {"mp4": ["-c:v", "libx264", "-c:a", "aac"], "mkv": ["-c:v", "libx264", "-c:a", "libvorbis"],
          "webm": ["-c:v", "libvpx", "-c:a", "libopus"], "mov": ["-c:v", "libx264", "-c:a", "aac"]}


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_binary(), "-v", "error", "-y", *args], check=True)


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_audio_formats_decode_to_16k_mono(example_wav: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"x.{suffix}"
    ffmpeg("-i", str(example_wav), "-ac", "2", *FORMATS[suffix], str(out))
    audio = read_audio(out)
    ref = read_audio(example_wav)
    assert audio.dtype == np.float32
    assert abs(len(audio) - len(ref)) < 0.06 * SAMPLE_RATE  # codec priming / padding only
    assert np.sqrt(np.mean(audio ** 2)) == pytest.approx(np.sqrt(np.mean(ref ** 2)), rel=0.2)


@pytest.mark.parametrize("layout", ["stereo", "5.1", "3c"])  # 3c: three channels of no named layout
def test_channels_are_mixed_as_ffmpegs_ac_1_mixes_them(example_wav: Path, tmp_path: Path, layout: str) -> None:
    """The decode downmixes before it resamples; both are linear, so it gives `-ac 1 -ar 16000`'s samples."""
    n = {"stereo": 2, "5.1": 6, "3c": 3}[layout]
    pan = "|".join(f"c{i}={(i + 1) / n:.2f}*c0" for i in range(n))  # a different level in every channel
    out = tmp_path / "multi.wav"
    ffmpeg("-i", str(example_wav), "-af", f"pan={layout}|{pan},aresample=44100", "-c:a", "pcm_f32le", str(out))
    ac1 = subprocess.run([ffmpeg_binary(), "-v", "error", "-i", str(out), "-ac", "1", "-ar", str(SAMPLE_RATE),
                          "-f", "f32le", "-"], check=True, capture_output=True).stdout
    reference = np.frombuffer(ac1, "<f4")
    audio = read_audio(out)
    assert len(audio) == len(reference) and np.abs(reference).max() > 0.01
    np.testing.assert_allclose(audio, reference, atol=1e-6)


@pytest.mark.parametrize("suffix", sorted(VIDEOS))
def test_video_containers_give_their_audio_track(example_wav: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"v.{suffix}"
    ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=64x48:d=3:r=10", "-i", str(example_wav), "-t", "3",
           *VIDEOS[suffix], str(out))
    audio = read_audio(out)
    assert abs(len(audio) / SAMPLE_RATE - 3.0) < 0.1
    assert np.abs(audio).max() > 0.01


def test_streaming_yields_bounded_blocks(example_wav: Path) -> None:
    blocks = list(stream_audio(example_wav, block_seconds=1.0))
    assert len(blocks) > 3
    assert max(len(b) for b in blocks) == SAMPLE_RATE
    assert np.array_equal(np.concatenate(blocks), read_audio(example_wav))


def test_blocks_in_a_reused_buffer_are_the_same_audio(example_wav: Path) -> None:
    views, copies = [], []
    for b in stream_audio(example_wav, block_seconds=1.0, reuse_buffer=True):
        views.append(b)
        copies.append(b.copy())
    assert np.array_equal(np.concatenate(copies), read_audio(example_wav))
    assert all(np.shares_memory(v, views[0]) for v in views)  # no fresh memory per block


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaNotFoundError, match="no such file"):
        read_audio(tmp_path / "nope.wav")


def test_folder_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(MediaUnreadableError, match="not a regular file"):
        read_audio(tmp_path)


def test_random_bytes_are_undecodable(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(UndecodableMediaError, match="cannot decode"):
        read_audio(bad)


def test_video_without_audio(tmp_path: Path) -> None:
    silent = tmp_path / "silent.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=64x48:d=1:r=10", "-c:v", "libx264", str(silent))
    with pytest.raises(NoAudioStreamError, match="no audio stream"):
        read_audio(silent)


def test_zero_length_audio_is_empty_not_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "0", str(empty))
    assert len(read_audio(empty)) == 0
