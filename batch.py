#!/usr/bin/env python3
"""
The app over a whole collection, fanned out over Dask distributed:

    python batch.py MEDIA_OR_FOLDER_OR_MANIFEST... --out DIR [--workers N | --scheduler ADDRESS] [app parameters]

For every medium it writes `DIR/<path relative to its input root>.mmif`: the MMIF the app returns
for a `clams source` of that file. `DIR/index.tsv` gets one row per medium (path, status, seconds,
speech ratio, error). A rerun skips every medium whose .mmif exists; a medium that fails is recorded
in the index (and gets no .mmif, so a rerun tries it again), and the exit status is 1 if any failed.
A rerun that finds every .mmif there, made with the same app parameters, only rewrites the index.

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
import json
import os
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

# The app, the CLAMS SDK and Dask are imported where they are used: a rerun with nothing to do
# needs none of them, and a run with work imports them while its workers start (main).
from segmenter.media_files import MEDIA_TYPES, media_files
from segmenter.output_paths import OutputDirError, prepare_output_dir

if TYPE_CHECKING:
    from clams.appmetadata import AppMetadata

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
    import metadata
    from clams.app import ClamsApp
    md = metadata.appmetadata()
    for param in ClamsApp.universal_parameters:
        md.add_parameter(**param)
    return md


def check_params(params: dict[str, list[str]], md: AppMetadata) -> None:
    """Refuse a bad value before starting any worker, with the app's own checks."""
    import app
    from clams.app import ParameterCaster
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
    from clams.app import falsy_values
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
    import metadata
    from mmif import AnnotationTypes, Mmif
    from segmenter.segments import SPEECH
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


# What a local worker needs before its first medium: Dask, the app (the SDK, MMIF, the engine) and
# this module. The workers are forked from one server process that has imported them.
WORKER_MODULES = ["distributed", "app", "mmif.utils.cli.source", "batch"]
# Dask's nanny sets these before it starts a worker process (the defaults of
# distributed.nanny.pre-spawn-environ): one BLAS / OpenMP thread per single-threaded worker. A forked
# worker gets the environment its server started with, so they are set before the server starts.
WORKER_ENV = {"MALLOC_TRIM_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "OPENBLAS_NUM_THREADS": "1"}


def quiet_dask() -> None:
    """Dask logs every worker start and stop at INFO. Read when distributed is imported, here and in
    the worker processes, which inherit the environment; an explicit setting wins."""
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")


def start_worker_server() -> None:
    """Start the process that local workers are forked from (multiprocessing's forkserver), so that
    it imports WORKER_MODULES while this process imports the app to check the parameters. N workers
    then cost one import, not N, and it overlaps with the client's own."""
    import multiprocessing
    from multiprocessing import forkserver
    quiet_dask()
    for name, value in WORKER_ENV.items():
        os.environ.setdefault(name, value)
    multiprocessing.get_context("forkserver").set_forkserver_preload(WORKER_MODULES)
    forkserver.ensure_running()


@contextmanager
def dask_client(workers: int, scheduler: str | None):
    """A client of the given cluster, or of a LocalCluster of single-threaded worker processes
    forked from the worker server (started here unless main started it earlier)."""
    quiet_dask()
    if scheduler:
        from distributed import Client
        with Client(scheduler) as client:
            yield client
        return
    start_worker_server()
    import dask
    from distributed import Client, LocalCluster
    with dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"}), \
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
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


BATCH_OPTIONS = {"--out", "--workers", "--scheduler"}


def add_batch_arguments(ap: argparse.ArgumentParser) -> None:
    """The inputs and batch.py's own options (every other option is an app parameter)."""
    ap.add_argument("inputs", nargs="+", metavar="MEDIA_OR_FOLDER_OR_MANIFEST")
    ap.add_argument("--out", required=True, type=Path, help="output folder (created if missing)")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=usable_cores(),
                       help="worker processes of the local cluster (default: the number of cores, %(default)s)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="use an existing Dask cluster, e.g. tcp://host:8786, instead of a local one")


def argument_parser(md: AppMetadata) -> argparse.ArgumentParser:
    import cli
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_batch_arguments(ap)
    cli.add_parameter_arguments(ap.add_argument_group("app parameters (as in cli.py)"), md)
    return ap


class _Unsure(Exception):
    """The command line might read differently with the app's parameter list."""


class _LightParser(argparse.ArgumentParser):
    def error(self, message: str):
        raise _Unsure(message)


def light_parse(argv: list[str]) -> tuple[argparse.Namespace, dict[str, list[str]]] | None:
    """The command line as argument_parser() reads it, but without the app's metadata: any other
    `--name` is taken for an app parameter of one value, as every single-valued one is. None if
    it cannot be read so (help, an abbreviated option, ...). A multivalued parameter read this way
    would not match what its outputs record (Plan.finished)."""
    ap = _LightParser(add_help=False, allow_abbrev=False)
    add_batch_arguments(ap)
    names = {a.split("=", 1)[0] for a in argv if a.startswith("--") and len(a) > 2} - BATCH_OPTIONS
    for name in sorted(names):
        ap.add_argument(name, nargs=1, dest="app:" + name[2:])
    try:
        args = ap.parse_args(argv)
    except _Unsure:
        return None
    return args, {k[4:]: v for k, v in vars(args).items() if k.startswith("app:") and v is not None}


def as_recorded(params: dict[str, list[str]]) -> dict[str, str]:
    """Parameters as the SDK records them in a view's `parameters` (ClamsApp.add_parameters_to_metadata):
    one value bare, several as the string of their list."""
    return {k: v[0] if len(v) == 1 else str(v) for k, v in params.items() if v}


def recorded_params(output: Path) -> dict | None:
    """The parameters a finished output was made with (its first view's: a source MMIF has none)."""
    try:
        return json.loads(output.read_text(encoding="utf-8"))["views"][0]["metadata"].get("parameters", {})
    except (OSError, ValueError, LookupError, AttributeError):
        return None


@dataclass(frozen=True)
class Plan:
    """The command line as light_parse reads it, and its media."""
    out_dir: Path | None  # None: the output folder does not exist yet
    jobs: list[Job]
    params: dict[str, list[str]]
    local: bool  # on a LocalCluster of this machine

    def todo(self) -> bool:
        return self.out_dir is None or any(not job.output.exists() for job in self.jobs)

    def finished(self) -> bool:
        """Every output is there, made with these parameters, which so passed the app's checks.
        separate=true adds outputDir (with_output_dir), which needs the SDK to read the boolean:
        the parameters match with or without it."""
        if not self.jobs or self.todo():
            return False
        recorded = recorded_params(self.jobs[0].output)
        return recorded in (as_recorded(self.params),
                            as_recorded({"outputDir": [str(self.out_dir)], **self.params}))


def light_plan(argv: list[str]) -> Plan | None:
    """The Plan of this command line, without importing the app (nor creating anything); None if
    unsure."""
    parsed = light_parse(argv)
    if parsed is None or parsed[0].workers < 1:
        return None
    args, params = parsed
    if not args.out.expanduser().is_dir():
        return Plan(None, [], params, local=not args.scheduler)
    try:
        out_dir = prepare_output_dir(args.out)
        jobs = collect_jobs(args.inputs, out_dir)
    except (ValueError, OSError):
        return None
    return Plan(out_dir, jobs, params, local=not args.scheduler)


def in_input_order(jobs: list[Job], rows: dict[Path, dict]) -> Iterator[dict]:
    return (rows[j.source] for j in jobs if j.source in rows)


def summary(index: Path, jobs: list[Job], rows: dict[Path, dict]) -> int:
    """Print what the run did; the exit status."""
    counts = {s: sum(r["status"] == s for r in rows.values()) for s in (OK, SKIPPED, FAILED)}
    print(f"{len(jobs)} media: {counts[OK]} processed, {counts[SKIPPED]} already done, {counts[FAILED]} failed; "
          f"index: {index}", file=sys.stderr)
    return 1 if counts[FAILED] else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    plan = light_plan(argv)
    if plan is not None and plan.finished():
        index = plan.out_dir / INDEX_NAME
        previous = read_index(index)
        rows = {job.source: skipped_row(job, previous) for job in plan.jobs}
        write_index(index, in_input_order(plan.jobs, rows))
        return summary(index, plan.jobs, rows)
    if plan is not None and plan.local and plan.todo():
        start_worker_server()  # its imports overlap with the app's below
    import cli
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
                        write_index(index, in_input_order(jobs, rows))
                        written = time.monotonic()
    finally:
        write_index(index, in_input_order(jobs, rows))
    return summary(index, jobs, rows)


if __name__ == "__main__":
    # Run the importable module's copy, so that workers unpickle `batch.process` by name and keep
    # its per-process app, rather than getting a by-value copy of a function of __main__.
    import batch
    status = batch.main()
    # The interpreter's exit collects every object of the libraries imported (0.2 s of a short
    # run); they live until then anyway.
    import gc
    gc.freeze()
    sys.exit(status)
