#!/usr/bin/env python3
"""
The app over a whole collection, fanned out over Dask distributed:

    python batch.py MEDIA_OR_FOLDER_OR_MANIFEST... --out DIR [--workers N | --scheduler ADDRESS] [app parameters]

For every medium it writes `DIR/<path relative to its input root>.mmif`: the MMIF the app returns
for a `clams source` of that file. `DIR/index.tsv` gets one row per medium (path, status, seconds,
speech ratio, error). A rerun skips every medium whose .mmif exists; a medium that fails is recorded
in the index (and gets no .mmif, so a rerun tries it again), and the exit status is 1 if any failed.

Inputs: a folder is walked for media (its root is the folder); a file named *.txt, *.lst or *.list is
a manifest, one path per line (relative paths are relative to the manifest, which is the root); any
other file is a medium (its root is its own folder). A medium outside its root is keyed by its
absolute path under DIR.

By default a LocalCluster of N single-threaded worker processes runs here; `--scheduler` uses an
existing Dask cluster whose workers can import this folder and read and write the same paths.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from clams.app import ClamsApp, ParameterCaster, falsy_values
from clams.appmetadata import AppMetadata

import cli
import metadata

from segmenter.batch import MEDIA_TYPES, media_files
from segmenter.output_paths import OutputDirError, prepare_output_dir
from segmenter.segments import SPEECH

INDEX_NAME = "index.tsv"
INDEX_COLUMNS = ("path", "status", "seconds", "speech_ratio", "error")
OK, SKIPPED, FAILED = "ok", "skipped", "failed"
MANIFEST_SUFFIXES = {".txt", ".lst", ".list"}
INDEX_EVERY = 10.0  # seconds between rewrites of the index while a run is going
UNKNOWN_MEDIA_TYPE = "audio"  # an explicitly named file with a suffix outside MEDIA_TYPES


class InputError(ValueError):
    """The inputs cannot be mapped onto output files (e.g. two media would share one)."""


@dataclass(frozen=True)
class Job:
    source: Path  # absolute, symlinks kept: the location the source MMIF names
    mime: str
    output: Path


# -- inputs ------------------------------------------------------------------------------


def media_type(path: Path) -> str:
    return MEDIA_TYPES.get(path.suffix.lower(), UNKNOWN_MEDIA_TYPE)


def _absolute(path: str | os.PathLike, base: Path | None = None) -> Path:
    """Absolute and normalised, without following symlinks (a link keeps its own name)."""
    return Path(os.path.abspath(Path(base or Path.cwd()) / path))


def _rooted_media(args: Iterable[str], out_dir: Path) -> Iterator[tuple[Path, Path]]:
    """(medium, root) for every input argument, in order; folders walked, manifests read."""
    out_real = out_dir.resolve()
    for arg in args:
        p = _absolute(arg)
        if p.suffix.lower() in MANIFEST_SUFFIXES and p.is_file():
            root = p.parent
            lines = p.read_text(encoding="utf-8").splitlines()
            entries = [_absolute(s.strip(), root) for s in lines if s.strip() and not s.lstrip().startswith("#")]
        else:
            root = p if p.is_dir() else p.parent
            entries = [p]
        for entry in entries:
            if entry.is_dir():  # never take our own outputs (separated tracks) as inputs
                yield from ((f, root) for f in media_files([entry])
                            if not Path(os.path.realpath(f)).is_relative_to(out_real))
            else:
                yield entry, root


def collect_jobs(args: Iterable[str], out_dir: Path) -> list[Job]:
    """One job per distinct medium, in input order. Raises InputError if two media would write
    the same output, or an output would be an input."""
    jobs: dict[Path, Job] = {}
    by_output: dict[Path, Path] = {}
    for medium, root in _rooted_media(args, out_dir):
        if medium in jobs:
            continue
        rel = medium.relative_to(root) if medium.is_relative_to(root) else Path(*medium.parts[1:])
        output = out_dir / (rel.as_posix() + ".mmif")
        if output in by_output:
            raise InputError(f"{by_output[output]} and {medium} would both be written to {output}; "
                             f"give them as folders (or manifests) whose relative paths differ")
        by_output[output] = medium
        jobs[medium] = Job(medium, media_type(medium), output)
    clash = set(by_output) & set(jobs)
    if clash:
        raise InputError(f"refusing to overwrite an input: {sorted(clash)[0]}")
    return list(jobs.values())


# -- parameters ------------------------------------------------------------------------


def app_metadata() -> AppMetadata:
    """The metadata the running app has: metadata.py's plus the SDK's universal parameters."""
    md = metadata.appmetadata()
    for param in ClamsApp.universal_parameters:
        md.add_parameter(**param)
    return md


def check_params(params: dict[str, list[str]], md: AppMetadata) -> None:
    """Refuse a bad value before starting any worker, with the app's own checks."""
    import app
    caster = ParameterCaster({p.name: (p.type, p.multivalued) for p in md.parameters})
    cast = {}
    for name, values in params.items():
        try:
            cast.update(caster.cast({name: values}))
        except ValueError as e:
            raise app.ParameterError(f"invalid value for parameter '{name}' ({values}): {e}") from None
    app.SpeechSegmenter.smoothing_params(cast)


def is_true(params: dict[str, list[str]], name: str) -> bool:
    """A boolean parameter as the SDK reads it: anything but a falsy value is true."""
    return name in params and params[name][0] not in falsy_values


def with_output_dir(params: dict[str, list[str]], out_dir: Path) -> dict[str, list[str]]:
    """Separated tracks go into the output folder unless outputDir says otherwise."""
    if is_true(params, "separate") and "outputDir" not in params:
        return {**params, "outputDir": [str(out_dir)]}
    return params


def app_version() -> str:
    """The app version of this checkout, as the app itself records it (git describe, else
    $CLAMS_APP_VERSION); the workers fall back to it."""
    from clams.appmetadata import generate_app_version
    return generate_app_version(cwd=Path(__file__).resolve().parent)


# -- the worker side ---------------------------------------------------------------------

_local = threading.local()


def worker_app(version: str):
    """This worker thread's app, loaded on its first file (models once per worker, not per file).

    The engine's inference reuses its buffers, so threads never share an app. The client's app
    version is the fallback for workers started outside the app's git checkout (`dask worker`).
    """
    if getattr(_local, "app", None) is None:
        os.environ.setdefault("CLAMS_APP_VERSION", version)
        import app
        _local.app = app.get_app()
    return _local.app


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to a hidden temp file in the same folder, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def error_of(mmif_text: str) -> str | None:
    """The message of the first error view in an output MMIF, if any."""
    from mmif import Mmif
    for view in Mmif(mmif_text, validate=False).views:
        if view.has_error():
            return str(view.get_error())
    return None


def speech_ratio(mmif_text: str) -> float:
    """The share of this app's TimeFrames labelled speech, by duration (0 for an empty medium)."""
    from mmif import AnnotationTypes, Mmif
    speech = total = 0
    for view in Mmif(mmif_text, validate=False).views:
        if metadata.APP_TAG in (view.metadata.get("appTags") or []):
            for a in view.get_annotations(AnnotationTypes.TimeFrame):
                d = a.get("end") - a.get("start")
                total += d
                speech += d if a.get("label") == SPEECH else 0
    return speech / total if total else 0.0


def process(source: str, mime: str, output: str, params: dict[str, list[str]], version: str) -> dict:
    """Runs on a worker: one medium through the app, its MMIF written atomically; returns its index row."""
    from mmif.utils.cli.source import generate_source_mmif_from_file
    t0 = time.perf_counter()
    ratio = None
    try:
        out = worker_app(version).annotate(generate_source_mmif_from_file([f"{mime}:{source}"]), **params)
        error = error_of(out)
        if error is None:
            ratio = speech_ratio(out)
            write_atomic(Path(output), out)
    except Exception as e:  # one medium's failure is its row, never the batch's
        error = f"{type(e).__name__}: {e}"
    return index_row(source, FAILED if error else OK, time.perf_counter() - t0, ratio, error)


# -- the client side ---------------------------------------------------------------------


def index_row(path: str | Path, status: str, seconds: float | None, ratio: float | None,
              error: str | None = None) -> dict:
    return {"path": str(path), "status": status, "seconds": "" if seconds is None else f"{seconds:.2f}",
            "speech_ratio": "" if ratio is None else f"{ratio:.4f}",
            "error": " ".join((error or "").split())}  # one line, no tabs


def read_index(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8", newline="") as f:
        return {r["path"]: r for r in csv.DictReader(f, delimiter="\t")}


def write_index(path: Path, rows: Iterable[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, INDEX_COLUMNS, delimiter="\t", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_atomic(path, buf.getvalue())


def skipped_row(job: Job, previous: dict[str, dict]) -> dict:
    """A finished medium's row: carried over from the last index, else read from its MMIF."""
    old = previous.get(str(job.source))
    if old and old["status"] in (OK, SKIPPED) and old["speech_ratio"]:
        return {**old, "status": SKIPPED}
    try:
        ratio = speech_ratio(job.output.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return index_row(job.source, SKIPPED, None, None, f"cannot read {job.output}: {e}")
    return index_row(job.source, SKIPPED, None, ratio)


@contextmanager
def dask_client(workers: int, scheduler: str | None):
    """A client of the given cluster, or of a LocalCluster of single-threaded worker processes."""
    # Dask logs every worker start and stop at INFO; read before distributed is imported, also by
    # the worker processes, which inherit the environment. An explicit setting wins.
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    from distributed import Client, LocalCluster
    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def run_jobs(client, jobs: list[Job], params: dict[str, list[str]], version: str) -> Iterator[dict]:
    """Index rows as media finish. Submits a few per worker thread at a time, so that a collection
    of a million files does not sit in the scheduler at once."""
    from distributed import as_completed
    pending = iter(jobs)
    by_future = {}

    def submit(n: int) -> list:
        futures = []
        for job in (j for _, j in zip(range(n), pending)):
            f = client.submit(process, str(job.source), job.mime, str(job.output), params, version,
                              pure=False)
            by_future[f] = job
            futures.append(f)
        return futures

    def window() -> int:
        return max(8, 4 * sum(client.nthreads().values()))

    running = as_completed(submit(window()))
    for future in running:
        job = by_future.pop(future)
        try:
            yield future.result()
        except Exception as e:  # the worker died on it (e.g. KilledWorker) or could not run it
            yield index_row(job.source, FAILED, None, None, f"{type(e).__name__}: {e}")
        future.release()
        running.update(submit(max(0, window() - len(by_future))))


def usable_cores() -> int:
    """The cores this process may run on (a taskset or cpuset counts, unlike os.cpu_count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def argument_parser(md: AppMetadata) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+", metavar="MEDIA_OR_FOLDER_OR_MANIFEST")
    ap.add_argument("--out", required=True, type=Path, help="output folder (created if missing)")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=usable_cores(),
                       help="worker processes of the local cluster (default: the number of cores, %(default)s)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="use an existing Dask cluster, e.g. tcp://host:8786, instead of a local one")
    cli.add_parameter_arguments(ap.add_argument_group("app parameters (as in cli.py)"), md)
    return ap


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm
    md = app_metadata()
    ap = argument_parser(md)
    args = ap.parse_args(argv)
    if args.workers < 1:
        ap.error("--workers must be at least 1")
    params = cli.runtime_params(args, md)
    try:
        check_params(params, md)
        out_dir = prepare_output_dir(args.out)
        jobs = collect_jobs(args.inputs, out_dir)
    except (ValueError, OutputDirError) as e:
        ap.error(str(e))
    params = with_output_dir(params, out_dir)
    index = out_dir / INDEX_NAME
    previous = read_index(index)
    rows = {job.source: skipped_row(job, previous) for job in jobs if job.output.exists()}
    todo = [job for job in jobs if job.source not in rows]
    ordered = lambda: (rows[j.source] for j in jobs if j.source in rows)  # noqa: E731
    try:
        if todo:
            with dask_client(args.workers, args.scheduler) as client, \
                    tqdm(total=len(todo), unit="file", file=sys.stderr, disable=not sys.stderr.isatty()) as bar:
                written = time.monotonic()
                for row in run_jobs(client, todo, params, app_version()):
                    rows[Path(row["path"])] = row
                    bar.update()
                    if row["status"] == FAILED:
                        tqdm.write(f"failed: {row['path']}: {row['error']}", file=sys.stderr)
                    if time.monotonic() - written > INDEX_EVERY:
                        write_index(index, ordered())
                        written = time.monotonic()
    finally:
        write_index(index, ordered())
    counts = {s: sum(r["status"] == s for r in rows.values()) for s in (OK, SKIPPED, FAILED)}
    print(f"{len(jobs)} media: {counts[OK]} processed, {counts[SKIPPED]} already done, {counts[FAILED]} failed; "
          f"index: {index}", file=sys.stderr)
    return 1 if counts[FAILED] else 0


if __name__ == "__main__":
    # Run the importable module's copy, so that workers unpickle `batch.process` by name and keep
    # its per-process app, rather than getting a by-value copy of a function of __main__.
    import batch
    sys.exit(batch.main())
