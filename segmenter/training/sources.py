"""Where training audio comes from: only the Debian packages that the training-data rule allows.

Each source names a package, the files inside it, and what they are (speech, music, sung
music or noise). No text-to-speech, and nothing from the dev corpus outputs. Licences are
those of /usr/share/doc/<package>/copyright.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Sequence, get_args

OAD_ZIP = "usr/share/games/0ad/mods/public/public.zip"
HEDGEWARS_SPEECHLIKE = (r"/voices/", r"hogchant", r"Kiss", r"Yoohoo", r"countdown", r"hell_",
                        r"Hellish", r"ride_of_the_valkyries", r"/\d[A-G]\.ogg", r"homerun")


@dataclass(frozen=True)
class Source:
    id: str
    kind: str  # speech | music | sung | noise
    package: str
    globs: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    inner_zip: str | None = None
    weight: float = 1.0
    license: str = ""
    separation_only: bool = False  # only the separation task draws on it; segmentation keeps segmenter-v1's sources
    extractor: str = "files"  # how clips come out of the package: a name in extractors.EXTRACTORS
    # The held-out split's unit: the match of this regex in a clip's name (the actor, the voice
    # folder, the language), so that held-out clips are of voices never trained on; None: the clip.
    group: str | None = None

    def key(self, version: str) -> str:
        """A hash of every field and `version` (the package's locked version and the decode settings):
        it names the decoded cache, so a changed source is decoded again."""
        text = json.dumps({**asdict(self), "version": version}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def group_of(self, clip: str) -> str:
        m = re.search(self.group, clip) if self.group else None
        return m.group(0) if m else clip

    def held_out(self, clips: Sequence[str]) -> list[bool]:
        """Which of the source's clips are held out: about one group in HELD_OUT_ONE_IN (see `group`), chosen
        by a fixed hash of the source's id and the group, so the split is the same on every run and
        machine and no group is on both sides. A source of at least MIN_HELD_OUT_GROUPS groups of
        which none hashes in holds out its lowest-hashed group; a smaller one holds out none."""
        groups = [self.group_of(c) for c in clips]
        score = {g: int.from_bytes(hashlib.sha256(f"{self.id}\0{g}".encode()).digest()[:8], "big")
                 for g in set(groups)}
        chosen = {g for g, h in score.items() if h % HELD_OUT_ONE_IN == 0}
        if not chosen and len(score) >= MIN_HELD_OUT_GROUPS:
            chosen = {min(score, key=score.get)}
        return [g in chosen for g in groups]


HELD_OUT_ONE_IN = 10
MIN_HELD_OUT_GROUPS = 4

DEFAULT_UNSPLIT = "validate"  # a recipe's [heldout] unsplit_sources when it sets none
# What the held-out pools do with a source too small to hold out any group ([heldout] unsplit_sources):
# the card's sentence for each choice.
UNSPLIT_SOURCES: dict[str, str] = {
    "validate": "A source with too few groups to hold one out is in the held-out pools whole, so it is\n"
                "trained on too.",
    "leave_out": "A source with too few groups to hold one out is trained on and left out of the held-out\n"
                 "pools, so these hold no clip that training saw."}


SOURCES: tuple[Source, ...] = (
    # speech
    Source("festvox_ru", "speech", "festvox-ru", ("usr/share/festival/voices/russian/*/wav/*.wav",),
           weight=2.0, license="BSD-like"),
    Source("asterisk_en_g722", "speech", "asterisk-core-sounds-en-g722",
           ("usr/share/asterisk/sounds/en_US_f_Allison/**/*.g722",), (r"/silence/",), license="CC-BY-SA-3.0"),
    Source("asterisk_es_g722", "speech", "asterisk-core-sounds-es-g722",
           ("usr/share/asterisk/sounds/es_MX_f_Allison/**/*.g722",), (r"/silence/",), license="CC-BY-SA-3.0"),
    Source("asterisk_en_wav", "speech", "asterisk-core-sounds-en-wav",
           ("usr/share/asterisk/sounds/en_US_f_Allison/**/*.wav",), (r"/silence/",), weight=0.6,
           license="CC-BY-SA-3.0"),
    Source("asterisk_es_wav", "speech", "asterisk-core-sounds-es-wav",
           ("usr/share/asterisk/sounds/es_MX_f_Allison/**/*.wav",), (r"/silence/",), weight=0.6,
           license="CC-BY-SA-3.0"),
    Source("asterisk_es_co", "speech", "asterisk-prompt-es-co", ("usr/share/asterisk/sounds/es/**/*.gsm",),
           (r"/silence/",), weight=0.7, license="GPL"),
    Source("ktuberling", "speech", "ktuberling-data",
           ("usr/share/ktuberling/sounds/*/*.ogg", "usr/share/ktuberling/sounds/*/*.wav"), license="GPL-2+",
           group=r"(?<=sounds/)[a-z]+"),  # sr, sr@latin, sr@ijekavian...: one voice
    Source("kajongg", "speech", "kajongg", ("usr/share/kajongg/voices/**/*.ogg",), weight=0.5,
           license="GPL-2+", group=r"(?<=voices/)[^/]+"),
    Source("klettres", "speech", "klettres-data", ("usr/share/klettres/**/*.ogg",), weight=0.7,
           license="GPL-2+", group=r"(?<=klettres/)[^/]+"),
    Source("fillets_cs", "speech", "fillets-ng-data-cs", ("usr/share/games/fillets-ng/sound/**/cs/*.ogg",),
           weight=1.0, license="GPL-2+"),
    # 0 A.D.'s unit lines: men and women acting in the game's Greek, Latin, Napatan and Persian (dogs left out)
    Source("oad_voice", "speech", "0ad-data", ("audio/voice/*/civ/*.ogg",), (r"civ_dog",), inner_zip=OAD_ZIP,
           weight=0.7, license="CC-BY-SA-3.0", separation_only=True, group=r"(?<=voice/)[^/]+"),
    # Hedgewars' team voices: a dozen actors and accents, in English and four other languages
    # (the Singer pack is sung music; grunts, laughs, coughs and interjections left out)
    Source("hedgewars_voices", "speech", "hedgewars-data", ("usr/share/games/hedgewars/Data/Sounds/voices/*/*.ogg",),
           (r"/Singer/", r"/(Firepunch|Jump|Ooff|Ow)\d", r"/(Laugh|PoisonCough|PoisonMoan|Hmm|Nooo|Ouch|Oops)\.ogg"),
           weight=0.7, license="GPL-2 / CC", separation_only=True, group=r"(?<=voices/)[^/]+"),
    # music
    Source("wesnoth", "music", "wesnoth-1.16-music", ("usr/share/games/wesnoth/1.16/data/core/music/*.ogg",),
           (r"silence\.ogg",), weight=1.5, license="GPL-2+"),
    Source("oad_music", "music", "0ad-data", ("audio/music/*.ogg",), inner_zip=OAD_ZIP, weight=1.5,
           license="CC-BY-SA-3.0"),
    Source("freedroid_music", "music", "freedroidrpg-data", ("usr/share/freedroidrpg/data/sound/music/*.ogg",),
           license="GPL-2+"),
    Source("singularity", "music", "singularity-music", ("usr/share/games/singularity/music/**/*.ogg",),
           license="CC-BY-SA-3.0"),
    Source("hedgewars_music", "music", "hedgewars-data", ("usr/share/games/hedgewars/Data/Music/*.ogg",),
           license="GPL-2 / CC"),
    Source("sectoid", "music", "fretsonfire-songs-sectoid",
           ("usr/share/games/fretsonfire/data/songs/sectoid/*/song.ogg",), license="Expat-style"),
    Source("stk_music", "music", "supertuxkart-data", ("usr/share/games/supertuxkart/data/music/*.ogg",),
           weight=1.5, license="GPL-3+ / CC-BY-SA"),
    Source("warmux_music", "music", "warmux-data", ("usr/share/games/warmux/music/**/*.ogg",),
           license="GPL-2+"),
    Source("moh_opsound", "music", "asterisk-moh-opsound-wav", ("usr/share/asterisk/moh/*.wav",), weight=0.7,
           license="CC-BY-SA-3.0"),
    # sung music (a cappella lines, laid over instrumental music when used)
    Source("hedgewars_singer", "sung", "hedgewars-data",
           ("usr/share/games/hedgewars/Data/Sounds/voices/Singer/*.ogg",), license="GPL-2 / CC"),
    Source("scratch_vocals", "sung", "scratch", ("usr/share/scratch/Media/Sounds/Vocals/*",), (r"BeatBox",),
           license="CC-BY-SA-3.0"),
    Source("sonicpi_choir", "sung", "sonic-pi-samples", ("usr/share/sonic-pi/samples/ambi_choir.flac",),
           weight=0.5, license="CC0"),
    # noise
    Source("oad_ambient", "noise", "0ad-data", ("audio/ambient/**/*.ogg",), inner_zip=OAD_ZIP, weight=3.0,
           license="CC-BY-SA-3.0"),
    Source("oad_events", "noise", "0ad-data",
           ("audio/actor/fauna/animal/*.ogg", "audio/resource/*/*.ogg", "audio/attack/*/*.ogg"),
           inner_zip=OAD_ZIP, license="CC-BY-SA-3.0"),
    Source("hedgewars_sfx", "noise", "hedgewars-data", ("usr/share/games/hedgewars/Data/Sounds/*.ogg",),
           HEDGEWARS_SPEECHLIKE, license="GPL-2 / CC"),
    Source("stk_sfx", "noise", "supertuxkart-data", ("usr/share/games/supertuxkart/data/sfx/*.ogg",),
           (r"airport_pa",), license="GPL-3+ / CC-BY-SA"),  # its spoken announcements left out
    Source("warmux_sfx", "noise", "warmux-data",
           ("usr/share/games/warmux/sound/default/weapons/*.ogg", "usr/share/games/warmux/sound/default/misc/*.ogg"),
           license="GPL-2+"),
    Source("freedroid_sfx", "noise", "freedroidrpg-data", ("usr/share/freedroidrpg/data/sound/effects/**/*.ogg",),
           (r"/tux_ingame_comments/", r"/First_Contact_Sound"), license="GPL-2+"),  # spoken lines left out
    Source("scratch_fx", "noise", "scratch",
           ("usr/share/scratch/Media/Sounds/Animal/*", "usr/share/scratch/Media/Sounds/Effects/*"),
           license="CC-BY-SA-3.0"),
    # non-speech vocal sounds (laughs, coughs, screams, a baby crying): the hard negatives
    Source("scratch_human", "noise", "scratch", ("usr/share/scratch/Media/Sounds/Human/*",),
           (r"Footsteps", r"FingerSnap", r"Slurp"), weight=0.7, license="CC-BY-SA-3.0"),
    Source("scratch_loops", "music", "scratch", ("usr/share/scratch/Media/Sounds/Music Loops/*",),
           weight=0.7, license="CC-BY-SA-3.0"),
    # more backgrounds for the separator: foley, percussive hits and record noise that the
    # sources above lack (footsteps, gates, drums, vinyl hiss); one-shots, not tunes or voices
    Source("oad_foley", "noise", "0ad-data",
           ("audio/actor/singlesteps/*.ogg", "audio/actor/gate/*.ogg", "audio/actor/ship/*.ogg",
            "audio/actor/*/movement/*.ogg", "audio/actor/fauna/death/*.ogg"),
           inner_zip=OAD_ZIP, license="CC-BY-SA-3.0", separation_only=True),
    Source("sonicpi_fx", "noise", "sonic-pi-samples", ("usr/share/sonic-pi/samples/*.flac",),
           (r"/(ambi_choir|ambi_piano|bass_|guit_|loop_|glitch_robot|glitch_bass|mehackit_robot)",),
           license="CC0", separation_only=True),
    Source("stk_ambience", "noise", "supertuxkart-data",
           ("usr/share/games/supertuxkart/data/tracks/*/*.ogg", "usr/share/games/supertuxkart/data/library/*/*.ogg"),
           (r"nolok_speech", r"intro2\.ogg", r"Gran_Paradiso", r"Battle_Theme", r"beneath_the_rabbit_hole"),
           license="GPL-3+ / CC-BY-SA", separation_only=True),
    Source("scratch_perc", "noise", "scratch",
           ("usr/share/scratch/Media/Sounds/Percussion/*", "usr/share/scratch/Media/Sounds/Electronic/*"),
           license="CC-BY-SA-3.0", separation_only=True),
    Source("oad_buildings", "noise", "0ad-data",
           ("audio/interface/select/building/*.ogg", "audio/interface/complete/building/*.ogg",
            "audio/interface/select/resource/*.ogg"),
           inner_zip=OAD_ZIP, license="CC-BY-SA-3.0", separation_only=True),
    # --- second round (issue 25): more voices, languages, music and ambience ---
    # Flight of the Amazon Queen: acted English dialogue, MP3 entries of queen.1c. Joe's lines end
    # in J<n> (or start JOE) and are one group (an empty match); the other speaker's lines are
    # grouped by dialogue (the name's first two characters).
    # Sound effects (names ending SSSS) left out.
    Source("fotaq", "speech", "flight-of-the-amazon-queen",
           ("usr/share/scummvm/flight-of-the-amazon-queen/queen.1c/*.SB",), (r"SSSS\.SB$",),
           license="Flight-of-the-Amazon-Queen-License (BSD-like)", extractor="queen",
           group=r"(?<=queen\.1c/)(?:(?=JOE|\w{6}J\d\.SB$)|\w\w)"),
    # Beneath a Steel Sky: acted English dialogue in sky.dsk. The names (file numbers) do not say
    # who speaks: a group is a run of 100 consecutive lines (one scene's conversation).
    Source("steel_sky", "speech", "beneath-a-steel-sky", ("usr/share/scummvm/beneath-a-steel-sky/sky.dsk/*",),
           license="Beneath-a-Steel-Sky-License (BSD-like)", extractor="steel_sky", group=r"(?<=sky\.dsk/)\d{3}"),
    # Drascula: acted dialogue in English, Spanish and Italian; a file's letter prefix is its
    # character (none: the hero), the held-out unit. S<n>.ALS are the sound effects.
    *(Source(f"drascula_{lang}", "speech", package, (f"usr/share/scummvm/drascula/{lang}/*.ALS",), (r"/S\d+\.ALS$",),
             license="Drascula-License (BSD-like)", extractor="drascula", group=r"(?<=/)[A-Z]*(?=\d+\.ALS$)")
      for lang, package in (("en", "drascula"), ("es", "drascula-spanish"), ("it", "drascula-italian"))),
    # Tux Paint's spoken stamp descriptions, recorded by named volunteers per language (changelog);
    # the language is the held-out unit. The stamps' sound effects left out.
    Source("tuxpaint_desc", "speech", "tuxpaint-stamps-default", ("usr/share/tuxpaint/stamps/**/*_desc*.ogg",),
           license="GPL-2", group=r"_desc(_\w+)?\.ogg$"),
    # gcin's Mandarin syllables, two speakers: 3.ogg (Edward Der-Hua Liu) and 5.ogg (voice actor Chu Lo)
    Source("gcin_voice", "speech", "gcin-voice", ("usr/share/gcin-voice/ogg/*/*.ogg",),
           license="GPL-3 or LGPL-3 (3.ogg) / CC-BY-3.0 (5.ogg)", group=r"/\d\.ogg$"),
    # music
    Source("ufoai_music", "music", "ufoai-music", ("music/*.ogg",), inner_zip="usr/share/games/ufoai/base/0music.pk3",
           license="GPL-2+ / CC-BY-SA-3.0 / CC-BY-3.0 / public domain (per file)"),
    Source("planetblupi_music", "music", "planetblupi-music-ogg", ("usr/share/planetblupi/music/*.ogg",),
           license="GPL-3+"),
    Source("supertux_music", "music", "supertux-data", ("usr/share/games/supertux2/music/**/*.ogg",),
           license="GPL-2+"),
    Source("nexuiz_music", "music", "nexuiz-music", ("sound/cdtracks/*.ogg",), (r"digital-pursuit",),
           inner_zip="usr/share/games/nexuiz/data/music.pk3", license="GPL-2+"),
    # Drascula's CD: tracks 1, 2 and 30 hold a singing voice (sung below); 29 and 31 a voice that
    # may be spoken over the music, so they are in no pool.
    Source("drascula_music", "music", "drascula-music", ("usr/share/scummvm/drascula/audio/*.ogg",),
           (r"/track(1|2|29|30|31)\.ogg$",), license="Drascula-License (BSD-like)"),
    Source("uh_music", "music", "unknown-horizons", ("usr/share/unknown-horizons/content/audio/music/**/*.ogg",),
           license="CC-BY-SA-3.0"),
    Source("flare_music", "music", "flare-game", ("usr/share/games/flare/mods/*/music/*.ogg",), (r"wind_ambient",),
           license="CC-BY-SA-3.0+"),
    Source("pushover_music", "music", "pushover-data", ("usr/share/pushover/themes/*.ogg",), license="GPL-3+"),
    # songs with a voice in them, found by ranking the music tracks by the share of frames segmenter-v1
    # calls speech and reading the spectrograms of the highest: music that the model must learn to call music
    Source("drascula_sung", "sung", "drascula-music",
           tuple(f"usr/share/scummvm/drascula/audio/track{n}.ogg" for n in (1, 2, 30)),
           license="Drascula-License (BSD-like)"),
    # the same songs a track apart, too few to hold a group out: a recipe that trains on tracks 1 and
    # 30 leaves track 2 (the longest) unseen, for `benchmarks/asr_quality.py --material songs`
    Source("drascula_sung_1_30", "sung", "drascula-music",
           tuple(f"usr/share/scummvm/drascula/audio/track{n}.ogg" for n in (1, 30)),
           license="Drascula-License (BSD-like)"),
    Source("drascula_sung_2", "sung", "drascula-music", ("usr/share/scummvm/drascula/audio/track2.ogg",),
           license="Drascula-License (BSD-like)"),
    Source("nexuiz_sung", "sung", "nexuiz-music", ("sound/cdtracks/digital-pursuit.ogg",),  # chopped vocal samples
           inner_zip="usr/share/games/nexuiz/data/music.pk3", license="GPL-2+"),
    # noise: ambience loops and effects (spoken lines, radio and TV voices, jingles and screams left out)
    Source("ufoai_ambience", "noise", "ufoai-sound", ("sound/ambience/*.ogg",),
           (r"radiomessage", r"tv_newswav", r"disco", r"jingle", r"aliencom"),
           inner_zip="usr/share/games/ufoai/base/0snd.pk3", license="GPL-2+ / CC-BY(-SA)-3.0 (per file)"),
    Source("ufoai_sfx", "noise", "ufoai-sound",
           ("sound/weapons/*.ogg", "sound/footsteps/*.ogg", "sound/impact/*.ogg", "sound/doors/*.ogg",
            "sound/misc/*.ogg", "sound/seq/*.ogg", "sound/ugv/*.ogg"), (r"/talk\.ogg", r"lobbyprivmsg", r"popup"),
           inner_zip="usr/share/games/ufoai/base/0snd.pk3", license="GPL-2+ / CC-BY(-SA)-3.0 (per file)"),
    Source("redeclipse_ambience", "noise", "redeclipse-data",
           ("usr/share/games/redeclipse/data/sounds/ambience/*.ogg", "usr/share/games/redeclipse/data/sounds/ambience/morph/*.ogg"),
           license="CC-BY-SA-3.0 / CC-BY-3.0 (morph)"),
    Source("lmms_samples", "noise", "lmms-common",
           ("usr/share/lmms/samples/drums/*.ogg", "usr/share/lmms/samples/effects/*.ogg",
            "usr/share/lmms/samples/misc/*.ogg"), (r"breath", r"choir", r"chorus"), license="GPL-2+"),
    Source("flare_loops", "noise", "flare-game",
           ("usr/share/games/flare/mods/*/soundfx/environment/*loop*.ogg",
            "usr/share/games/flare/mods/*/soundfx/environment/open_fire*.ogg",
            "usr/share/games/flare/mods/*/music/wind_ambient.ogg"), license="CC-BY-SA-3.0+"),
)

Task = Literal["segmentation", "separation"]


def sources_for(task: Task) -> tuple[Source, ...]:
    """The sources a trainer draws on: "separation" takes them all, "segmentation" leaves out
    the separation-only ones, so that segmenter-v1's training data stays what it was trained on."""
    if task not in get_args(Task):
        raise ValueError(f"unknown training task {task!r}: 'segmentation' or 'separation'")
    return tuple(s for s in SOURCES if task == "separation" or not s.separation_only)


def packages() -> list[str]:
    return sorted({s.package for s in SOURCES})


# Recordings that an evaluation uses, kept out of training: every `*_excluded.tsv` beside this
# file (header `package<TAB>path`). dev_excluded.tsv holds the dev corpus's files (the same
# packages are allowed for training, but dev figures must measure unseen recordings); regenerate
# it with `python -m segmenter.training.sources ~/.cache/speech-corpus/dev/manifest.json`.
DEV_EXCLUDED = Path(__file__).with_name("dev_excluded.tsv")


def excluded(folder: Path = DEV_EXCLUDED.parent) -> set[tuple[str, str]]:
    """(package, clip name) of every recording listed in `folder`'s `*_excluded.tsv` files."""
    rows: set[tuple[str, str]] = set()
    for tsv in sorted(folder.glob("*_excluded.tsv")):
        lines = tsv.read_text().splitlines()
        if not lines or lines[0] != "package\tpath":
            raise ValueError(f"{tsv}: the first line must be the header 'package<TAB>path'")
        rows |= {tuple(line.split("\t", 1)) for line in lines[1:] if line}
    return rows


def write_dev_excluded(manifest: Path) -> int:
    files = json.loads(Path(manifest).read_text())["files"]
    rows = sorted({(f["package"], f["path"]) for f in files})
    DEV_EXCLUDED.write_text("package\tpath\n" + "".join(f"{p}\t{q}\n" for p, q in rows))
    return len(rows)


if __name__ == "__main__":
    import sys
    print(write_dev_excluded(Path(sys.argv[1])), "files excluded")
