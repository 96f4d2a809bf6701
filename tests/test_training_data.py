"""The training-data layer: archive extractors on tiny archives built here in their real formats,
the package lock, the source-keyed cache and the group-wise held-out split. No network."""
from __future__ import annotations

import dataclasses
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from segmenter.training import extractors, fetch
from segmenter.training.sources import SOURCES, Source, excluded

SR = 11025


def tone(seconds: float, sr: int = SR, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def u8(x: np.ndarray) -> bytes:
    return np.clip(np.round(x * 128 + 128), 0, 255).astype(np.uint8).tobytes()


def test_queen_reads_the_sound_entries_of_a_qtbl_archive(tmp_path: Path) -> None:
    """QTBL tag, version, compression byte, entry count, 21-byte entries; .SB entries are MP3."""
    buf = tmp_path / "speech.mp3"
    sf.write(buf, tone(1.0), SR, format="MP3")
    mp3 = buf.read_bytes()
    entries = [("020001P2.SB", mp3), ("ROOM1.PCX", b"not audio"), ("88SSSSSS.SB", mp3)]
    table_end = 15 + 21 * len(entries)
    head, body, offset = b"QTBL" + b"CEM10\0" + b"\0\0" + bytes([1]) + struct.pack(">H", len(entries)), b"", table_end
    for name, data in entries:
        head += name.encode().ljust(12, b"\0") + bytes([1]) + struct.pack(">II", offset, len(data))
        body += data
        offset += len(data)
    archive = tmp_path / "usr/share/scummvm/fotaq/queen.1c"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(head + body)
    src = Source("q", "speech", "p", ("usr/share/scummvm/fotaq/queen.1c/*.SB",), (r"SSSS\.SB$",), extractor="queen")
    clips = list(extractors.queen(tmp_path, fetch.wanted(src)))
    assert [c[0] for c in clips] == ["usr/share/scummvm/fotaq/queen.1c/020001P2.SB"]
    name, audio, sr = clips[0]
    assert sr == SR and abs(len(audio) / sr - 1.0) < 0.1 and np.abs(audio).max() > 0.3
    with pytest.raises(ValueError, match="QTBL"):
        extractors.queen_entries(b"RIFF" + bytes(20))


class RncWriter:
    """An RNC method-1 stream of literal runs only, laid out as the format lays them: bits LSB first
    in little-endian 16-bit words, a literal run's bytes after the word being filled."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.slot = -1  # byte offset of the word being filled
        self.used = 16

    def bits(self, value: int, n: int) -> None:
        for i in range(n):
            if self.used == 16:
                self.slot, self.used = len(self.out), 0
                self.out += b"\0\0"
            if value >> i & 1:
                word = int.from_bytes(self.out[self.slot:self.slot + 2], "little") | 1 << self.used
                self.out[self.slot:self.slot + 2] = word.to_bytes(2, "little")
            self.used += 1

    def literal(self, data: bytes) -> None:
        self.out += data


def rnc1_literals(data: bytes) -> bytes:
    """`data` as one RNC-1 chunk holding one literal run (length < 2**15)."""
    k = len(data).bit_length()  # the run length's class: 2**(k-1) plus k-1 extra bits
    w = RncWriter()
    w.bits(0, 2)
    w.bits(k + 1, 5)  # literal table: class k gets the only code, of length 1 ("0")
    for i in range(k + 1):
        w.bits(1 if i == k else 0, 4)
    w.bits(0, 5)  # no distance codes
    w.bits(0, 5)  # no length codes
    w.bits(1, 16)  # one literal run, no match
    w.bits(0, 1)
    w.bits(len(data) - (1 << (k - 1)), k - 1)
    w.literal(data)
    w.bits(0, 16)
    body = bytes(w.out)
    return b"RNC\x01" + struct.pack(">II", len(data), len(body)) + bytes(4) + bytes([0, 1]) + body


def test_rnc1_unpacks_a_literal_run_placed_between_bit_words() -> None:
    data = bytes(range(256)) * 3 + b"tail"
    assert extractors.rnc1_unpack(rnc1_literals(data)) == data
    with pytest.raises(ValueError):
        extractors.rnc1_unpack(b"RNC\x02" + bytes(20))


def test_steel_sky_reads_stored_and_packed_speech_files(tmp_path: Path) -> None:
    """sky.dnr: u32 count, then (u16 number, u24 offset, u24 flags|size); speech files are a 22-byte
    header and unsigned 8-bit PCM at 11025 Hz, stored as is or RNC-packed after the header."""
    lines = {50001: tone(0.5), 50002: tone(0.3, hz=300), 1234: tone(0.2)}
    dsk, dnr = b"", struct.pack("<I", len(lines))
    for number, audio in lines.items():
        pcm = u8(audio)
        if number == 50002:  # packed: header flag bit 7, entry flags bit 23 clear
            header = struct.pack("<11H", 0x80, 0, 0, 0, 0, 0, len(pcm) + 22, 0, 0, 0, 0)
            blob, flags = header + rnc1_literals(pcm), 0
        else:
            header = struct.pack("<11H", 0, 0, 0, 0, 0, 0, len(pcm) + 22, 0, 0, 0, 0)
            blob, flags = header + pcm, 1 << 23
        dnr += struct.pack("<H", number) + len(dsk).to_bytes(3, "little") + (flags | len(blob)).to_bytes(3, "little")
        dsk += blob
    folder = tmp_path / "sky"
    folder.mkdir()
    (folder / "sky.dsk").write_bytes(dsk)
    (folder / "sky.dnr").write_bytes(dnr)
    clips = {name: (audio, sr) for name, audio, sr in extractors.steel_sky(tmp_path, lambda name: True)}
    assert set(clips) == {"sky/sky.dsk/50001", "sky/sky.dsk/50002"}  # file 1234 is not speech
    for number in (50001, 50002):
        audio, sr = clips[f"sky/sky.dsk/{number}"]
        assert sr == SR and np.allclose(audio, lines[number], atol=1 / 64)


def test_drascula_strips_the_pads_and_the_source_drops_the_effects(tmp_path: Path) -> None:
    folder = tmp_path / "usr/share/scummvm/drascula/en"
    folder.mkdir(parents=True)
    speech = tone(0.4)
    for name in ("12.ALS", "VB3.ALS", "S7.ALS"):
        (folder / name).write_bytes(bytes([7]) * 32 + u8(speech) + bytes([9]) * 32)
    src = next(s for s in SOURCES if s.id == "drascula_en")
    clips = list(extractors.drascula(tmp_path, fetch.wanted(src)))
    assert sorted(c[0].rsplit("/", 1)[1] for c in clips) == ["12.ALS", "VB3.ALS"]
    assert all(sr == SR and np.allclose(a, speech, atol=1 / 64) for _, a, sr in clips)
    assert {src.group_of(c[0]) for c in clips} == {"", "VB"}  # the hero, the vampire


def test_files_reads_the_tree_and_an_inner_zip(tmp_path: Path) -> None:
    import zipfile
    wav = tmp_path / "a.wav"
    sf.write(wav, tone(0.5, 16000), 16000)
    (tmp_path / "snd").mkdir()
    (tmp_path / "snd/x_desc_fr.ogg").write_bytes(b"")
    sf.write(tmp_path / "snd/x_desc_fr.ogg", tone(0.5, 22050), 22050, format="OGG")
    with zipfile.ZipFile(tmp_path / "data.pk3", "w") as z:
        z.write(wav, "sound/ambience/wind.wav")
    assert [(n, sr) for n, _, sr in extractors.files(tmp_path, lambda n: n.endswith("_fr.ogg"))] == \
        [("snd/x_desc_fr.ogg", 22050)]
    assert [(n, sr) for n, _, sr in extractors.files(tmp_path, lambda n: True, "data.pk3")] == \
        [("sound/ambience/wind.wav", 16000)]


def fake_deb(cache: Path, package: str, version: str) -> str:
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    deb = debs / f"{package}_{version}_all.deb"
    deb.write_bytes(b"!<arch>\nnot really a package")
    return hashlib.sha256(deb.read_bytes()).hexdigest()


def test_a_deb_whose_sha256_differs_from_the_lock_is_refused(tmp_path: Path) -> None:
    sha = fake_deb(tmp_path, "demo-data", "1.0-1")
    with pytest.raises(fetch.LockError, match="is not the locked"):
        fetch.download("demo-data", tmp_path, {"demo-data": fetch.Pin("1.0-1", "0" * 64)})
    with pytest.raises(fetch.LockError, match="not in packages.lock"):
        fetch.download("other-data", tmp_path, {"demo-data": fetch.Pin("1.0-1", sha)})
    assert not (tmp_path / "pkgs").exists() or not any((tmp_path / "pkgs").iterdir())


def test_the_lock_file_is_read_and_checked(tmp_path: Path) -> None:
    lock = tmp_path / "packages.lock"
    lock.write_text(fetch.LOCK_HEADER + "\nfoo\t1:2.0-1\t" + "a" * 64 + "\n")
    assert fetch.read_lock(lock) == {"foo": fetch.Pin("1:2.0-1", "a" * 64)}
    lock.write_text("foo 1.0\n")
    with pytest.raises(fetch.LockError, match="first line"):
        fetch.read_lock(lock)
    pins = fetch.read_lock()  # the repository's lock pins every package the sources use
    assert {s.package for s in SOURCES} <= set(pins)
    assert all(len(p.sha256) == 64 for p in pins.values())


def test_the_cache_key_follows_every_source_field_and_the_version() -> None:
    src = Source("x", "speech", "pkg", ("a/*.ogg",))
    changed = {"id": "y", "kind": "music", "package": "pkg2", "globs": ("b/*.ogg",), "exclude": ("z",),
               "inner_zip": "d.zip", "weight": 2.0, "license": "GPL", "separation_only": True,
               "extractor": "queen", "group": "/v/"}
    assert set(changed) == {f.name for f in dataclasses.fields(Source)}
    keys = {src.key("1.0")} | {dataclasses.replace(src, **{k: v}).key("1.0") for k, v in changed.items()}
    assert len(keys) == len(changed) + 1
    assert src.key("1.0") == src.key("1.0") != src.key("1.1")
    lock = {"pkg": fetch.Pin("1.0", "0" * 64)}
    assert fetch.pool_path(src, Path("/c"), lock) != fetch.pool_path(dataclasses.replace(src, weight=3.0), Path("/c"), lock)


def test_a_changed_source_is_decoded_again_and_an_unchanged_one_reused(tmp_path: Path) -> None:
    root = tmp_path / "pkgs" / "pkg_1.0"
    (root / "a").mkdir(parents=True)
    (root / ".done").write_text("pkg_1.0_all.deb")
    for i in range(3):
        sf.write(root / f"a/{i}.wav", tone(0.5, 16000, 200 + 100 * i), 16000)
    lock = {"pkg": fetch.Pin("1.0", "0" * 64)}
    src = Source("demo", "speech", "pkg", ("a/*.wav",))
    first = fetch.build_source(src, tmp_path, lock)
    stamp = first.stat().st_mtime_ns
    assert fetch.build_source(src, tmp_path, lock) == first and first.stat().st_mtime_ns == stamp
    narrower = dataclasses.replace(src, exclude=(r"/2\.wav",))
    second = fetch.build_source(narrower, tmp_path, lock)
    assert second != first and not first.exists()  # the stale file goes
    with np.load(second) as z:
        assert list(z["names"]) == ["a/0.wav", "a/1.wav"] and len(z["offsets"]) == 3


def test_the_held_out_split_is_stable_and_by_group() -> None:
    src = Source("voices", "speech", "pkg", ("*",), group=r"(?<=voices/)[^/]+")
    names = [f"voices/actor{g:03d}/line{i}.ogg" for g in range(400) for i in range(6)]
    flags = src.held_out(names)
    groups = {src.group_of(n) for n, h in zip(names, flags) if h}
    assert all(h == (src.group_of(n) in groups) for n, h in zip(names, flags))  # whole groups
    assert 0.06 < len(groups) / 400 < 0.14
    # fixed by a hash of (source id, group): the same on every run and machine, whatever else is listed
    probe = [f"voices/actor{g:03d}/x.ogg" for g in range(30)]
    assert [g for g, h in enumerate(src.held_out(probe)) if h] == [7, 28]
    assert src.held_out(probe[::-1])[::-1] == src.held_out(probe)
    # a few voices, none hashing in: the lowest-hashed one is held out; two voices: none
    few = [f"voices/actor{g:03d}/x.ogg" for g in range(4)]
    assert sum(src.held_out(few)) == 1 and sum(src.held_out(few[:2])) == 0
    assert Source("clips", "speech", "pkg", ("*",)).group_of("a/b.ogg") == "a/b.ogg"
    fotaq = next(s for s in SOURCES if s.id == "fotaq")  # Joe, the hero, is one voice: one group
    joe = {fotaq.group_of(f"x/queen.1c/{n}.SB") for n in ("020006J1", "05SSSSJ1", "JOE00012")}
    assert len(joe) == 1 and fotaq.group_of("x/queen.1c/020006P1.SB") not in joe


def test_every_excluded_tsv_is_read(tmp_path: Path) -> None:
    (tmp_path / "dev_excluded.tsv").write_text("package\tpath\np\ta.ogg\n")
    (tmp_path / "asr_excluded.tsv").write_text("package\tpath\nq\tb.wav\n\n")
    (tmp_path / "notes.tsv").write_text("package\tpath\nr\tc.wav\n")
    assert excluded(tmp_path) == {("p", "a.ogg"), ("q", "b.wav")}
    (tmp_path / "bad_excluded.tsv").write_text("p\ta.ogg\n")
    with pytest.raises(ValueError, match="header"):
        excluded(tmp_path)


def fake_pool(cache: Path, source_id: str, names: list[str], seconds: float) -> None:
    """A decoded cache file for a real source: one tone per clip name."""
    src = next(s for s in SOURCES if s.id == source_id)
    path = fetch.pool_path(src, cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    clip = (tone(seconds, 16000) * 32767).astype(np.int16)
    np.savez(path, audio=np.tile(clip, len(names)), names=np.array(names),
             offsets=np.arange(len(names) + 1) * len(clip))


def test_a_source_too_small_to_split_is_validated_on_whole_or_left_out(tmp_path: Path) -> None:
    from segmenter.training.mixing import load_pools
    sung = [f"usr/share/scratch/Media/Sounds/Vocals/line{i:02d}.wav" for i in range(12)]
    fake_pool(tmp_path, "scratch_vocals", sung, 21)  # 12 groups: some held out (21 s: no pitch variants)
    fake_pool(tmp_path, "nexuiz_sung", ["sound/cdtracks/digital-pursuit.ogg"], 21)  # one clip: unsplit
    fake_pool(tmp_path, "wesnoth", [f"usr/share/games/wesnoth/1.16/data/core/music/{i}.ogg" for i in range(8)], 1)
    fake_pool(tmp_path, "oad_ambient", [f"audio/ambient/{i}.ogg" for i in range(8)], 1)
    fake_pool(tmp_path, "festvox_ru", [f"usr/share/festival/voices/russian/x/wav/{i}.wav" for i in range(8)], 1)
    chosen = {"scratch_vocals": 1.0, "nexuiz_sung": 1.0, "wesnoth": 1.0, "oad_ambient": 1.0, "festvox_ru": 1.0}
    held = sum(next(s for s in SOURCES if s.id == "scratch_vocals").held_out(sung))
    assert 0 < held < len(sung)
    sizes = {u: len(load_pools(tmp_path, True, chosen, unsplit=u)["sung"].clips) for u in ("validate", "leave_out")}
    assert sizes == {"validate": held + 1, "leave_out": held}  # the song is held out too, or not at all
    assert len(load_pools(tmp_path, False, chosen)["sung"].clips) == len(sung) - held + 1  # trained on either way
    with pytest.raises(ValueError, match="no sung clips left in the held-out pools"):
        load_pools(tmp_path, True, {k: v for k, v in chosen.items() if k != "scratch_vocals"}, unsplit="leave_out")
    from segmenter.training.common import hours_by_kind, source_hours
    sources = [s for s in SOURCES if s.id in chosen]
    song = 21 / 3600
    for unsplit, held_song in (("validate", song), ("leave_out", 0.0)):
        hours = source_hours(sources, tmp_path, unsplit)
        assert hours["nexuiz_sung"] == pytest.approx({"trained": song, "heldout": held_song})
        assert hours["scratch_vocals"] == pytest.approx({"trained": (len(sung) - held) * song, "heldout": held * song})
    line = hours_by_kind({"source_hours": hours}, sources)
    assert f"sung music: {(len(sung) - held + 1) * song:.2f} h trained on, {held * song:.2f} h held out;" in line
