"""Helpers shared by the benchmark drivers (run in the main venv, /work/main/.venv)."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENVS = HERE / ".venvs"
SYSTEMS_DIR = HERE / "systems"
OUT = HERE / "out"
MAIN_PY = os.environ.get("MAIN_PYTHON") or (
    str(REPO / ".venv/bin/python") if (REPO / ".venv/bin/python").exists() else sys.executable)
DEFAULT_CORPUS = Path(os.environ.get("SPEECH_CORPUS", Path.home() / ".cache/speech-corpus/dev"))

SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                     "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
                     "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
CPU = os.environ.get("BENCH_CPU", "0")  # the single core for taskset


BOOTSTRAP_ROUNDS = 2000


def paired_bootstrap(stat: Callable[[np.ndarray], float], units: int, rounds: int = BOOTSTRAP_ROUNDS,
                     seed: int = 0, confidence: float = 0.95) -> tuple[float, float, float]:
    """`stat` over every unit, and the bounds of its central `confidence` interval (2.5th and 97.5th
    percentiles at 0.95) over `rounds` resamplings of the units with replacement. `stat` takes the
    resampled unit indices and compares two systems on the same ones, so that the interval is
    paired: what the units share (a passage, a programme) varies both systems alike and leaves the
    comparison."""
    picks = np.random.default_rng(seed).integers(0, units, size=(rounds, units))
    tail = 50 * (1 - confidence)
    lo, hi = np.percentile([stat(p) for p in picks], [tail, 100 - tail])
    return float(stat(np.arange(units))), float(lo), float(hi)


def candidate_dir(spec: str, kind: str = "separator") -> tuple[str, Path]:
    """`NAME=DIR` (a --candidate or --gate value) -> (NAME, DIR), DIR a `kind` model folder."""
    name, sep, model_dir = spec.partition("=")
    if not sep or not name or not Path(model_dir, "config.json").exists():
        option = "--candidate" if kind == "separator" else "--gate"
        raise SystemExit(f"{option} takes NAME=DIR, DIR a {kind} model folder, not {spec!r}")
    return name, Path(model_dir).resolve()


def venv_python(venv: str) -> str:
    return str(VENVS / venv / "bin/python")


def env_single_thread(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.update(SINGLE_THREAD_ENV)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    if extra:
        env.update(extra)
    return env


def pinned(cmd: list[str], cpu: str = CPU) -> list[str]:
    """`cmd` on one core: BENCH_CPU's, or `cpu` when a driver runs two systems side by side."""
    return ["taskset", "-c", cpu, *cmd]


def run_measured(cmd: list[str], cwd: Path = REPO, env: dict | None = None, log: Path | None = None,
                 stdout=None) -> dict:
    """Run a child to completion; wall seconds and peak RSS (MB, the child and its waited-for
    descendants, from wait4), exit code."""
    logf = open(log, "ab") if log else subprocess.DEVNULL
    try:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=cwd, env=env or env_single_thread(),
                             stdout=stdout if stdout is not None else logf, stderr=logf)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if log:
            logf.close()
    return {"seconds": wall, "peak_rss_mb": ru.ru_maxrss / 1024, "returncode": p.returncode,
            "cpu_seconds": ru.ru_utime + ru.ru_stime, "cmd": " ".join(shlex.quote(c) for c in cmd)}


def fmt(x, nd=3):
    return "n/a" if x is None else (f"{x:.{nd}f}" if isinstance(x, float) else str(x))
