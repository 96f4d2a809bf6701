"""Segmentation examples: labelled mini-programmes mixed on the fly from real recordings.

A programme is 1 to MAX_BLOCKS blocks: speech, speech over music / sung music / noise, music, music with sung
lines, noise, or silence. Its channel then varies as an archive's does: band limits, a spectral
tilt, a level anywhere from quiet to loud, and real codecs (GSM, AMR-NB, G.711, G.726, codec2,
low-bitrate MP3 / Opus / Speex). Codecs go through ffmpeg, which is far too slow to call for every
example, so each stage codes a bank of programmes once (`coded_bank`) and draws a share of every
batch from it; the other channel effects are cheap and applied to every draw, bank included.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from ..features import N_FFT
from ..frames import FRAME_HOP, FRAME_RATE
from ..segments import LABELS, runs
from .codecs import code_many
from .mixing import (BACKGROUND_LABEL, SILENCE, SPEECH, SPEECH_CLIPS, SR, Pool, background, coloured, excerpt,
                     lowpass, pink_floor, rms_db, set_level, speech_passage, telephone, varied_background)

MAX_BLOCKS = 3  # per programme, each at least a second long
BLOCKS = ("speech", "speech_music", "speech_noise", "speech_sung", "music", "sung", "noise", "silence")


@dataclass(frozen=True)
class ProgrammeMix:
    """How programmes are mixed; a recipe's [mixing] table overrides any of these."""
    block_weights: dict[str, float] = field(default_factory=lambda: dict(zip(
        BLOCKS, (2.0, 1.5, 1.5, 0.7, 1.8, 2.0, 2.5, 1.0))))
    block_level_db: tuple[float, float] = (-40.0, -12.0)  # each block's level before the channel
    snr_db: tuple[float, float] = (-5.0, 25.0)  # speech over its background
    telephone: float = 0.25  # share of speech passages band-limited (`mixing.telephone`)
    lowpass: float = 0.15  # share of programmes low-passed (`mixing.lowpass`)
    tilt: float = 0.0  # share of programmes given a random spectral tilt (`mixing.coloured`)
    level: float = 0.0  # share of programmes moved to a programme level ...
    level_db: tuple[float, float] = (-45.0, -6.0)  # ... drawn from this range (RMS, dBFS)
    codec: float = 0.0  # share of each batch drawn from the coded bank
    digital_silence: float = 0.0  # share of programmes whose exact zeros stay exact through the channel
    speech_clips: str = "all"  # which speech clips are used: a key of `mixing.SPEECH_CLIPS`
    varied: float = 0.0  # share of music, sung-music and noise drawn as `mixing.varied_background` varies them ...
    equalise: float = 0.0  # ... and the share of those then `mixing.equalised`

    def unvaried(self) -> "ProgrammeMix":
        """This mix without `varied` backgrounds: held-out and calibration programmes never have them,
        so recipes that differ only in them share one held-out set."""
        return replace(self, varied=0.0, equalise=0.0)

    @classmethod
    def from_recipe(cls, overrides: dict) -> "ProgrammeMix":
        names = {f.name for f in fields(cls)}
        unknown = set(overrides) - names
        if unknown:
            raise ValueError(f"unknown [mixing] keys {sorted(unknown)}: known are {sorted(names)}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
        if values.get("speech_clips", "all") not in SPEECH_CLIPS:
            raise ValueError(f"[mixing] speech_clips must be one of {sorted(SPEECH_CLIPS)}")
        if values.get("equalise") and not values.get("varied"):
            raise ValueError("[mixing] equalise applies to varied backgrounds: set varied too")
        if "block_weights" in values:
            missing = set(BLOCKS) ^ set(values["block_weights"])
            if missing:
                raise ValueError(f"[mixing] block_weights must name exactly {BLOCKS}")
        return cls(**values)

    def weights(self) -> np.ndarray:
        w = np.array([self.block_weights[b] for b in BLOCKS], np.float64)
        return w / w.sum()

    def to_json(self) -> dict:
        return asdict(self)


def block_background(kind: str, pools: dict[str, Pool], n: int, rng: np.random.Generator,
                     mix: ProgrammeMix) -> tuple[np.ndarray, int]:
    """A block's background of `kind` and its label; a `mix.varied` share varied (no draw at 0, so
    that the programmes of recipes without it stay as they were)."""
    if mix.varied and kind != "silence" and rng.random() < mix.varied:
        return varied_background(kind, pools, n, rng, mix.equalise), BACKGROUND_LABEL[kind]
    return background(kind, pools, n, rng)


def block(kind: str, pools: dict[str, Pool], n: int, rng: np.random.Generator,
          mix: ProgrammeMix) -> tuple[np.ndarray, np.ndarray]:
    """Audio and 4-class frame labels of one block."""
    frames = n // FRAME_HOP
    level = rng.uniform(*mix.block_level_db)
    if kind.startswith("speech"):
        bg_kind = kind.split("_")[1] if "_" in kind else "silence"
        speech, active = speech_passage(pools["speech"], n, rng)
        if rng.random() < mix.telephone:
            speech = telephone(speech, rng)
        speech = set_level(speech, level, rms_db(speech[np.repeat(active, FRAME_HOP)]) if active.any() else None)
        bg, bg_label = block_background(bg_kind, pools, n, rng, mix)
        if bg_label != SILENCE:
            bg = set_level(bg, level - rng.uniform(*mix.snr_db))
        labels = np.where(active, SPEECH, bg_label).astype(np.int8)
        return speech + bg, labels
    if kind == "silence":
        audio = (set_level(excerpt(pools["noise"], n, rng), rng.uniform(-75, -58))
                 if rng.random() < 0.6 else np.zeros(n, np.float32))
        return audio, np.full(frames, SILENCE, np.int8)
    audio, label = block_background(kind, pools, n, rng, mix)
    return set_level(audio, level), np.full(frames, label, np.int8)


def programme(pools: dict[str, Pool], seconds: float, rng: np.random.Generator,
              mix: ProgrammeMix = ProgrammeMix()) -> tuple[np.ndarray, np.ndarray]:
    """A labelled mini-programme of 1 to MAX_BLOCKS blocks, before its channel; audio (samples) and labels (frames)."""
    audio, labels, _ = programme_blocks(pools, seconds, rng, mix)
    return audio, labels


def programme_blocks(pools: dict[str, Pool], seconds: float, rng: np.random.Generator, mix: ProgrammeMix
                     ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, str]]]:
    """`programme`, and its blocks as (first frame, end frame, kind)."""
    frames = int(seconds * FRAME_RATE)
    k = int(rng.integers(1, MAX_BLOCKS + 1)) if frames >= MAX_BLOCKS * FRAME_RATE else 1
    bounds = np.array([0, frames])
    while k > 1 and np.diff(bounds).min() < FRAME_RATE:  # blocks of at least one second
        bounds = np.concatenate(([0], np.sort(rng.integers(FRAME_RATE, frames - FRAME_RATE, size=k - 1)), [frames]))
    kinds = rng.choice(BLOCKS, size=k, p=mix.weights())
    audio, labels = [], []
    for kind, a, b in zip(kinds, bounds[:-1], bounds[1:]):
        x, y = block(str(kind), pools, (b - a) * FRAME_HOP, rng, mix)
        f = min(80, len(x) // 2)
        ramp = np.linspace(0, 1, f, dtype=np.float32)
        x[:f] *= ramp
        x[-f:] *= ramp[::-1]
        audio.append(x)
        labels.append(y)
    blocks = [(int(a), int(b), str(kind)) for kind, a, b in zip(kinds, bounds[:-1], bounds[1:])]
    return np.concatenate(audio), np.concatenate(labels), blocks


def channel(x: np.ndarray, rng: np.random.Generator, mix: ProgrammeMix) -> np.ndarray:
    """The cheap channel effects (low-pass, tilt, programme level), a noise floor and a peak limit.
    In a `mix.digital_silence` share of programmes, stretches of exact zeros stay exact, as digital
    silence (a file's start, an edit) does: the floor alone would leave none in any example."""
    zeros = digital_zeros(x) if mix.digital_silence and rng.random() < mix.digital_silence else None
    if rng.random() < mix.lowpass:
        x = lowpass(x, rng)
    if rng.random() < mix.tilt:
        x = coloured(x, rng)
    if rng.random() < mix.level and np.any(x):
        x = set_level(x, rng.uniform(*mix.level_db))
    x = x + pink_floor(len(x), rng.uniform(-90, -66), rng)
    if zeros is not None:
        x[zeros] = 0
    peak = np.max(np.abs(x))
    if peak > 0.95:
        x = x * np.float32(0.95 / peak)
    return x.astype(np.float32)


def digital_zeros(x: np.ndarray, shortest: int = N_FFT) -> np.ndarray:
    """Where `x` is exactly zero for at least `shortest` samples (a feature window) in a row."""
    keep = np.zeros(len(x), bool)
    for a, b, zero in runs(x == 0):
        if zero and b - a >= shortest:
            keep[a:b] = True
    return keep


def draw(pools: dict[str, Pool], seconds: float, rng: np.random.Generator, mix: ProgrammeMix,
         bank: list[tuple[np.ndarray, np.ndarray]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One training example: from the coded bank (a `mix.codec` share; bank programmes are chained
    or cut to length) or mixed afresh, then its channel."""
    if bank and rng.random() < mix.codec:
        frames = int(seconds * FRAME_RATE)
        parts = []
        while sum(len(y) for _, y in parts) < frames:
            parts.append(bank[int(rng.integers(len(bank)))])
        audio = np.concatenate([a for a, _ in parts])[:frames * FRAME_HOP]
        labels = np.concatenate([y for _, y in parts])[:frames]
    else:
        audio, labels = programme(pools, seconds, rng, mix)
    return channel(audio, rng, mix), labels


def coded_programmes(pools: dict[str, Pool], codecs: list[str], n: int, seconds: float, seed: int,
                     mix: ProgrammeMix) -> list[tuple[np.ndarray, np.ndarray]]:
    """n programmes, each coded with one of `codecs` (in turn), in one ffmpeg call per codec."""
    from concurrent.futures import ThreadPoolExecutor
    rng = np.random.default_rng([seed, 7001])
    made = [programme(pools, seconds, rng, mix) for _ in range(n)]
    groups = [list(range(j, n, len(codecs))) for j in range(len(codecs))]
    with ThreadPoolExecutor(2) as ex:  # each codec is one ffmpeg pair: two run at once
        coded = list(ex.map(lambda g, c: code_many([made[i][0] for i in g], c), groups, codecs))
    out: list[tuple[np.ndarray, np.ndarray]] = [None] * n  # type: ignore[list-item]
    for g, audio in zip(groups, coded):
        for i, a in zip(g, audio):
            out[i] = (a, made[i][1])
    return out


def coded_bank(pools: dict[str, Pool], codecs: list[str], n: int, seconds: float, seed: int,
               mix: ProgrammeMix, cache: Path, key: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """`coded_programmes`, kept in `cache` under a name made from everything that shapes them."""
    digest = hashlib.sha256(json.dumps([key, codecs, n, seconds, seed, mix.to_json()]).encode()).hexdigest()[:16]
    path = cache / "coded" / f"bank-{digest}.npz"
    if not path.exists():
        bank = coded_programmes(pools, codecs, n, seconds, seed, mix)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, audio=np.stack([np.clip(a, -1, 1) * 32767 for a, _ in bank]).astype(np.int16),
                 labels=np.stack([y for _, y in bank]))
        tmp.rename(path)
    with np.load(path) as z:  # read back even when just made: a fresh cache then trains on the int16 audio a rerun reads
        return [(a.astype(np.float32) / 32767, y) for a, y in zip(z["audio"], z["labels"])]


def label_runs(labels: np.ndarray) -> list[tuple[float, float, str]]:
    """Frame labels -> [(start s, end s, class)] runs."""
    return [(a / FRAME_RATE, b / FRAME_RATE, LABELS[v]) for a, b, v in runs(labels)]


def speech_spans(labels: np.ndarray, blocks: list[dict]) -> np.ndarray:
    """4-class labels as the dev corpus's references give them: in each speech block, speech from its
    first to its last speech frame, pauses included (`blocks` as `write_heldout` records them)."""
    out = labels.copy()
    for b in blocks:
        if b["type"].startswith("speech"):
            a, e = round(b["start"] * FRAME_RATE), round(b["end"] * FRAME_RATE)
            on = np.flatnonzero(labels[a:e] == SPEECH)
            if len(on):
                out[a + on[0]:a + on[-1] + 1] = SPEECH
    return out


def write_heldout(pools: dict[str, Pool], out: Path, n: int, seconds: float, seed: int, mix: ProgrammeMix,
                  codecs: list[str]) -> Path:
    """n held-out programmes of about `seconds`, in the dev corpus's layout and conventions
    (prog_NN.wav, .json with `duration`, 4-class `segments` (`speech_spans`) and `speech`, and .npy
    speech presence), so that `python -m segmenter evaluate` and the benchmarks score them as they
    score dev. Each is a chain of 4-20 s programmes; every third one goes through a codec (in turn).
    The .json's `blocks` name each block's kind (`BLOCKS`) and times, as the dev corpus's do."""
    import soundfile as sf
    if (out / "done").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 7002])
    progs, blocks = [], []
    for _ in range(n):
        parts, kinds, at = [], [], 0
        while at < seconds * FRAME_RATE:
            audio, labels, bl = programme_blocks(pools, float(rng.uniform(4, 20)), rng, mix)
            parts.append((audio, labels))
            kinds += [{"type": kind, "start": (at + a) / FRAME_RATE, "end": (at + b) / FRAME_RATE} for a, b, kind in bl]
            at += len(labels)
        progs.append((np.concatenate([a for a, _ in parts]), np.concatenate([y for _, y in parts])))
        blocks.append(kinds)
    coded = list(range(0, n, 3))
    for k, codec in enumerate(codecs):
        idx = coded[k::len(codecs)]
        for i, a in zip(idx, code_many([progs[i][0] for i in idx], codec)):
            progs[i] = (a, progs[i][1])
    for i, (audio, labels) in enumerate(progs):
        audio = channel(audio, rng, mix)
        stem = out / f"prog_{i:02d}"
        sf.write(stem.with_suffix(".wav"), audio, SR, subtype="PCM_16")
        speech = labels == SPEECH
        np.save(stem.with_suffix(".npy"), speech.astype(np.uint8))
        stem.with_suffix(".json").write_text(json.dumps({
            "file": stem.with_suffix(".wav").name, "duration": len(audio) / SR,
            "segments": label_runs(speech_spans(labels, blocks[i])),
            "speech": [[a, b] for a, b, c in label_runs(labels) if c == "speech"], "blocks": blocks[i]}))
    (out / "done").write_text(json.dumps({"programmes": n, "seconds": seconds, "seed": seed}))
    return out
