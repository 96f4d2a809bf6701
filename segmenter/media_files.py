"""Which files are media: the suffixes the engine reads, with their MIME types, and the walk of a
folder for them. Kept apart from the decoding code so that listing a collection (batch.py checking
a rerun) imports nothing heavy."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

# Suffix -> MIME type (the IANA name where one is registered), fixed here rather than taken from
# the `mimetypes` module, whose answers depend on the machine's /etc/mime.types. The top-level
# type says whether a file is audio or video (the CLAMS layer makes an Audio- or VideoDocument).
# MXF is registered as application/mxf, which names neither; archives hold video in it.
MEDIA_TYPES = {
    ".wav": "audio/wav", ".mp3": "audio/mpeg", ".flac": "audio/flac", ".ogg": "audio/ogg",
    ".opus": "audio/opus", ".m4a": "audio/mp4", ".aac": "audio/aac", ".wma": "audio/x-ms-wma",
    ".aif": "audio/aiff", ".aiff": "audio/aiff", ".amr": "audio/amr", ".au": "audio/basic",
    ".gsm": "audio/x-gsm", ".g722": "audio/G722",
    ".mp4": "video/mp4", ".mkv": "video/x-matroska", ".webm": "video/webm", ".mov": "video/quicktime",
    ".avi": "video/x-msvideo", ".mpg": "video/mpeg", ".mpeg": "video/mpeg", ".ts": "video/mp2t",
    ".mxf": "video/mxf", ".m4v": "video/x-m4v", ".3gp": "video/3gpp",
}
MEDIA_SUFFIXES = set(MEDIA_TYPES)


def media_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files as given; folders walked (sorted) for files with a media suffix."""
    for p in map(Path, paths):
        if p.is_dir():
            yield from (f for f in sorted(p.rglob("*")) if f.is_file() and f.suffix.lower() in MEDIA_SUFFIXES)
        else:
            yield p
