"""Real codecs through ffmpeg, for channel augmentation: what archives hold besides studio audio.

A codec is named in a recipe as `name` or `name:setting` (a bitrate or a codec2 mode). Each is
an encode and a decode by an ffmpeg that has the encoder: Debian's ffmpeg lacks AMR-NB and
imageio-ffmpeg's static build lacks GSM, codec2 and Speex, so each codec takes the first of the
two that has it. Starting ffmpeg costs a tenth of a second or more, so callers code many clips
in one call (`code_many`), with silence between them so that no codec state crosses a clip.
"""
from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache

import numpy as np

from ..media import SAMPLE_RATE

# codec name -> (encoder, output format, sample rate it runs at, option that takes the setting)
CODECS: dict[str, tuple[str, str, int, str | None]] = {
    "gsm": ("libgsm", "gsm", 8000, None),  # GSM 06.10 full rate, 13 kb/s
    "amr_nb": ("libopencore_amrnb", "amr", 8000, "-b:a"),  # 4.75k-12.2k
    "g711_mulaw": ("pcm_mulaw", "wav", 8000, None),
    "g711_alaw": ("pcm_alaw", "wav", 8000, None),
    "g726": ("g726", "wav", 8000, "-b:a"),  # 16k, 24k, 32k, 40k
    "codec2": ("libcodec2", "codec2", 8000, "-mode"),  # 3200 ... 700C
    "mp3": ("libmp3lame", "mp3", SAMPLE_RATE, "-b:a"),
    "opus": ("libopus", "ogg", SAMPLE_RATE, "-b:a"),
    "speex": ("libspeex", "ogg", SAMPLE_RATE, None),
}
GAP = SAMPLE_RATE // 4  # silence between clips coded together
MAX_LAG = SAMPLE_RATE // 8  # a codec's delay, searched within +-125 ms (MP3 at 16 kHz: about 70 ms)


def _binaries() -> list[str]:
    found = [shutil.which("ffmpeg")]
    try:
        import imageio_ffmpeg
        found.append(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        pass
    return [b for b in found if b]


@lru_cache(maxsize=None)
def _encoders(binary: str) -> frozenset[str]:
    out = subprocess.run([binary, "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    return frozenset(line.split()[1] for line in out.splitlines() if line.startswith(" A"))


def binary_for(codec: str) -> str:
    """An ffmpeg that can encode `codec` ('name' or 'name:setting'); a clear error if none can."""
    name = codec.split(":")[0]
    if name not in CODECS:
        raise ValueError(f"unknown codec {codec!r}: one of {', '.join(CODECS)}")
    for b in _binaries():
        if CODECS[name][0] in _encoders(b):
            return b
    raise RuntimeError(f"no ffmpeg here can encode {name} ({CODECS[name][0]}): install Debian's ffmpeg "
                       "(GSM, codec2, Speex) and keep imageio-ffmpeg (AMR-NB)")


def check_available(codecs: list[str]) -> None:
    for c in codecs:
        binary_for(c)


def _ffmpeg(binary: str, args: list[str], data: bytes) -> bytes:
    run = subprocess.run([binary, "-hide_banner", "-loglevel", "error", *args], input=data, capture_output=True)
    if run.returncode:
        raise RuntimeError(f"ffmpeg {' '.join(args)} failed: {run.stderr.decode(errors='replace')[-300:]}")
    return run.stdout


def code(x: np.ndarray, codec: str) -> np.ndarray:
    """`x` (16 kHz mono float32) encoded and decoded with `codec`, the same length, delay removed."""
    name, _, setting = codec.partition(":")
    encoder, fmt, rate, option = CODECS[name]
    binary = binary_for(codec)
    raw = ["-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", "1"]
    args = raw + ["-i", "pipe:0", "-ar", str(rate), "-c:a", encoder]
    if setting and option:
        args += [option, setting]
    coded = _ffmpeg(binary, args + ["-f", fmt, "pipe:1"], np.clip(x, -1, 1).astype(np.float32).tobytes())
    y = np.frombuffer(_ffmpeg(binary, ["-i", "pipe:0"] + raw + ["pipe:1"], coded), np.float32)
    return align(y, x)


def align(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """`y` shifted onto `x` and cut or padded to its length. The lag comes from the 1 ms energy
    envelopes, not the waveforms, because a vocoder (codec2, AMR) keeps the envelope but not the phase."""
    step = SAMPLE_RATE // 1000

    def envelope(s: np.ndarray) -> np.ndarray:
        n = len(s) // step
        return np.log(np.mean(s[:n * step].reshape(n, step).astype(np.float64) ** 2, axis=1) + 1e-9)
    ex, ey = envelope(x), envelope(y)
    n = min(len(ex), len(ey))
    if n > 4:
        a, b = ex[:n] - ex[:n].mean(), ey[:n] - ey[:n].mean()
        size = 1 << int(np.ceil(np.log2(2 * n)))
        corr = np.fft.irfft(np.fft.rfft(b, size) * np.conj(np.fft.rfft(a, size)), size)
        span = MAX_LAG // step
        lags = np.concatenate((np.arange(0, span + 1), np.arange(-span, 0)))
        lag = int(lags[np.argmax(corr[lags])]) * step
    else:
        lag = 0
    y = y[lag:] if lag >= 0 else np.concatenate((np.zeros(-lag, np.float32), y))
    out = np.zeros(len(x), np.float32)
    out[:min(len(x), len(y))] = y[:len(x)]
    return out


def code_many(clips: list[np.ndarray], codec: str) -> list[np.ndarray]:
    """Each clip coded with `codec`, in one ffmpeg encode and one decode for all of them."""
    if not clips:
        return []
    gap = np.zeros(GAP, np.float32)
    joined = np.concatenate([p for c in clips for p in (c.astype(np.float32), gap)])
    coded = code(joined, codec)
    out, pos = [], 0
    for c in clips:
        out.append(coded[pos:pos + len(c)].copy())
        pos += len(c) + GAP
    return out
