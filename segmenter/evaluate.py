"""`python -m segmenter evaluate REF_DIR`: segment each referenced programme and score it."""
from __future__ import annotations

import json
from pathlib import Path

from .pipeline import Segmenter
from .scoring import reference_files, score_directory
from .segments import SmoothingParams


def hypotheses(ref_dir: Path, segmenter: Segmenter, params: SmoothingParams) -> dict[str, dict]:
    """Speech intervals and fine segments for the media file beside each reference JSON."""
    out = {}
    for ref_json in reference_files(ref_dir):
        media = Path(ref_dir) / json.loads(ref_json.read_text()).get("file", ref_json.stem + ".wav")
        if not media.exists():
            media = ref_json.with_suffix(".wav")
        seg = segmenter.segment(media, params)
        out[ref_json.stem] = {"speech": seg.speech(),
                              "segments": [(s.start, s.end, s.label) for s in seg.segments]}
    return out


def run(ref_dir: Path, model_dir: str | None, params: SmoothingParams, collar: float) -> dict[str, float]:
    return score_directory(ref_dir, hypotheses(ref_dir, Segmenter.load(model_dir), params), collar)
