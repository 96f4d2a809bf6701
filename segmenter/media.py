"""Media input: decode anything ffmpeg reads to 16 kHz mono float32, streamed in blocks.

Memory stays flat whatever the duration, because ffmpeg writes raw samples to a pipe and
we hand them on block by block. Failures are classified into specific errors so that an
archivist (or the CLAMS error view) sees *why* a file could not be used.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

SAMPLE_RATE = 16000
BYTES_PER_SAMPLE = 4  # float32
# Downmixed before it is resampled: `-ac 1 -ar 16000` resamples every channel and then mixes
# them, which for a stereo MP3 costs a tenth of the decode more (both are linear: the samples
# agree to float rounding).
DOWNMIX_RESAMPLE = f"aformat=sample_fmts=flt:channel_layouts=mono,aresample={SAMPLE_RATE}"


class MediaError(Exception):
    """A media file could not be used; `path` and `reason` say which and why."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class MediaNotFoundError(MediaError, FileNotFoundError):
    """The path does not exist."""


class MediaUnreadableError(MediaError):
    """The path exists but cannot be read as a file (a folder, or no permission)."""


class UndecodableMediaError(MediaError):
    """ffmpeg could not decode the file (not media, or corrupt)."""


class NoAudioStreamError(MediaError):
    """The container holds no audio stream (e.g. a silent video)."""


def ffmpeg_binary() -> str:
    """The ffmpeg on PATH, else the one bundled by imageio-ffmpeg (pip-only installs)."""
    found = os.environ.get("SEGMENTER_FFMPEG") or shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError as e:  # pragma: no cover - depends on the install
        raise RuntimeError("no ffmpeg on PATH and imageio-ffmpeg is not installed") from e
    return imageio_ffmpeg.get_ffmpeg_exe()


def check_readable(path: str | os.PathLike) -> Path:
    """Fail early, with a specific error, before ffmpeg is started."""
    p = Path(path)
    try:
        exists = p.exists()
    except OSError as e:  # a name too long, say: Path.exists raises instead of saying False
        raise MediaUnreadableError(p, f"cannot be looked up ({e.strerror or e})") from None
    if not exists:
        raise MediaNotFoundError(p, "no such file")
    if not p.is_file():
        raise MediaUnreadableError(p, "not a regular file")
    if not os.access(p, os.R_OK):
        raise MediaUnreadableError(p, "permission denied")
    return p


def _classify_failure(path: Path, stderr: str) -> MediaError:
    text = stderr.lower()
    if "matches no streams" in text or "does not contain any stream" in text:
        return NoAudioStreamError(path, "no audio stream in the file")
    if "permission denied" in text:
        return MediaUnreadableError(path, "permission denied")
    last = stderr.strip().splitlines()[-1] if stderr.strip() else "ffmpeg failed"
    return UndecodableMediaError(path, f"cannot decode audio ({last.strip()})")


def stream_audio(path: str | os.PathLike, block_seconds: float = 30.0,
                 reuse_buffer: bool = False) -> Iterator[np.ndarray]:
    """Yield consecutive float32 blocks of 16 kHz mono audio (the last one may be shorter).

    Zero-length audio yields nothing. Errors are raised before the first block when
    ffmpeg fails outright, so a caller never sees a half-decoded file as success.
    With `reuse_buffer`, each block is a view of one buffer that the next block overwrites: for a
    consumer done with a block before it asks for the next, which then costs no fresh memory (fresh
    multi-megabyte arrays are page-faulted in under the CLI's fixed mmap threshold).
    """
    p = check_readable(path)
    cmd = [ffmpeg_binary(), "-nostdin", "-hide_banner", "-v", "error", "-threads", "1",
           "-i", str(p), "-map", "0:a:0", "-af", DOWNMIX_RESAMPLE, "-f", "f32le", "-flush_packets", "0", "-"]
    # -flush_packets 0: ffmpeg fills its 32 KB output buffer before each write instead of writing
    # every decoded frame (about 1.6 KB) to the pipe, and waking this reader for each: a 1-hour
    # file took 134000 context switches and 0.5 s more CPU on either side.
    buf = bytearray(int(block_seconds * SAMPLE_RATE) * BYTES_PER_SAMPLE)
    # stderr goes to a file, not a pipe: a corrupt file can print more than a pipe holds
    # and would then block ffmpeg while we wait on stdout.
    with tempfile.TemporaryFile() as errfile:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errfile)

        def failure() -> MediaError | None:
            if proc.wait() == 0:
                return None
            errfile.seek(0)
            return _classify_failure(p, errfile.read().decode("utf-8", "replace"))

        try:
            got = proc.stdout.readinto(buf)  # fills `buf` unless the stream ends first
            if not got:
                err = failure()
                if err:
                    raise err
                return
            while got:
                block = np.frombuffer(buf, dtype="<f4", count=got // BYTES_PER_SAMPLE)
                yield block if reuse_buffer else block.copy()
                got = proc.stdout.readinto(buf)
            err = failure()
            if err:
                raise err
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()


def read_audio(path: str | os.PathLike) -> np.ndarray:
    """The whole file as one array: for short clips (training data, tests)."""
    blocks = list(stream_audio(path))
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
