"""On-the-fly mixing of real recordings: the pools of clips, the pieces both trainers mix from
(speech passages, backgrounds, channel filters), and the separator's speech + background
mixtures with their clean parts (the segmenter's programmes are in `programmes.py`).
Everything draws from a seeded numpy Generator.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Callable, Collection, Mapping

import numpy as np
from scipy.signal import butter, resample_poly, sosfilt

from ..frames import FRAME_HOP
from ..media import SAMPLE_RATE
from ..segments import runs
from .sources import DEFAULT_UNSPLIT, SOURCES, Task, excluded, sources_for

SR = SAMPLE_RATE
SPEECH, MUSIC, NOISE, SILENCE = 0, 1, 2, 3
# Speech activity, as the references mark it: blips shorter than this many frames are dropped,
# pauses shorter than that many are bridged.
BLIP_FRAMES, PAUSE_FRAMES = 3, 30
# `labels_trusted`: the energy rule marks a clip's speech only when its floor lies at least this far
# under its 95th-percentile level (hiss above it reads as speech), and when its speech decays
# within this many frames (a reverberant tail reads as speech).
TRUSTED_FLOOR_DB, TRUSTED_TAIL_FRAMES = 30.0, 35
TELEPHONE_EDGES_HZ = ((200, 400), (3000, 3600))  # ranges of the band's lower and upper edge
LOWPASS_HZ = (3500, 7000)  # range of a channel low-pass's cut-off
STEADY_SECONDS, STEADY_RANGE_DB = 3.0, 9.0  # `is_steady`: this long at least, 100 ms levels within this range
COLOUR_CORNER_HZ, COLOUR_GAIN_DB = (300, 4000), (-12, 6)  # `coloured`: the corner's and each part's range
# `equalised`: how many peaking filters, and the ranges of their centres, gains and Q
EQ_FILTERS, EQ_CENTRE_HZ, EQ_GAIN_DB, EQ_Q = (1, 3), (100, 6000), (-12, 12), (0.7, 2.5)


def _frame_db(clip: np.ndarray) -> np.ndarray:
    """Energy per 10 ms frame over 30 ms (the frame and its neighbours), in dB."""
    n = len(clip) // FRAME_HOP
    e = np.mean(clip[:n * FRAME_HOP].reshape(n, FRAME_HOP).astype(np.float64) ** 2, axis=1)
    return 10 * np.log10(np.convolve(e, np.ones(3) / 3, mode="same") + 1e-12)


def speech_activity(clip: np.ndarray) -> np.ndarray:
    """Speech presence per 10 ms frame of a clean speech clip (level relative to the clip).

    Active = smoothed frame energy above max(95th percentile - 35 dB, floor + 6 dB); blips
    under BLIP_FRAMES are dropped and pauses under PAUSE_FRAMES are bridged, as the references do.
    """
    if len(clip) < FRAME_HOP:
        return np.zeros(0, bool)
    db = _frame_db(clip)
    ref, floor = np.percentile(db, 95), np.percentile(db, 3)
    active = db > max(ref - 35, floor + 6)
    _fill_runs(active, True, BLIP_FRAMES, False)
    _fill_runs(active, False, PAUSE_FRAMES, True, interior_only=True)
    return active


def _quiet(db: np.ndarray) -> bool:
    return np.percentile(db, 95) - np.percentile(db, 3) >= TRUSTED_FLOOR_DB


def quiet_floor(clip: np.ndarray, active: np.ndarray) -> bool:
    """Whether the clip has speech and its floor (3rd percentile of `_frame_db`) lies
    TRUSTED_FLOOR_DB under its 95th percentile: no hiss that a separator would learn to keep as speech."""
    return bool(active.any()) and _quiet(_frame_db(clip))


def labels_trusted(clip: np.ndarray, active: np.ndarray) -> bool:
    """Whether `speech_activity` (`active`) can be trusted on this clip: a `quiet_floor`, and speech
    that ends within TRUSTED_TAIL_FRAMES of its last loud frame (within 15 dB of the 95th
    percentile). Hissy and reverberant recordings fail."""
    if not active.any():
        return False
    db = _frame_db(clip)
    end = int(np.flatnonzero(active)[-1]) + 1
    loud = np.flatnonzero(db[:end] >= np.percentile(db, 95) - 15)
    return _quiet(db) and (end - int(loud[-1]) - 1 if len(loud) else end) <= TRUSTED_TAIL_FRAMES


# Which speech clips a recipe trains on ([mixing] speech_clips): a test of (clip, its activity).
SPEECH_CLIPS: dict[str, Callable[[np.ndarray, np.ndarray], bool] | None] = {
    "all": None, "quiet": quiet_floor, "trusted": labels_trusted}


def describe_speech_clips(speech_clips: str) -> str:
    """A model card's sentence on which speech clips it was trained on (none for "all")."""
    floor = f"a floor {TRUSTED_FLOOR_DB:g} dB under the speech's 95th-percentile frame level"
    return {"all": "",
            "quiet": f"\nOnly speech clips with {floor} are used, so that no hiss is taught as speech.",
            "trusted": f"\nOnly speech clips whose labels hold are used: {floor}, and the speech ending within "
                       f"{TRUSTED_TAIL_FRAMES * FRAME_HOP / SR * 1000:g} ms\nof its last frame within 15 dB of that "
                       f"level (no hiss or reverberant tail labelled speech)."}[speech_clips]


def _fill_runs(mask: np.ndarray, value: bool, shorter_than: int, new: bool, interior_only: bool = False) -> None:
    for s, e, v in runs(mask):
        if v == value and e - s < shorter_than and (not interior_only or (s > 0 and e < len(mask))):
            mask[s:e] = new


@dataclass
class Pool:
    """All clips of one kind, with per-source weights, for one split."""
    clips: list[np.ndarray]
    weights: np.ndarray  # per clip: source weight / clips in source
    activity: list[np.ndarray] | None = None  # speech pools: speech_activity of each clip

    def pick(self, rng: np.random.Generator) -> int:
        return int(rng.choice(len(self.clips), p=self.weights))

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        return self.clips[self.pick(rng)]


SUNG_LINE_SAMPLES = 20 * SR  # longer sung clips are whole songs: no variants needed, and they would be costly


def load_pools(cache: Path, validation: bool, selection: Task | Mapping[str, float],
               speech_clips: str = "all", unsplit: str = DEFAULT_UNSPLIT, held_whole: Collection[str] = ()) -> dict[str, Pool]:
    """Clips per kind from the decoded cache (see `fetch.build_all`), evaluation files left out
    (`sources.excluded`). `selection` is a task (its `sources_for`, at their own weights) or a
    recipe's {source id: draw weight}. `validation` picks the held-out groups (`Source.held_out`);
    a source too small to hold any out is validated on whole or left out (`sources.UNSPLIT_SOURCES[unsplit]`);
    a source in `held_whole` is held out whole (a recipe's `[heldout] sources`).
    Speech clips that fail the `SPEECH_CLIPS[speech_clips]` test are left out (each source keeps its
    weight)."""
    from .fetch import pool_path, read_lock
    if isinstance(selection, str):
        chosen = {s: s.weight for s in sources_for(selection)}
    else:
        by_id = {s.id: s for s in SOURCES}
        unknown = set(selection) - set(by_id)
        if unknown:
            raise ValueError(f"unknown training sources {sorted(unknown)}")
        chosen = {by_id[i]: float(weight) for i, weight in selection.items()}
    lock, skip = read_lock(), excluded()
    pools: dict[str, Pool] = {}
    for kind in ("speech", "music", "sung", "noise"):
        clips, w, activity = [], [], []
        for src, weight in ((s, wt) for s, wt in chosen.items() if s.kind == kind):
            with np.load(pool_path(src, cache, lock)) as z:
                audio, offsets, names = z["audio"], z["offsets"], [str(n) for n in z["names"]]
            usable = [j for j, n in enumerate(names) if (src.package, n) not in skip]
            held = src.held_out([names[j] for j in usable])
            picked = [j for j, h in zip(usable, held) if (validation if src.id in held_whole else h == validation)]
            if validation and not picked and unsplit == "validate":  # too few groups to hold any out
                picked = usable
            loaded = [audio[offsets[j]:offsets[j + 1]].astype(np.float32) / 32768 for j in picked]
            if kind == "speech":
                acts = [speech_activity(c) for c in loaded]
                if keeps := SPEECH_CLIPS[speech_clips]:
                    keep = [i for i, (c, a) in enumerate(zip(loaded, acts)) if keeps(c, a)]
                    loaded, acts = [loaded[i] for i in keep], [acts[i] for i in keep]
                activity.extend(acts)
            for clip in loaded:  # (none when no clip of the source has trusted labels)
                # sung lines are scarce: the short a cappella ones get pitch and tempo variants
                variants = pitch_variants(clip) if kind == "sung" and len(clip) <= SUNG_LINE_SAMPLES else [clip]
                clips.extend(variants)
                w.extend([weight / len(loaded) / len(variants)] * len(variants))
        if not clips and any(s.kind == kind for s in chosen):
            raise ValueError(f"no {kind} clips left in the {'held-out' if validation else 'training'} pools")
        w = np.asarray(w)
        pools[kind] = Pool(clips, w / w.sum(), activity if kind == "speech" else None)
    pools["steady"] = steady_pool(pools["noise"])
    return pools


def is_steady(clip: np.ndarray, seconds: float = STEADY_SECONDS, range_db: float = STEADY_RANGE_DB) -> bool:
    """At least `seconds` long, with its 100 ms levels (10th to 90th percentile) within `range_db`:
    rain, running water, fire, engines, a crowd's murmur."""
    n = len(clip) // (SR // 10)
    if n < seconds * 10:
        return False
    e = np.mean(clip[:n * (SR // 10)].reshape(n, -1).astype(np.float64) ** 2, axis=1)
    low, high = np.percentile(10 * np.log10(e + 1e-12), [10, 90])
    return bool(high - low <= range_db)


def steady_pool(noise: Pool) -> Pool:
    """The steady clips of the noise pool, drawn alike. They are a few dozen among hundreds of short
    effects, and the source weights favour a few game ambiences, so a plain draw seldom gives a
    background like rain or a river: one that fills every frame, evenly, across the band."""
    keep = [c for c in noise.clips if is_steady(c)] or noise.clips
    return Pool(keep, np.full(len(keep), 1.0 / max(len(keep), 1)))  # empty for a selection without noise


def pitch_variants(clip: np.ndarray) -> list[np.ndarray]:
    """Sung lines are scarce in the allowed packages: add copies shifted by -5 to +5 semitones
    and slowed down or sped up by 15 %."""
    import librosa
    shifted = [librosa.effects.pitch_shift(clip, sr=SR, n_steps=k) for k in (-5, -3, -1, 2, 4)]
    stretched = [librosa.effects.time_stretch(clip, rate=r) for r in (0.85, 1.15)]
    return [clip] + [x.astype(np.float32) for x in shifted + stretched]


def rms_db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-12)


def set_level(x: np.ndarray, target_db: float, ref_db: float | None = None) -> np.ndarray:
    ref = rms_db(x) if ref_db is None else ref_db
    return x * np.float32(10 ** ((target_db - ref) / 20))


def excerpt(pool: Pool, n: int, rng: np.random.Generator, fade: int = 160) -> np.ndarray:
    """n samples of background: a random stretch of one clip, chained with others if short."""
    out = np.zeros(0, np.float32)
    while len(out) < n:
        c = pool.draw(rng)
        start = int(rng.integers(0, max(1, len(c) - (n - len(out)))))
        piece = c[start:start + n - len(out)].copy()
        f = min(fade, len(piece) // 2)
        if f:
            ramp = np.linspace(0, 1, f, dtype=np.float32)
            piece[:f] *= ramp
            piece[-f:] *= ramp[::-1]
        out = np.concatenate((out, piece))
    return out[:n]


def speech_passage(pool: Pool, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n samples of utterances with 0.1-1 s gaps, and their speech activity per frame."""
    audio = np.zeros(n, np.float32)
    active = np.zeros(n // FRAME_HOP, bool)
    pos = int(rng.uniform(0, 0.8) * SR) // FRAME_HOP * FRAME_HOP
    while pos < n - SR // 5:
        i = pool.pick(rng)
        clip, act = pool.clips[i], pool.activity[i]
        if not act.any():
            continue
        idx = np.flatnonzero(act)
        a, b = max(0, idx[0] - 5) * FRAME_HOP, min(len(clip) // FRAME_HOP, idx[-1] + 6) * FRAME_HOP
        clip, act = clip[a:b], act[a // FRAME_HOP:b // FRAME_HOP]
        clip = set_level(clip, 0.0, rms_db(clip[np.repeat(act, FRAME_HOP)]))
        m = min(len(clip), n - pos)
        audio[pos:pos + m] = clip[:m]
        k = min(len(act), (n - pos) // FRAME_HOP)
        active[pos // FRAME_HOP:pos // FRAME_HOP + k] = act[:k]
        pos += m + int(rng.uniform(0.1, 1.0) * SR) // FRAME_HOP * FRAME_HOP
    _fill_runs(active, False, PAUSE_FRAMES, True, interior_only=True)
    return audio, active


def paused_passage(pool: Pool, n: int, rng: np.random.Generator, fade: int = 320) -> tuple[np.ndarray, int]:
    """n samples of speech with one pause (SEPARATION_MIX.pause_seconds, at most half of them) at a
    random place, and the pause's length: programmes hold long stretches of music or ambience between speakers, and the
    mask must close there."""
    gap = min(int(rng.uniform(*SEPARATION_MIX.pause_seconds) * SR), n // 2)
    head = int(rng.uniform(0, 1) * (n - gap))
    out = np.zeros(n, np.float32)
    out[:head] = speech_passage(pool, head, rng)[0]
    out[max(0, head - fade):head] *= np.linspace(1, 0, min(fade, head), dtype=np.float32)
    out[head + gap:] = speech_passage(pool, n - head - gap, rng)[0]
    return out, gap


def telephone(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    lo, hi = (rng.uniform(*edge) for edge in TELEPHONE_EDGES_HZ)
    return sosfilt(butter(4, [lo, hi], btype="band", fs=SR, output="sos"), x).astype(np.float32)


def lowpass(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return sosfilt(butter(6, rng.uniform(*LOWPASS_HZ), fs=SR, output="sos"), x).astype(np.float32)


@lru_cache(maxsize=1)
def _pink_bank(n: int = 1 << 20) -> np.ndarray:
    """65 s of unit-RMS pink noise, made once: excerpts of it are far cheaper than an FFT per example."""
    rng = np.random.default_rng(1)
    spec = np.fft.rfft(rng.standard_normal(n))
    spec /= np.sqrt(np.maximum(np.arange(len(spec)), 1))
    x = np.fft.irfft(spec, n)
    return (x / np.sqrt(np.mean(x ** 2))).astype(np.float32)


def pink_floor(n: int, level_db: float, rng: np.random.Generator) -> np.ndarray:
    bank = _pink_bank()
    start = int(rng.integers(0, len(bank)))
    idx = (start + np.arange(n)) % len(bank)
    return bank[idx] * np.float32(10 ** (level_db / 20))


BACKGROUND_LABEL = {"music": MUSIC, "sung": MUSIC, "noise": NOISE, "steady": NOISE, "silence": SILENCE}  # singing is music


def background(kind: str, pools: dict[str, Pool], n: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    if kind == "music":
        audio = excerpt(pools["music"], n, rng)
    elif kind == "sung":
        bed = excerpt(pools["music"], n, rng)
        voice = excerpt(pools["sung"], n, rng, fade=400)
        audio = bed + set_level(voice, rms_db(bed) + rng.uniform(0, 10))
    elif kind in ("noise", "steady"):
        audio = excerpt(pools[kind], n, rng)
    else:
        audio = np.zeros(n, np.float32)
    return audio, BACKGROUND_LABEL.get(kind, SILENCE)


def speed_changed(x: np.ndarray, speed: Fraction) -> np.ndarray:
    """`x` played `speed` times as fast (pitch and tempo together, as a tape would), via a
    polyphase resampler: one recording of a hit or a stream becomes a larger or smaller one."""
    return resample_poly(x, speed.denominator, speed.numerator).astype(np.float32)


def coloured(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`x` recoloured: a second-order low-pass of it (corner in COLOUR_CORNER_HZ) and the rest, each
    scaled by a gain in COLOUR_GAIN_DB and summed. A gentle random tilt of the spectrum, as another
    microphone or transfer would give the same recording."""
    corner = float(np.exp(rng.uniform(*np.log(COLOUR_CORNER_HZ))))
    low = sosfilt(butter(2, corner, fs=SR, output="sos"), x)
    g_low, g_high = 10 ** (rng.uniform(*COLOUR_GAIN_DB, size=2) / 20)
    return (g_low * low + g_high * (x - low)).astype(np.float32)


def peaking(centre_hz: float, gain_db: float, q: float) -> np.ndarray:
    """One second-order section of a peaking equaliser (the Audio EQ Cookbook's): `gain_db` at
    `centre_hz`, unity far from it."""
    a, w = 10 ** (gain_db / 40), 2 * np.pi * centre_hz / SR
    alpha = np.sin(w) / (2 * q)
    b0, b1, b2 = 1 + alpha * a, -2 * np.cos(w), 1 - alpha * a
    a0, a1, a2 = 1 + alpha / a, -2 * np.cos(w), 1 - alpha / a
    return np.array([b0, b1, b2, a0, a1, a2]) / a0


def equalised(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`x` through EQ_FILTERS peaking filters, each at a random centre, gain and Q: another mix or
    master of the same recording, with some instruments or resonances louder and others softer.
    `coloured` tilts the whole spectrum; this moves bands within it."""
    n = int(rng.integers(EQ_FILTERS[0], EQ_FILTERS[1] + 1))
    centres = np.exp(rng.uniform(*np.log(EQ_CENTRE_HZ), size=n))
    sos = np.stack([peaking(c, g, q) for c, g, q in zip(centres, rng.uniform(*EQ_GAIN_DB, size=n),
                                                         rng.uniform(*EQ_Q, size=n))])
    return sosfilt(sos, x).astype(np.float32)


SPEEDS = {"noise": (0.7, 1.4), "steady": (0.7, 1.4), "music": (0.8, 1.25), "sung": (0.8, 1.25)}


@dataclass(frozen=True)
class SeparationMix:
    """How `separation_mixture` mixes: shares of the examples, and ranges drawn from uniformly.
    A separator's config.json records it, and its card is rendered from that record."""
    backgrounds: dict[str, float] = field(default_factory=lambda: {  # kind -> share
        "music": 0.4, "sung": 0.2, "noise": 0.27, "steady": 0.13})
    layered: float = 0.2  # share of backgrounds with a second one under them ...
    layer_below_db: tuple[float, float] = (0, 12)  # ... this far below the first
    speed_changed: float = 0.5  # share of backgrounds played faster or slower (SPEEDS)
    recoloured: float = 0.5  # share of backgrounds `coloured`
    level_dbfs: tuple[float, float] = (-38, -16)  # the speech's level (a speech-free mixture's background's)
    snr_db: tuple[float, float] = (-10, 15)  # speech over background
    speech_free: float = 0.15
    paused: float = 0.25  # share of speech passages with one long pause ...
    pause_seconds: tuple[float, float] = (1.5, 4.0)  # ... this long (at most half the passage)
    telephone: float = 0.2  # share of speech band-limited as telephone speech (`telephone`)
    floor_dbfs: tuple[float, float] = (-90, -70)  # a pink noise floor under everything

    def to_json(self) -> dict:
        return asdict(self) | {"speeds": SPEEDS, "steady": {"seconds": STEADY_SECONDS, "range_db": STEADY_RANGE_DB},
                               "colour": {"corner_hz": COLOUR_CORNER_HZ, "gain_db": COLOUR_GAIN_DB},
                               "equaliser": {"filters": EQ_FILTERS, "centre_hz": EQ_CENTRE_HZ,
                                             "gain_db": EQ_GAIN_DB, "q": EQ_Q}}


SEPARATION_MIX = SeparationMix()


def varied_background(kind: str, pools: dict[str, Pool], n: int, rng: np.random.Generator,
                      equalise: float = 0.0) -> np.ndarray:
    """n samples of one background of `kind` (every separator background; a segmenter's
    `ProgrammeMix.varied` share). Half of them are played faster or slower (`SPEEDS`: ambience
    0.7-1.4 times, music within four semitones), and half are `coloured`: the allowed packages hold
    few recordings of each kind, and these give new sizes, keys, tempos and colours of the same
    sources. A share `equalise` of them are then `equalised` (no draw at 0, so that
    the examples of recipes without it stay as they were)."""
    if rng.random() < SEPARATION_MIX.speed_changed:
        low, high = SPEEDS[kind]
        speed = Fraction(float(np.exp(rng.uniform(np.log(low), np.log(high))))).limit_denominator(20)
        source, _ = background(kind, pools, int(np.ceil(n * float(speed))) + 64, rng)
        bg = speed_changed(source, speed)[:n]
    else:
        bg, _ = background(kind, pools, n, rng)
    bg = coloured(bg, rng) if rng.random() < SEPARATION_MIX.recoloured else bg
    return equalised(bg, rng) if equalise and rng.random() < equalise else bg


def separation_mixture(pools: dict[str, Pool], seconds: float, rng: np.random.Generator, equalise: float = 0.0
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mixture, speech, background) as SEPARATION_MIX says: some have no speech, and some of the
    others a long pause (`paused_passage`). Part of the ambience backgrounds are drawn from the
    steady clips alone (see `steady_pool`). Layered backgrounds are ambience under music or sung
    music, music or more ambience under ambience, as in a programme's sound bed. `equalise`: as
    `varied_background`'s, for each layer."""
    m = SEPARATION_MIX
    n = int(seconds * SR)
    kind = str(rng.choice(list(m.backgrounds), p=list(m.backgrounds.values())))
    bg = varied_background(kind, pools, n, rng, equalise)
    if rng.random() < m.layered:
        under = "noise" if kind in ("music", "sung") else str(rng.choice(["music", "noise"]))
        bg = bg + set_level(varied_background(under, pools, n, rng, equalise),
                            rms_db(bg) - rng.uniform(*m.layer_below_db))
    level = rng.uniform(*m.level_dbfs)
    if rng.random() < m.speech_free:
        speech = np.zeros(n, np.float32)
        bg = set_level(bg, level)
    else:
        speech, pause = (paused_passage(pools["speech"], n, rng) if rng.random() < m.paused
                         else (speech_passage(pools["speech"], n, rng)[0], 0))
        if rng.random() < m.telephone:
            speech = telephone(speech, rng)
        speech = set_level(speech, level, rms_db(speech) + 10 * np.log10(n / (n - pause)))  # level outside the pause
        bg = set_level(bg, level - rng.uniform(*m.snr_db))
    floor = pink_floor(n, rng.uniform(*m.floor_dbfs), rng)
    bg = bg + floor
    mix = speech + bg
    peak = np.max(np.abs(mix))
    if peak > 0.95:
        g = np.float32(0.95 / peak)
        mix, speech, bg = mix * g, speech * g, bg * g
    return mix.astype(np.float32), speech.astype(np.float32), bg.astype(np.float32)
