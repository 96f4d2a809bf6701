"""Segmentation quality on the dev SEG set: every system's runner on the 12 programmes, then ONE
scorer for all (segmenter.scoring.score_directory: speech P/R/F1, detection error rate with a
0.25 s collar, 4-class frame accuracy where the system gives classes).

Run in the main venv:  .venv/bin/python benchmarks/seg_quality.py [--corpus DIR] [--systems ...]
Writes benchmarks/out/seg_quality.{md,json}; hypotheses in benchmarks/out/seg/<system>/.

'ours' = benchmarks/systems/run_ours.py in the main venv (segmenter.pipeline.Segmenter.load()
.segment(path)); override with --ours-cmd "CMD {inputs} {out}" (e.g. a CLI writing the same JSON).
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from _bench import (CPU, DEFAULT_CORPUS, MAIN_PY, OUT, REPO, SYSTEMS_DIR, fmt, pinned, run_measured,
                    venv_python)

sys.path.insert(0, str(REPO))
from segmenter.scoring import DEFAULT_COLLAR, score_directory  # noqa: E402

# name -> (python, runner)
SYSTEMS = {
    "brandeis-acs": (venv_python("brandeis-acs"), "run_brandeis_acs.py"),
    "silero-vad": (venv_python("silero"), "run_silero.py"),
    "webrtcvad": (venv_python("webrtcvad"), "run_webrtcvad.py"),
    "inaSpeechSegmenter": (venv_python("ina"), "run_ina.py"),
    "ours": (MAIN_PY, "run_ours.py"),
}
LABELS = {
    "brandeis-acs": "brandeis-acs 1.11 (MUSAN model)",
    "silero-vad": "silero-vad 6.2.3 (ONNX, defaults)",
    "webrtcvad": "webrtcvad 2.0.14 (mode 3, 300 ms ring)",
    "inaSpeechSegmenter": "inaSpeechSegmenter 0.8.0 (smn, 0.6.8 models)",
    "ours": "ours (segmenter)",
}


def run_system(name: str, inputs: list[Path], out_dir: Path, ours_cmd: str | None, cpu: str = CPU) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.json"):
        old.unlink()
    if name == "ours" and ours_cmd:
        cmd = shlex.split(ours_cmd.replace("{inputs}", " ".join(shlex.quote(str(i)) for i in inputs))
                          .replace("{out}", shlex.quote(str(out_dir))))
    else:
        py, runner = SYSTEMS[name]
        if not Path(py).exists():
            return {"error": f"{py} missing (run benchmarks/setup_comparisons.sh)"}
        cmd = [py, str(SYSTEMS_DIR / runner), *map(str, inputs), "--out", str(out_dir)]
    r = run_measured(pinned(cmd, cpu), log=out_dir / "run.log")
    if r["returncode"] != 0:
        tail = (out_dir / "run.log").read_text(errors="replace").strip().splitlines()[-3:]
        r["error"] = f"exit {r['returncode']}: " + " / ".join(tail).replace("|", "/")
    return r


def load_hypotheses(out_dir: Path, stems: list[str]) -> dict[str, dict] | None:
    hyps = {}
    for s in stems:
        p = out_dir / f"{s}.json"
        if not p.exists():
            return None
        hyps[s] = json.loads(p.read_text())
    return hyps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="dev corpus (holds seg/)")
    ap.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=list(SYSTEMS))
    ap.add_argument("--ours-cmd", default=None,
                    help='command for ours with {inputs} and {out} placeholders (default: run_ours.py)')
    ap.add_argument("--score-only", action="store_true", help="score existing hypotheses, run nothing")
    ap.add_argument("--collar", type=float, default=DEFAULT_COLLAR)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    ref_dir = args.corpus / "seg"
    refs = sorted(ref_dir.glob("prog_*.json"))
    if not refs:
        sys.exit(f"no dev SEG programmes in {ref_dir}: build them with python3 ../shared/corpus/build.py")
    wavs = [r.with_suffix(".wav") for r in refs]
    stems = [r.stem for r in refs]
    audio_s = sum(json.loads(r.read_text())["duration"] for r in refs)

    results = {}
    for name in args.systems:
        hyp_dir = args.out / "seg" / name
        run = {} if args.score_only else run_system(name, wavs, hyp_dir, args.ours_cmd)
        hyps = load_hypotheses(hyp_dir, stems)
        res = {"label": LABELS[name], "run": run}
        if hyps is None:
            res["error"] = run.get("error", "no hypotheses")
        else:
            res.update(score_directory(ref_dir, hyps, collar=args.collar))
            proc = [h.get("processing_seconds") for h in hyps.values()]
            if all(p is not None for p in proc):
                res["rtf_in_process"] = sum(proc) / audio_s  # decode + analysis, model load excluded
        results[name] = res
        print(f"{name}: " + (res.get("error") or
              f"F1 {res['f1']:.4f} DER {res['detection_error_rate']:.4f}"), file=sys.stderr)

    lines = [f"Dev SEG set: {len(refs)} programmes, {audio_s / 3600:.3f} h ({ref_dir}); "
             f"collar {args.collar} s; one scorer (segmenter.scoring.score_directory) for all.", "",
             "| system | precision | recall | F1 | detection error rate | 4-class frame accuracy | RTF (1 core) |",
             "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        if "error" in r:
            lines.append(f"| {r['label']} | not run: {r['error'][:120]} | | | | | |")
            continue
        lines.append(f"| {r['label']} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | "
                     f"{r['detection_error_rate']:.4f} | {fmt(r.get('frame_accuracy_4class'), 4)} | "
                     f"{fmt(r.get('rtf_in_process'), 4)} |")
    lines += ["", "RTF: per-file processing time (ffmpeg decode + analysis, model loading excluded) / "
              "audio duration, `taskset -c 0`, one thread."]
    md = "\n".join(lines) + "\n"
    print(md)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "seg_quality.md").write_text(md)
    (args.out / "seg_quality.json").write_text(json.dumps(
        {"ref_dir": str(ref_dir), "collar": args.collar, "audio_seconds": audio_s, "systems": results},
        indent=1))


if __name__ == "__main__":
    main()
