#!/usr/bin/env python3
"""Where each ASR track departs from the clean speech, on asr_quality.py's noisy items: how much speech
it takes away and how much background it leaves, per background kind and frequency range, in the
mel bands a recogniser hears (pocketsphinx's 40 bands, as the separator's log-mel loss uses them).

An asr_quality.py item's mixture is its clean passage plus its background, sample for sample, so each
time-frequency cell of a track can be set against the speech and the background in it. In frames
where the speech is active (within 50 dB of its loudest cell):
  speech lost     : in cells where the speech is louder than the background, the mean of
                    min(0, track dB - speech dB): what the track removed of the speech (0 is none);
  background left : in cells where the background is at least as loud, the mean of
                    max(0, track dB - speech dB): what the track left above the speech (0 is none).
A recogniser is hurt by both; WER says how much, this says where.

Run after asr_quality.py, in the main venv:
  .venv/bin/python benchmarks/asr_residue.py [--material heldout] [--systems mixture ours-speech-only deepfilternet]
Reads benchmarks/out/asr/<material>/ (or --work DIR); writes benchmarks/out/asr_residue_<material>.md.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from segmenter import cmask  # noqa: E402
from segmenter.training.train_separator_v2 import ASR_MEL, asr_mel_matrix  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
RANGES_HZ = (0, 1000, 2000, 4000, 8000)
ACTIVE_DB = 50.0


def mel_power(x: np.ndarray, mel: np.ndarray) -> np.ndarray:
    s = cmask.stft(x)
    return (s.real ** 2 + s.imag ** 2) @ mel


def band_centres_hz() -> np.ndarray:
    import librosa
    return librosa.mel_frequencies(ASR_MEL["n_mels"] + 2, fmin=ASR_MEL["fmin"], fmax=ASR_MEL["fmax"], htk=True)[1:-1]


def read(path: Path) -> np.ndarray:
    return sf.read(path, dtype="float32")[0]  # float, as asr_pocketsphinx reads them


def departures(work: Path, systems: list[str]) -> dict:
    """{(system, kind, range): [speech lost dB, background left dB]}, pooled over the noisy items."""
    mel, centres = asr_mel_matrix(), band_centres_hz()
    ranges = [(lo, hi) for lo, hi in zip(RANGES_HZ[:-1], RANGES_HZ[1:])]
    pooled: dict = {}
    for it in json.loads((work / "items.json").read_text()):
        if it["condition"] != "noisy":
            continue
        passage = it["id"].rsplit("_", 1)[0]
        speech = read(work / "items" / f"{passage}_clean" / "mix.wav")
        S = mel_power(speech, mel)
        N = mel_power(read(work / "items" / it["id"] / "mix.wav") - speech, mel)
        active = 10 * np.log10(S.max(axis=1, keepdims=True) + 1e-12) > 10 * np.log10(S.max() + 1e-12) - ACTIVE_DB
        for system in systems:
            track = read(work / system / f"{it['id']}.wav")[:len(speech)]
            d = 10 * np.log10(mel_power(track, mel) + 1e-10) - 10 * np.log10(S + 1e-10)
            for lo, hi in ranges:
                cells = active & ((centres >= lo) & (centres < hi))[None, :]
                lost = np.minimum(d[cells & (S > N)], 0)
                left = np.maximum(d[cells & (N >= S)], 0)
                sums = pooled.setdefault((system, it["kind"], f"{lo / 1000:g}-{hi / 1000:g} kHz"), np.zeros(4))
                sums += (lost.sum(), lost.size, left.sum(), left.size)
    return {k: (v[0] / max(v[1], 1), v[2] / max(v[3], 1)) for k, v in pooled.items()}


def table(result: dict, systems: list[str]) -> list[str]:
    kinds = list(dict.fromkeys(k for _, k, _ in result))
    bands = list(dict.fromkeys(b for _, _, b in result))
    lines = ["| system | kind | " + " | ".join(bands) + " |", "|---|---|" + "---|" * len(bands)]
    for system in systems:
        for kind in kinds:
            cells = [f"{result[(system, kind, b)][0]:+.1f} / {result[(system, kind, b)][1]:+.1f}" for b in bands]
            lines.append(f"| {system} | {kind} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--material", choices=("dev", "heldout", "songs"), default="heldout")
    ap.add_argument("--work", type=Path, help="asr_quality.py's work folder (default: benchmarks/out/asr/<material>)")
    ap.add_argument("--systems", nargs="+", default=["mixture", "ours-speech-only", "deepfilternet"])
    args = ap.parse_args()
    work = args.work or OUT / "asr" / args.material
    result = departures(work, args.systems)
    md = "\n".join([f"Speech lost / background left (dB, per cell; 0 / 0 is the clean speech), {args.material} "
                    f"material, {work}:", "", *table(result, args.systems)]) + "\n"
    print(md)
    (OUT / f"asr_residue_{args.material}.md").write_text(md)


if __name__ == "__main__":
    main()
