"""Fetch the training packages, pinned, and decode their audio once.

Every package is pinned in `packages.lock` (package, exact version, sha256 of the .deb): `download`
fetches exactly that version with `apt-get download` and refuses a .deb whose sha256 differs.
`python -m segmenter.training.fetch --lock` writes the lock from the archive's current versions.

Each source becomes one cache file `pool/<id>-<key>.npz` (16 kHz int16 clips concatenated, their
offsets and names), where the key hashes the source's definition, the locked version and the decode
settings: a changed source is decoded again, an unchanged one is reused.
"""
from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import soxr

from ..media import SAMPLE_RATE
from .extractors import EXTRACTORS
from .sources import SOURCES, Source, excluded

DEFAULT_CACHE = Path.home() / ".cache" / "segmenter-train"
LOCK = Path(__file__).with_name("packages.lock")
LOCK_HEADER = "package\tversion\tsha256"
MAX_CLIP_SECONDS = 600
MIN_CLIP_SAMPLES = SAMPLE_RATE // 10


class LockError(RuntimeError):
    """A package that is not pinned, or a .deb that is not the pinned one."""


@dataclass(frozen=True)
class Pin:
    version: str
    sha256: str


def read_lock(path: Path = LOCK) -> dict[str, Pin]:
    if not path.exists():
        raise LockError(f"no lock file {path}: write it with `python -m segmenter.training.fetch --lock`")
    lines = path.read_text().splitlines()
    if not lines or lines[0] != LOCK_HEADER:
        raise LockError(f"{path}: the first line must be {LOCK_HEADER!r}")
    pins = {}
    for line in lines[1:]:
        if line:
            package, version, sha = line.split("\t")
            pins[package] = Pin(version, sha)
    return pins


def pin_for(package: str, lock: dict[str, Pin]) -> Pin:
    if package not in lock:
        raise LockError(f"{package} is not in {LOCK.name}: add it with `python -m segmenter.training.fetch --lock`")
    return lock[package]


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_apt_updated = False


def apt_get(*args: str, cwd: Path | None = None) -> str:
    """Run apt-get, with one `apt-get update` first in this process (a fresh machine has no lists)."""
    global _apt_updated
    if not _apt_updated:
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
        _apt_updated = True
    done = subprocess.run(["apt-get", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise LockError(f"apt-get {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def fetch_deb(package: str, version: str, cache: Path) -> Path:
    """The .deb of `package` at exactly `version`, downloaded into cache/debs unless already there."""
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    pattern = f"{package}_{version.replace(':', '%3a')}_*.deb"
    found = sorted(debs.glob(pattern))
    if not found:
        apt_get("download", f"{package}={version}", cwd=debs)
        found = sorted(debs.glob(pattern))
    if not found:
        raise LockError(f"apt-get download {package}={version} left no {pattern} in {debs}")
    return found[0]


def download(package: str, cache: Path, lock: dict[str, Pin] | None = None) -> Path:
    """The unpacked tree of `package` at its locked version (downloaded, verified and unpacked once)."""
    pin = pin_for(package, read_lock() if lock is None else lock)
    root = cache / "pkgs" / f"{package}_{pin.version}"
    if (root / ".done").exists():
        return root
    deb = fetch_deb(package, pin.version, cache)
    got = sha256_of(deb)
    if got != pin.sha256:
        raise LockError(f"{deb}: sha256 {got} is not the locked {pin.sha256}; "
                        "delete the file to fetch it again, or refresh the lock if the archive changed")
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    (root / ".done").write_text(deb.name)
    return root


def write_lock(packages: Iterable[str], cache: Path = DEFAULT_CACHE, path: Path = LOCK) -> dict[str, Pin]:
    """Pin each package at the archive's current version: download it and record its sha256."""
    pins = {}
    for package in sorted(set(packages)):
        shown = apt_get("-qq", "--print-uris", "download", package)  # 'URI' name_version_arch.deb size SHA256:...
        name = shown.split()[1]
        version = name.split("_")[1].replace("%3a", ":")
        deb = fetch_deb(package, version, cache)
        pins[package] = Pin(version, sha256_of(deb))
    path.write_text(LOCK_HEADER + "\n" + "".join(f"{p}\t{v.version}\t{v.sha256}\n" for p, v in pins.items()))
    return pins


def pool_path(src: Source, cache: Path, lock: dict[str, Pin] | None = None) -> Path:
    """The decoded cache file of `src`: named by its key (definition, locked version, decode settings)."""
    pin = pin_for(src.package, read_lock() if lock is None else lock)
    return cache / "pool" / f"{src.id}-{src.key(f'{pin.version}/{SAMPLE_RATE}/{MAX_CLIP_SECONDS}')}.npz"


def wanted(src: Source) -> Callable[[str], bool]:
    """Whether a clip name is one of `src`'s: matched by a glob (`**/` may match no folder) and by no exclusion."""
    import fnmatch
    globs = [g for pattern in src.globs for g in {pattern, pattern.replace("**/", "")}]
    exclude = [re.compile(x) for x in src.exclude]
    return lambda name: (any(fnmatch.fnmatch(name, g) for g in globs)
                         and not any(x.search(name) for x in exclude))


def collect(src: Source, cache: Path, lock: dict[str, Pin] | None = None) -> tuple[list[str], list[np.ndarray]]:
    """`src`'s clips as 16 kHz int16, at most MAX_CLIP_SECONDS each; shorter than 0.1 s left out."""
    root = download(src.package, cache, lock)
    extract = EXTRACTORS[src.extractor]
    clips = extract(root, wanted(src), src.inner_zip) if src.inner_zip else extract(root, wanted(src))
    names, out = [], []
    for name, audio, sr in clips:
        if sr != SAMPLE_RATE:
            audio = soxr.resample(audio, sr, SAMPLE_RATE)
        audio = audio[:MAX_CLIP_SECONDS * SAMPLE_RATE]
        if len(audio) > MIN_CLIP_SAMPLES:
            names.append(name)
            out.append((np.clip(audio, -1, 1) * 32767).astype(np.int16))
    return names, out


def build_source(src: Source, cache: Path, lock: dict[str, Pin] | None = None) -> Path:
    """Decode `src` into its cache file unless that is there already; older files of the source go."""
    out = pool_path(src, cache, lock)
    if out.exists():
        return out
    names, clips = collect(src, cache, lock)
    if not clips:
        raise RuntimeError(f"{src.id}: no audio found in {src.package}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, audio=np.concatenate(clips), offsets=np.cumsum([0] + [len(c) for c in clips]),
             names=np.array(names))
    tmp.rename(out)
    for stale in out.parent.glob(f"{src.id}-*.npz"):
        if stale != out and re.fullmatch(rf"{re.escape(src.id)}-[0-9a-f]{{12}}\.npz", stale.name):
            stale.unlink()
    return out


def build_all(cache: Path = DEFAULT_CACHE, jobs: int = 2, sources: Sequence[Source] = SOURCES) -> list[Path]:
    """Decode every source not cached yet (packages are downloaded first, one at a time)."""
    lock = read_lock()
    todo = [s for s in sources if not pool_path(s, cache, lock).exists()]
    for package in sorted({s.package for s in todo}):
        download(package, cache, lock)
    if todo:
        with ProcessPoolExecutor(jobs) as ex:
            list(ex.map(build_source, todo, [cache] * len(todo), [lock] * len(todo)))
    return [pool_path(s, cache, lock) for s in sources]


def usable_clips(src: Source, cache: Path, lock: dict[str, Pin],
                 skip: set[tuple[str, str]]) -> tuple[np.ndarray, list[str], list[int], list[int]] | None:
    """From `src`'s decoded cache file: every clip's hours and name, the clips kept (`skip`'s
    evaluation files left out) and the held-out ones among them; None if it is not decoded."""
    path = pool_path(src, cache, lock)
    if not path.exists():
        return None
    with np.load(path) as z:
        offsets, names = z["offsets"], [str(n) for n in z["names"]]
    keep = [j for j, n in enumerate(names) if (src.package, n) not in skip]
    held = [j for j, h in zip(keep, src.held_out([names[j] for j in keep])) if h]
    return np.diff(offsets) / SAMPLE_RATE / 3600, names, keep, held


def usable_clip_ids(src: Source, cache: Path, lock: dict[str, Pin], skip: set[tuple[str, str]]) -> set[tuple[str, str]] | None:
    """(package, file) of each of `src`'s usable clips, by which two sources share a clip; None if
    it is not decoded."""
    clips = usable_clips(src, cache, lock, skip)
    if clips is None:
        return None
    _, names, keep, _ = clips
    return {(src.package, names[j]) for j in keep}


def clip_hours(src: Source, cache: Path, lock: dict[str, Pin], skip: set[tuple[str, str]]) -> tuple[float, float] | None:
    """Hours of `src`'s usable clips and of its held-out groups; None if it is not decoded."""
    clips = usable_clips(src, cache, lock, skip)
    if clips is None:
        return None
    hours, _, keep, held = clips
    return float(hours[keep].sum()), float(hours[held].sum())


def summary(cache: Path = DEFAULT_CACHE, sources: Sequence[Source] = SOURCES) -> str:
    """Hours, clips and groups per source, and the held-out share, from the decoded cache (excluded
    evaluation files left out)."""
    lock, skip = read_lock(), excluded()
    rows, kinds = [], {}
    for src in sources:
        clips = usable_clips(src, cache, lock, skip)
        if clips is None:
            rows.append(f"{src.id:22} {src.kind:6} (not decoded)")
            continue
        lengths, names, keep, held = clips
        hours, held_hours = lengths[keep].sum(), lengths[held].sum()
        groups = {src.group_of(names[j]) for j in keep}
        total = kinds.setdefault(src.kind, [0.0, 0.0, 0])
        total[0] += hours
        total[1] += held_hours
        total[2] += len(keep)
        rows.append(f"{src.id:22} {src.kind:6} {hours:7.2f} h {len(keep):6d} clips {len(groups):5d} groups "
                    f"held out {held_hours / max(hours, 1e-9):5.1%}")
    rows.append("")
    rows += [f"{kind:6} {h:7.2f} h {n:6d} clips, held out {v / max(h, 1e-9):5.1%}" for kind, (h, v, n) in kinds.items()]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m segmenter.training.fetch", description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--lock", action="store_true", help=f"pin every source's package at its current version in {LOCK.name}")
    ap.add_argument("--build", action="store_true", help="download, verify and decode every source not cached yet")
    ap.add_argument("--summary", action="store_true", help="hours per source and kind, and the held-out share")
    args = ap.parse_args(argv)
    if args.lock:
        pins = write_lock({s.package for s in SOURCES}, args.cache)
        print(f"{len(pins)} packages pinned in {LOCK}")
    if args.build:
        build_all(args.cache)
    if args.summary or not (args.lock or args.build):
        print(summary(args.cache))
    return 0


if __name__ == "__main__":
    sys.exit(main())
