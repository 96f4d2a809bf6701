"""Clips out of an unpacked package: one small reader per archive format.

Each extractor takes the unpacked package tree and a predicate on clip names (a source's globs
and exclusions) and yields (clip name, mono float32 audio, sample rate) for the clips the predicate
keeps. A clip's name is its path in the package, followed by its entry name when it sits inside an
archive (`.../queen.1c/020001P2.SB`), so that globs, exclusions, the dev corpus's file list and
the held-out split all work on one kind of name.
"""
from __future__ import annotations

import io
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import soundfile as sf

from ..media import MediaError, read_audio

Clip = tuple[str, np.ndarray, int]
Wanted = Callable[[str], bool]


def decode_bytes(data: bytes, suffix: str) -> tuple[np.ndarray, int]:
    """Mono float32 and its rate; libsndfile in-process (WAV, FLAC, Ogg, MP3), ffmpeg for the rest
    (G.722, GSM), which returns 16 kHz."""
    try:
        audio, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        return audio.mean(axis=1), sr
    except Exception:
        from ..media import SAMPLE_RATE
        with tempfile.NamedTemporaryFile(suffix=suffix) as f:
            f.write(data)
            f.flush()
            return read_audio(f.name), SAMPLE_RATE


def unsigned8(data: bytes) -> np.ndarray:
    """Raw unsigned 8-bit PCM (silence = 128) as float32 in [-1, 1)."""
    return (np.frombuffer(data, np.uint8).astype(np.float32) - 128) / 128


def _tree(root: Path, wanted: Wanted) -> Iterator[tuple[str, Path]]:
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_file() and wanted(rel):
            yield rel, p


def files(root: Path, wanted: Wanted, inner_zip: str | None = None) -> Iterator[Clip]:
    """Plain audio files in the package tree, or inside one zip archive of it (`inner_zip`)."""
    if inner_zip:
        with zipfile.ZipFile(root / inner_zip) as z:
            for name in sorted(z.namelist()):
                if wanted(name):
                    yield (name, *decode_bytes(z.read(name), Path(name).suffix))
        return
    for rel, p in _tree(root, wanted):
        try:
            yield (rel, *decode_bytes(p.read_bytes(), p.suffix))
        except MediaError:
            continue


def queen_entries(data: bytes) -> list[tuple[str, int, int]]:
    """(name, offset, size) of every entry of a rebuilt Flight of the Amazon Queen data file: "QTBL",
    a 6-byte version string, 2 bytes, a compression byte (1 = MP3), a big-endian u16 entry count
    and then 21-byte entries (12-byte NUL-padded name, bundle byte, big-endian u32 offset and size)."""
    if data[:4] != b"QTBL":
        raise ValueError("not a rebuilt Flight of the Amazon Queen data file (no QTBL tag)")
    (count,) = struct.unpack_from(">H", data, 13)
    out = []
    for i in range(count):
        raw, _bundle, offset, size = struct.unpack_from(">12sBII", data, 15 + 21 * i)
        out.append((raw.rstrip(b"\0").decode("ascii"), offset, size))
    return out


def queen(root: Path, wanted: Wanted) -> Iterator[Clip]:
    """The sound entries (`.SB`, MP3 in the freeware release) inside every `queen.1c`."""
    for rel, p in _tree(root, lambda rel: rel.endswith("queen.1c")):
        data = p.read_bytes()
        for name, offset, size in queen_entries(data):
            clip = f"{rel}/{name}"
            if name.endswith(".SB") and wanted(clip):
                yield (clip, *decode_bytes(data[offset:offset + size], ".mp3"))


def rnc1_unpack(packed: bytes) -> bytes:
    """Decompress one RNC ProPack method-1 block (Beneath a Steel Sky's packed files).

    Header: "RNC", method 1, big-endian u32 unpacked and packed sizes, two CRCs, leeway and
    chunk count (18 bytes). Then a bit stream read LSB first from little-endian 16-bit words; each
    chunk holds three Huffman tables (literal run lengths, match distances, match lengths) and
    a count of literal-run/match pairs. Literal runs are raw bytes placed, byte-aligned, before
    the next word of the bit stream.
    """
    if packed[:4] != b"RNC\x01":
        raise ValueError("not an RNC method-1 block")
    unpacked_size, packed_size = struct.unpack_from(">II", packed, 4)
    src = packed[18:18 + packed_size] + b"\0\0\0\0"
    out = bytearray()
    pos = 0  # byte offset of the look-ahead word (the word at the top of `buf`)
    buf = src[0] | src[1] << 8
    count = 16  # bits held in buf; the top 16 are the look-ahead word at `pos`

    def advance(n: int) -> None:
        nonlocal buf, count, pos
        buf >>= n
        count -= n
        if count < 16:
            pos += 2
            buf |= (src[pos] | src[pos + 1] << 8) << count
            count += 16

    def bits(n: int) -> int:
        v = buf & ((1 << n) - 1)
        advance(n)
        return v

    def table() -> list[tuple[int, int, int]]:
        n = bits(5)
        lengths = [bits(4) for _ in range(n)]
        codes, code = [], 0
        for length in range(1, 17):
            for value, ln in enumerate(lengths):
                if ln == length:
                    codes.append((int(f"{code:0{length}b}"[::-1], 2), length, value))
                    code += 1
            code <<= 1
        return codes

    def value(codes: list[tuple[int, int, int]]) -> int:
        for code, length, v in codes:
            if buf & ((1 << length) - 1) == code:
                advance(length)
                return v if v < 2 else (1 << (v - 1)) | bits(v - 1)
        raise ValueError("corrupt RNC stream")

    advance(2)  # lock and key flags
    while len(out) < unpacked_size:
        raw, dist, lens = table(), table(), table()
        pairs = bits(16)
        while True:
            n = value(raw)
            if n:
                out += src[pos:pos + n]
                pos += n
                count -= 16
                buf = (buf & ((1 << count) - 1)) | (src[pos] | src[pos + 1] << 8) << count
                count += 16
            pairs -= 1
            if pairs <= 0:
                break
            back = value(dist) + 1
            n = value(lens) + 2
            for _ in range(n):
                out.append(out[-back])
    return bytes(out[:unpacked_size])


SKY_HEADER = 22  # Beneath a Steel Sky's file header: eleven little-endian u16 fields
SKY_SPEECH = range(50000, 55231)  # file numbers of the spoken lines: 50000 + 5230 lines in seven sections


def sky_file(dsk: bytes, entry: bytes) -> bytes:
    """One file of `sky.dsk` from its 8-byte `sky.dnr` entry (u16 number, u24 offset, u24 flags and size),
    unpacked, header first."""
    offset = int.from_bytes(entry[2:5], "little")
    flags = int.from_bytes(entry[5:8], "little")
    size = flags & 0x3FFFFF
    if offset >> 23 & 1:
        offset = (offset & 0x7FFFFF) << 4
    data = dsk[offset:offset + size]
    header_flag = int.from_bytes(data[:2], "little")
    if flags >> 23 & 1 or not header_flag >> 7 & 1:  # stored as is
        return data
    body = rnc1_unpack(data[SKY_HEADER:])
    return body if flags >> 22 & 1 else data[:SKY_HEADER] + body


def steel_sky(root: Path, wanted: Wanted) -> Iterator[Clip]:
    """The spoken lines in `sky.dsk`, indexed by `sky.dnr` (u32 count, then 8-byte entries): each
    is a file header and unsigned 8-bit PCM at 11025 Hz, named `.../sky.dsk/<file number>`."""
    for rel, p in _tree(root, lambda rel: rel.endswith("sky.dsk")):
        dsk, dnr = p.read_bytes(), p.with_suffix(".dnr").read_bytes()
        (count,) = struct.unpack_from("<I", dnr)
        for i in range(count):
            entry = dnr[4 + 8 * i:12 + 8 * i]
            (number,) = struct.unpack_from("<H", entry)
            clip = f"{rel}/{number}"
            if number in SKY_SPEECH and wanted(clip):
                yield clip, unsigned8(sky_file(dsk, entry)[SKY_HEADER:]), 11025


ALS_PAD = 32  # Drascula's .ALS files: 32 bytes before and after the samples


def drascula(root: Path, wanted: Wanted) -> Iterator[Clip]:
    """Drascula's `.ALS` files: unsigned 8-bit PCM at 11025 Hz between 32-byte pads."""
    for rel, p in _tree(root, wanted):
        yield rel, unsigned8(p.read_bytes()[ALS_PAD:-ALS_PAD]), 11025


EXTRACTORS: dict[str, Callable[..., Iterator[Clip]]] = {
    "files": files, "queen": queen, "steel_sky": steel_sky, "drascula": drascula,
}
