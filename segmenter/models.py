"""Where the models live: the committed `pretrained/` folders, the defaults among them, and the
environment variables that point a deployment at other folders."""
from __future__ import annotations

import json
import os
from pathlib import Path

PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained"
DEFAULT_SEGMENTER = "segmenter-v14"
DEFAULT_SEPARATOR = "separator-v5"
SEGMENTER_ENV = "SEGMENTER_MODEL"
SEPARATOR_ENV = "SEPARATOR_MODEL"


def resolve_model_dir(model_dir: str | os.PathLike | None, env: str, default: str) -> Path:
    """An explicit directory, else `$env`, else `pretrained/<default>`."""
    chosen = Path(model_dir or os.environ.get(env) or PRETRAINED / default)
    if not (chosen / "weights.npz").is_file():
        raise FileNotFoundError(f"no model at {chosen} (expected weights.npz there)")
    return chosen


def _dir_help(kind: str, env: str, default: str) -> str:
    return f"{kind} model directory (default: ${env}, else {PRETRAINED / default})"


# Help for a command-line option that names a model folder, with the lookup it falls back on.
SEGMENTER_DIR_HELP = _dir_help("segmenter", SEGMENTER_ENV, DEFAULT_SEGMENTER)
SEPARATOR_DIR_HELP = _dir_help("separator", SEPARATOR_ENV, DEFAULT_SEPARATOR)


def model_version(name: str) -> str:
    """A pretrained model's name plus, when its config.json says, its version."""
    try:
        version = json.loads((PRETRAINED / name / "config.json").read_text()).get("version")
    except (OSError, ValueError):
        version = None
    return f"{name} ({version})" if version else name
