"""Fixtures for the engine tests: a short real recording (the bundled example) as WAV."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from segmenter.media import ffmpeg_binary

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "speech_music.ogg"


@pytest.fixture(scope="session")
def example_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 10.5 s of the bundled example (clean speech, digital silence, music alone), 16 kHz mono WAV."""
    out = tmp_path_factory.mktemp("example") / "example.wav"
    subprocess.run([ffmpeg_binary(), "-v", "error", "-i", str(EXAMPLE), "-t", "10.5", "-ac", "1", "-ar", "16000",
                    str(out)], check=True)
    return out
