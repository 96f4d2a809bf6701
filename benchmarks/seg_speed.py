"""Segmentation speed and memory on the dev 1-hour MP3 (long/long.mp3, 44.1 kHz stereo 128 kb/s).

One core (`taskset -c 0`), one thread, cold process start to finished output, wall time of:
  ffmpeg   : ffmpeg -threads 1 -i long.mp3 -ac 1 -ar 16000 -f s16le -   (to /dev/null; the reference
             the issue names)
  ffmpeg-mono-first : the decode ours runs: downmixed before it is resampled, to float samples
             (-af aformat=...,aresample=16000; the same samples, a tenth cheaper on a stereo MP3)
  ours     : python -m segmenter segment long.mp3 --out /tmp/x.tsv       (main venv; --ours-cmd overrides)
  ours-cli : python cli.py long.mmif out.mmif                           (the app; its source MMIF is
             written by `clams source audio:long.mp3` before the clock starts)
  silero   : run_silero.py long.mp3 (ffmpeg decode + VAD), its venv
  brandeis : run_brandeis_acs.py long.mp3 (ffmpeg decode + its pipeline), its venv
Rounds are interleaved (each round runs every system once); each system's time is the median
over rounds, and its ratio is the median of the per-round ratios to that round's ffmpeg time.
Peak RSS (wait4 of the child, i.e. /usr/bin/time's figure) of ours and ours-cli on the 1-hour file
and on a 10-hour file (long.mp3 x10 with ffmpeg's concat demuxer, stream copy, in a temp dir).

Run in the main venv:  .venv/bin/python benchmarks/seg_speed.py [--rounds 2] [--no-10h]
Writes benchmarks/out/seg_speed.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _bench import (CPU, DEFAULT_CORPUS, MAIN_PY, OUT, REPO, SYSTEMS_DIR, env_single_thread, pinned,
                    run_measured, venv_python)

sys.path.insert(0, str(REPO))
from segmenter.media import DOWNMIX_RESAMPLE  # noqa: E402

OURS_DEFAULT = MAIN_PY + " -m segmenter segment {input} --out {out_tsv}"
OURS_SYSTEMS = ("ours", "ours-cli")


def source_mmif(media: Path, tmp: Path) -> Path:
    """The MMIF a pipeline hands the app for `media` (untimed: it is the previous step's output)."""
    out = tmp / f"{media.stem}.mmif"
    with out.open("w") as f:
        subprocess.run([str(Path(MAIN_PY).parent / "clams"), "source", f"audio:{media.resolve()}"],
                       stdout=f, check=True)
    return out


def commands(media: Path, tmp: Path, ours_cmd: str, systems: list[str]) -> dict[str, list[str]]:
    """The command of each of `systems` on `media` (for ours-cli, after writing its source MMIF)."""
    cli_input = source_mmif(media, tmp) if "ours-cli" in systems else None
    decode = ["ffmpeg", "-nostdin", "-v", "error", "-threads", "1", "-i", str(media)]
    every = {
        "ffmpeg": decode + ["-ac", "1", "-ar", "16000", "-f", "s16le", "-"],
        "ffmpeg-mono-first": decode + ["-af", DOWNMIX_RESAMPLE, "-f", "f32le", "-"],
        "ours": shlex.split(ours_cmd.replace("{input}", shlex.quote(str(media)))
                            .replace("{out_tsv}", shlex.quote(str(tmp / "ours.tsv")))),
        "ours-cli": [MAIN_PY, str(REPO / "cli.py"), str(cli_input), str(tmp / "ours-cli.mmif")],
        "silero-vad": [venv_python("silero"), str(SYSTEMS_DIR / "run_silero.py"), str(media),
                       "--out", str(tmp / "silero")],
        "brandeis-acs": [venv_python("brandeis-acs"), str(SYSTEMS_DIR / "run_brandeis_acs.py"),
                         str(media), "--out", str(tmp / "brandeis")],
    }
    return {name: every[name] for name in systems}


def make_10h(src: Path, dst: Path, times: int = 10) -> None:
    lst = dst.with_suffix(".txt")
    lst.write_text("".join(f"file '{src}'\n" for _ in range(times)))
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "concat", "-safe", "0",
                    "-i", str(lst), "-c", "copy", str(dst)], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--media", type=Path, default=None, help="default: CORPUS/long/long.mp3")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--systems", nargs="+", default=["ffmpeg", "ffmpeg-mono-first", "ours", "ours-cli", "silero-vad",
                                                       "brandeis-acs"])
    ap.add_argument("--ours-cmd", default=OURS_DEFAULT,
                    help="command for ours, placeholders {input} and {out_tsv} (default: %(default)s)")
    ap.add_argument("--no-10h", action="store_true", help="skip the 10-hour memory run")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    media = args.media or args.corpus / "long" / "long.mp3"
    if not media.exists():
        sys.exit(f"{media} missing: build the dev corpus (python3 ../shared/corpus/build.py)")
    if "ffmpeg" not in args.systems:
        args.systems.insert(0, "ffmpeg")
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "seg_speed.log"
    log.write_text("")

    runs: dict[str, list[dict]] = {s: [] for s in args.systems}
    with tempfile.TemporaryDirectory(prefix="seg_speed_") as td:
        tmp = Path(td)
        cmds = commands(media, tmp, args.ours_cmd, args.systems)
        for rnd in range(args.rounds):
            for name in args.systems:
                out = subprocess.DEVNULL if name.startswith("ffmpeg") else None
                r = run_measured(pinned(cmds[name]), env=env_single_thread(), log=log, stdout=out)
                r["round"] = rnd
                runs[name].append(r)
                print(f"round {rnd} {name}: {r['seconds']:.2f} s, peak RSS {r['peak_rss_mb']:.0f} MB"
                      + ("" if r["returncode"] == 0 else f" FAILED (exit {r['returncode']}, see {log})"),
                      file=sys.stderr)
        mem10: dict[str, dict] = {}
        ours = [n for n in OURS_SYSTEMS if n in args.systems and all(r["returncode"] == 0 for r in runs[n])]
        if not args.no_10h and ours:
            long10 = tmp / "long10.mp3"
            make_10h(media.resolve(), long10)
            cmds10 = commands(long10, tmp, args.ours_cmd, ours)
            for name in ours:
                r = run_measured(pinned(cmds10[name]), env=env_single_thread(), log=log)
                mem10[name] = r
                print(f"{name} 10 h: {r['seconds']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB", file=sys.stderr)

    summary = {}
    for name, rs in runs.items():
        ok = [r for r in rs if r["returncode"] == 0]
        if not ok:
            summary[name] = {"error": f"failed, see {log}", "runs": rs}
            continue
        ratios = [r["seconds"] / runs["ffmpeg"][r["round"]]["seconds"] for r in ok]
        summary[name] = {"seconds_median": statistics.median(r["seconds"] for r in ok),
                         "ratio_to_ffmpeg_median": statistics.median(ratios),
                         "peak_rss_mb_max": max(r["peak_rss_mb"] for r in ok), "runs": rs}
    for name, r in mem10.items():
        summary[f"{name}_10h"] = r

    lines = [f"File: {media} (1 h). One core (`taskset -c {CPU}`), one thread, cold start to finished "
             f"output; median of {args.rounds} interleaved rounds.", "",
             "| system | wall time (s) | × ffmpeg decode | peak RSS (MB) |", "|---|---|---|---|"]
    for name in args.systems:
        s = summary[name]
        if "error" in s:
            lines.append(f"| {name} | {s['error']} | | |")
        else:
            lines.append(f"| {name} | {s['seconds_median']:.2f} | {s['ratio_to_ffmpeg_median']:.2f} | "
                         f"{s['peak_rss_mb_max']:.0f} |")
    for name, r in mem10.items():
        ok1 = summary[name]["peak_rss_mb_max"]
        lines += ["", f"{name} on a 10-hour file (long.mp3 ×10, concat demuxer): {r['seconds']:.1f} s, "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB ({r['peak_rss_mb'] / ok1:.2f}× the 1-hour figure)"
                  + ("" if r["returncode"] == 0 else f" FAILED exit {r['returncode']}")]
    lines += ["", "Commands: " + "; ".join(f"`{n}`: `{summary[n]['runs'][0]['cmd']}`" for n in args.systems)]
    md = "\n".join(lines) + "\n"
    print(md)
    (args.out / "seg_speed.md").write_text(md)
    (args.out / "seg_speed.json").write_text(json.dumps({"media": str(media), "systems": summary}, indent=1))


if __name__ == "__main__":
    main()
