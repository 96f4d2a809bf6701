"""Segmentation under archive channels (issue 25, item 6): the SEG programmes re-encoded through
GSM 06.10, AMR-NB 7.95 kb/s and 32 kb/s MP3, band-limited to 8 kHz, and at -35 dBFS, plus the
untouched originals; ours, Silero VAD and inaSpeechSegmenter scored per condition in one run by
one scorer (segmenter.scoring.score_directory, collar 0.25 s, as seg_quality.py).

    .venv/bin/python benchmarks/seg_robustness.py [--model DIR] [--systems ours,silero]
        [--ref-dir DIR] [--conditions gsm,mp3_32k] [--score-only]

The copies live in a temporary folder (16 kHz mono PCM16 WAV, the references' length). The codecs
go through segmenter.training.codecs.code, which removes the codec delay (codecs.align searches
+-125 ms; MP3 at 16 kHz is about 70 ms late), so the original references score every copy. Copies are made two at a time; then each system runs once
per condition, in its own process with one thread pinned to one core, two processes at a time on
two cores, the slowest systems first so both cores finish together.
Writes benchmarks/out/seg_robustness.{md,json}; hypotheses in
benchmarks/out/seg_robustness/<system>/<condition>/<programme>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from _bench import CPU, DEFAULT_CORPUS, OUT, REPO
from seg_quality import LABELS, SYSTEMS, load_hypotheses, run_system

sys.path.insert(0, str(REPO))
from segmenter.media import SAMPLE_RATE, read_audio  # noqa: E402
from segmenter.models import DEFAULT_SEGMENTER, SEGMENTER_DIR_HELP, SEGMENTER_ENV, resolve_model_dir  # noqa: E402
from segmenter.scoring import DEFAULT_COLLAR, score_directory  # noqa: E402
from segmenter.training.codecs import code  # noqa: E402

LEVEL_DBFS = -35.0  # RMS of the whole programme, re 1.0 = full scale
DEFAULT_SYSTEMS = ("ours", "silero-vad", "inaSpeechSegmenter")
ALIASES = {"silero": "silero-vad", "ina": "inaSpeechSegmenter"}  # the venv names
WORKERS = 2  # copies made, or systems run, at once (each pinned to its own core)
SLOW_FIRST = ("inaSpeechSegmenter", "brandeis-acs", "silero-vad")  # started first; the rest after


def band_limit_8k(x: np.ndarray) -> np.ndarray:
    """Resampled to 8 kHz and back: a telephone-band copy without a codec."""
    return resample_poly(resample_poly(x, 1, 2), 2, 1)[:len(x)]


def at_level(x: np.ndarray, dbfs: float = LEVEL_DBFS) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return x * (10 ** (dbfs / 20) / rms) if rms > 0 else x


# condition -> (label, transform); "original" is the reference row (the files themselves)
CONDITIONS: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray] | None]] = {
    "original": ("original (reference)", None),
    "gsm": ("GSM 06.10 (13 kb/s)", lambda x: code(x, "gsm")),
    "amr_nb": ("AMR-NB 7.95 kb/s", lambda x: code(x, "amr_nb:7.95k")),
    "mp3_32k": ("MP3 32 kb/s", lambda x: code(x, "mp3:32k")),
    "band_8k": ("8 kHz band limit (16 -> 8 -> 16 kHz)", band_limit_8k),
    "level_-35dBFS": (f"{LEVEL_DBFS:g} dBFS RMS", at_level),
}


def comma_list(choices: list[str], aliases: dict[str, str] | None = None) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        given = [n.strip() for n in text.split(",") if n.strip()]
        names = list(dict.fromkeys((aliases or {}).get(n, n) for n in given))
        bad = [n for n in names if n not in choices]
        if bad or not names:
            raise argparse.ArgumentTypeError(f"{', '.join(bad) or 'nothing'}: choose from {', '.join(choices)}")
        return names
    return parse


def make_copy(wav: Path, condition: str, work: Path) -> None:
    """`work/<condition>/<stem>.wav`: the programme through the condition's transform."""
    y = CONDITIONS[condition][1](read_audio(wav))
    sf.write(work / condition / wav.name, np.clip(y, -1, 32767 / 32768), SAMPLE_RATE, subtype="PCM_16")


def make_copies(wavs: list[Path], conditions: list[str], work: Path) -> dict[str, list[Path]]:
    """Each condition's inputs: the originals themselves, or copies in `work/<condition>/`."""
    coded = [c for c in conditions if CONDITIONS[c][1] is not None]
    for c in coded:
        (work / c).mkdir()
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(lambda job: make_copy(job[0], job[1], work), [(w, c) for c in coded for w in wavs]))
    return {c: [work / c / w.name for w in wavs] if c in coded else wavs for c in conditions}


def run_systems(names: list[str], inputs: dict[str, list[Path]], out_dir: Path) -> dict[str, dict]:
    """Each system once per condition (`out_dir/<system>/<condition>/`), two processes at a time,
    each on its own core (BENCH_CPU's and another this process may use): the run records."""
    cores: queue.Queue[str] = queue.Queue()
    for core in ([CPU] + [str(c) for c in sorted(os.sched_getaffinity(0)) if str(c) != CPU])[:WORKERS]:
        cores.put(core)
    jobs = sorted(((n, c) for n in names for c in inputs),
                  key=lambda job: SLOW_FIRST.index(job[0]) if job[0] in SLOW_FIRST else len(SLOW_FIRST))

    def run(job: tuple[str, str]) -> dict:
        name, cond = job
        core = cores.get()
        try:
            r = run_system(name, inputs[cond], out_dir / name / cond, None, cpu=core)
        finally:
            cores.put(core)
        print(f"{name} {cond}: {r['seconds']:.0f} s on core {core} {r.get('error', '')}", file=sys.stderr)
        return r
    with ThreadPoolExecutor(cores.qsize()) as pool:
        done = dict(zip(jobs, pool.map(run, jobs)))
    return {n: {c: done[n, c] for c in inputs} for n in names}


def lowest(scores: dict[str, dict]) -> list[str]:
    ders = {n: r["detection_error_rate"] for n, r in scores.items() if "detection_error_rate" in r}
    best = min(ders.values(), default=None)
    return [n for n, d in ders.items() if d == best]


def markdown(doc: dict) -> str:
    systems = doc["systems"]
    lines = [f"SEG programmes: {doc['programmes']} ({doc['audio_seconds'] / 3600:.3f} h each condition, "
             f"{doc['ref_dir']}); ours = {doc['model']}; collar {doc['collar']} s; "
             "one scorer (segmenter.scoring.score_directory) for all.", "",
             "| condition | " + " | ".join(f"{n} DER | {n} F1" for n in systems) + " | lowest DER |",
             "|---" * (2 + 2 * len(systems)) + "|"]
    for cond, c in doc["conditions"].items():
        cells = []
        for n in systems:
            r = c["scores"][n]
            cells += ["not run", r["error"][:80]] if "error" in r else \
                [f"{r['detection_error_rate']:.4f}", f"{r['f1']:.4f}"]
        lines.append(f"| {c['label']} | " + " | ".join(cells) + f" | {', '.join(c['lowest']) or 'n/a'} |")
    met = doc["ours_lowest_everywhere"]
    lines += ["", "Target: ours has the lowest detection error rate in every condition: " +
              ("n/a (ours not in the run)" if met is None else "**met**" if met else "**not met**") + "."]
    if doc["seconds"]["systems"]:
        lines += ["", f"Wall time {doc['seconds']['total']:.0f} s: copies {doc['seconds']['copies']:.0f} s, "
                  "then two cores running " +
                  ", ".join(f"{n} {s:.0f} s" for n, s in doc["seconds"]["systems"].items()) +
                  " (summed over conditions)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref-dir", type=Path, default=DEFAULT_CORPUS / "seg",
                    help="programmes in the dev SEG layout (prog_NN.{wav,json,npy}); default the dev set")
    ap.add_argument("--model", type=Path, help=SEGMENTER_DIR_HELP)
    ap.add_argument("--systems", type=comma_list(list(SYSTEMS), ALIASES), default=list(DEFAULT_SYSTEMS),
                    help=f"comma-separated, from {', '.join(SYSTEMS)} (silero, ina for short); "
                         f"default {','.join(DEFAULT_SYSTEMS)}")
    ap.add_argument("--conditions", type=comma_list(list(CONDITIONS)), default=list(CONDITIONS),
                    help=f"comma-separated, from {', '.join(CONDITIONS)}; default all")
    ap.add_argument("--score-only", action="store_true", help="score the saved hypotheses, run nothing")
    ap.add_argument("--collar", type=float, default=DEFAULT_COLLAR)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    refs = sorted(args.ref_dir.glob("*.json"))
    missing = [r.with_suffix(".wav").name for r in refs if not r.with_suffix(".wav").is_file()]
    if not refs or missing:
        sys.exit(f"{args.ref_dir}: no programmes in the SEG layout (NN.json + NN.wav)"
                 + (f"; no audio for {', '.join(missing[:5])}" if missing else ""))
    try:
        model = resolve_model_dir(args.model, SEGMENTER_ENV, DEFAULT_SEGMENTER)
    except FileNotFoundError as e:
        sys.exit(str(e))
    os.environ[SEGMENTER_ENV] = str(model.resolve())  # run_ours.py loads this one
    wavs = [r.with_suffix(".wav") for r in refs]

    t0 = time.perf_counter()
    seconds: dict = {"copies": 0.0, "systems": {}}
    runs: dict[str, dict] = {}
    if not args.score_only:
        with tempfile.TemporaryDirectory(prefix="seg_robustness_") as tmp:
            inputs = make_copies(wavs, args.conditions, Path(tmp))
            seconds["copies"] = time.perf_counter() - t0
            print(f"copies made in {seconds['copies']:.0f} s", file=sys.stderr)
            runs = run_systems(args.systems, inputs, args.out / "seg_robustness")
        seconds["systems"] = {n: sum(r["seconds"] for r in runs[n].values()) for n in args.systems}
    seconds["total"] = time.perf_counter() - t0

    conditions = {}
    for cond in args.conditions:
        scores = {}
        for name in args.systems:
            hyps = load_hypotheses(args.out / "seg_robustness" / name / cond, [w.stem for w in wavs])
            if hyps is None:
                scores[name] = {"error": runs.get(name, {}).get(cond, {}).get("error", "no hypotheses")}
                continue
            scores[name] = score_directory(args.ref_dir, hyps, collar=args.collar)
        conditions[cond] = {"label": CONDITIONS[cond][0], "scores": scores, "lowest": lowest(scores)}
    ours_everywhere = None if "ours" not in args.systems else all(
        "ours" in c["lowest"] for c in conditions.values())
    doc = {"ref_dir": str(args.ref_dir), "programmes": len(refs), "model": str(model),
           "audio_seconds": sum(json.loads(r.read_text())["duration"] for r in refs),
           "collar": args.collar, "level_dbfs": LEVEL_DBFS,
           "systems": {n: LABELS[n] for n in args.systems}, "conditions": conditions,
           "ours_lowest_everywhere": ours_everywhere, "runs": runs, "seconds": seconds,
           "date": time.strftime("%Y-%m-%d", time.gmtime())}
    md = markdown(doc)
    print(md)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "seg_robustness.md").write_text(md)
    (args.out / "seg_robustness.json").write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
