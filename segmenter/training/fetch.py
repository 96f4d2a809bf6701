"""Fetch the training packages (apt-get download + dpkg -x) and decode their audio once.

Each source becomes one cache file `<id>.npz`: 16 kHz int16 clips concatenated, with their
offsets and in-package paths. A clip is routed to validation by a hash of its path, so the
split is stable across runs and machines.
"""
from __future__ import annotations

import fnmatch
import hashlib
import re
import subprocess
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ..media import SAMPLE_RATE, MediaError, read_audio
from .sources import SOURCES, Source

DEFAULT_CACHE = Path.home() / ".cache" / "segmenter-train"
MAX_CLIP_SECONDS = 600


def download(package: str, cache: Path) -> Path:
    """The unpacked package tree (downloaded and unpacked once)."""
    root = cache / "pkgs" / package
    if (root / ".done").exists():
        return root
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    if not list(debs.glob(f"{package}_*.deb")):
        subprocess.run(["apt-get", "download", package], cwd=debs, check=True, capture_output=True)
    deb = sorted(debs.glob(f"{package}_*.deb"))[-1]
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    (root / ".done").write_text(deb.name)
    return root


def _match(name: str, src: Source) -> bool:
    return (any(fnmatch.fnmatch(name, g) or fnmatch.fnmatch(name, g.replace("**/", "")) for g in src.globs)
            and not any(re.search(x, name) for x in src.exclude))


def _decode(data_or_path: bytes | Path, suffix: str) -> np.ndarray:
    """16 kHz mono float32; libsndfile first (fast, in-process), ffmpeg for the rest (G.722, GSM)."""
    try:
        import io
        src = io.BytesIO(data_or_path) if isinstance(data_or_path, bytes) else data_or_path
        audio, sr = sf.read(src, dtype="float32", always_2d=True)
        audio = audio.mean(axis=1)
        return soxr.resample(audio, sr, SAMPLE_RATE).astype(np.float32) if sr != SAMPLE_RATE else audio
    except Exception:
        if isinstance(data_or_path, bytes):
            import tempfile
            with tempfile.NamedTemporaryFile(suffix=suffix) as f:
                f.write(data_or_path)
                f.flush()
                return read_audio(f.name)
        return read_audio(data_or_path)


def collect(src: Source, cache: Path) -> tuple[list[str], list[np.ndarray]]:
    root = download(src.package, cache)
    names, clips = [], []
    if src.inner_zip:
        with zipfile.ZipFile(root / src.inner_zip) as z:
            for name in sorted(z.namelist()):
                if _match(name, src):
                    names.append(name)
                    clips.append(_decode(z.read(name), Path(name).suffix))
    else:
        for p in sorted(root.rglob("*")):
            rel = str(p.relative_to(root))
            if p.is_file() and _match(rel, src):
                try:
                    clips.append(_decode(p, p.suffix))
                    names.append(rel)
                except MediaError:
                    continue
    keep = [(n, c[:MAX_CLIP_SECONDS * SAMPLE_RATE]) for n, c in zip(names, clips) if len(c) > SAMPLE_RATE // 10]
    return [n for n, _ in keep], [c for _, c in keep]


def build_source(src: Source, cache: Path) -> Path:
    out = cache / "pool" / f"{src.id}.npz"
    if out.exists():
        return out
    names, clips = collect(src, cache)
    if not clips:
        raise RuntimeError(f"{src.id}: no audio found in {src.package}")
    audio = np.concatenate([np.clip(c, -1, 1) * 32767 for c in clips]).astype(np.int16)
    offsets = np.cumsum([0] + [len(c) for c in clips])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, audio=audio, offsets=offsets, names=np.array(names))
    tmp.rename(out)
    return out


def build_all(cache: Path = DEFAULT_CACHE, jobs: int = 2) -> list[Path]:
    """Decode every source (packages are downloaded first, one at a time)."""
    for pkg in sorted({s.package for s in SOURCES}):
        download(pkg, cache)
    with ProcessPoolExecutor(jobs) as ex:
        return list(ex.map(build_source, SOURCES, [cache] * len(SOURCES)))


def is_validation(name: str) -> bool:
    """About one clip in ten, chosen by a hash of its path."""
    return int(hashlib.md5(name.encode()).hexdigest(), 16) % 10 == 0
