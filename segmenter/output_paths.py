"""Where derived media (separated speech tracks) are written: safe, deterministic, collision-free.

It is engine code, free of CLAMS, so that app.py and batch.py apply the same rules to an output folder.

A file name is `<source stem>-<hash>.wav`, where the hash covers the absolute source path and
every option that changes the output (e.g. speechOnly and the smoothing values, the model).
So the same request always writes the same file, and two different requests never share one.
Names are built only from sanitised characters and then checked to lie directly inside the
output folder, so a document id or a path such as `../../x` cannot escape it.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
STEM_MAX = 40
HASH_CHARS = 16


class OutputDirError(OSError):
    """The output folder cannot be created or written to; the message says which and why."""


def safe_stem(text: str) -> str:
    """Only ASCII letters, digits, `_` and `-`; never empty, never `.` / `..`."""
    stem = _UNSAFE.sub("_", Path(str(text)).stem).strip("_-")[:STEM_MAX]
    return stem or "audio"


def output_hash(source: str | os.PathLike, options: Mapping[str, object]) -> str:
    key = json.dumps({"source": os.path.abspath(os.fspath(source)), "options": dict(options)},
                     sort_keys=True, default=str)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:HASH_CHARS]


def prepare_output_dir(output_dir: str | os.PathLike) -> Path:
    """Create the folder if missing and check that it is writable; raise OutputDirError if not."""
    d = Path(output_dir).expanduser()
    if not d.is_absolute():
        d = Path.cwd() / d
    if d.exists() and not d.is_dir():
        raise OutputDirError(f"output folder {d} is not a folder")
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputDirError(f"output folder {d} cannot be created: {e.strerror or e}") from e
    try:  # os.access is not enough (root, read-only mounts): really try to write
        with tempfile.NamedTemporaryFile(dir=d, prefix=".write-test-"):
            pass
    except OSError as e:
        raise OutputDirError(f"output folder {d} is not writable: {e.strerror or e}") from e
    return d.resolve()


def derived_path(output_dir: str | os.PathLike, source: str | os.PathLike,
                 options: Mapping[str, object], suffix: str = ".wav",
                 inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """The output file for `source` under the (existing) `output_dir`.

    Raises ValueError if the result would not lie directly in `output_dir`, or would be one of
    `inputs` (never overwrite an input).
    """
    d = Path(output_dir).resolve()
    out = d / f"{safe_stem(os.path.basename(os.fspath(source)))}-{output_hash(source, options)}{suffix}"
    resolved = out.resolve()  # follows a symlink planted at that name
    if resolved.parent != d:
        raise ValueError(f"refusing to write {out}: it resolves outside the output folder {d}")
    protected = {Path(p).resolve() for p in [source, *inputs]}
    if resolved in protected:
        raise ValueError(f"refusing to write {out}: it is an input file")
    return out

