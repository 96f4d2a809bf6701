"""pocketsphinx 5.1.1 (the en-us model in its wheel) on WAV_DIR/<id>.wav for every id of REFS.json,
scored against the reference words with jiwer 4.0.0; runs in the `asr` venv.

Every file gets a new Decoder: pocketsphinx adapts to what it has heard (its cepstral mean, and
state in its front end), so one decoder shared by the files would make each result depend on the
files before it. Resetting one decoder is not the same: `reinit_feat()` matched a new Decoder on
speech but not on an all-zero file (a gated track's background), and `set_cmn()` did not match.
WAVs are read as float (soundfile returns zeros for float data read as int16), then converted.
Writes OUT = {"items": {id: {"hyp", "ref_words", "hits", "sub", "del", "ins"}}, "decode_seconds",
"audio_seconds"}; with an empty reference every recognised word counts as an insertion."""
import argparse
import json
import time
from pathlib import Path

import _common  # noqa: F401  (one thread)
import jiwer
import numpy as np
import soundfile as sf
from pocketsphinx import Decoder

from _common import SR
from asr_text import normalise


def pcm16(path: Path) -> bytes:
    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    if sr != SR:
        raise ValueError(f"{path}: {sr} Hz, expected {SR}")
    return (np.clip(x.mean(axis=1), -1, 1 - 1 / 32768) * 32768).astype("<i2").tobytes()


def recognise(decoder: Decoder, raw: bytes) -> str:
    decoder.start_utt()
    decoder.process_raw(raw, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return normalise(hyp.hypstr) if hyp else ""


def score(ref: str, hyp: str) -> dict:
    if not ref:
        return {"hits": 0, "sub": 0, "del": 0, "ins": len(hyp.split())}
    o = jiwer.process_words(ref, hyp if hyp else "")
    return {"hits": o.hits, "sub": o.substitutions, "del": o.deletions, "ins": o.insertions}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wav_dir", type=Path)
    ap.add_argument("--refs", type=Path, required=True, help="JSON {id: reference words}")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    refs = json.loads(args.refs.read_text())
    items, decode_s, audio_s = {}, 0.0, 0.0
    for item, ref in sorted(refs.items()):
        raw = pcm16(args.wav_dir / f"{item}.wav")
        decoder = Decoder(loglevel="FATAL")
        t0 = time.perf_counter()
        hyp = recognise(decoder, raw)
        decode_s += time.perf_counter() - t0
        audio_s += len(raw) / 2 / SR
        items[item] = {"hyp": hyp, "ref_words": len(ref.split()), **score(ref, hyp)}
    args.out.write_text(json.dumps({"items": items, "decode_seconds": decode_s, "audio_seconds": audio_s}, indent=1))
    print(f"{args.wav_dir}: {len(items)} files, decode RTF {decode_s / max(audio_s, 1e-9):.3f}")


if __name__ == "__main__":
    main()
