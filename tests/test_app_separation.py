"""separate=true over the real production server: the separated track as a new AudioDocument."""
from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf

from conftest import check_tiling, error_message, media_duration, source_mmif


def separated_docs(out: str) -> list[dict]:
    from mmif import AnnotationTypes, DocumentTypes, Mmif
    m = Mmif(out)
    found = []
    for v in m.views:
        docs = [a for a in v.annotations if a.at_type == DocumentTypes.AudioDocument]
        aligns = [a for a in v.annotations if a.at_type == AnnotationTypes.Alignment]
        for d in docs:
            (al,) = [a for a in aligns if a.get("target") == d.id]
            found.append(dict(view=v, id=d.id, path=Path(d.location_path(nonexist_ok=True)),
                              location=d.location, mime=d.get("mime"), origins=d.get("origins"),
                              origination=d.get("origination"), source=al.get("source")))
    return found


def test_round_trip(server, media, tmp_path):
    out_dir = tmp_path / "new" / "separated"  # does not exist yet: must be created
    body = source_mmif(("audio/wav", media["wav"]), ("video/mp4", media["mp4"]))
    status, _, out = server.request(body, separate="true", outputDir=str(out_dir))
    assert status == 200, out[:3000]
    check_tiling(out, {"d1": media_duration(media["wav"]), "d2": media_duration(media["mp4"])})
    docs = separated_docs(out)
    assert [d["source"] for d in docs] == ["d1", "d2"]
    for d, src in zip(docs, [media["wav"], media["mp4"]]):
        assert d["mime"] == "audio/wav" and d["location"].startswith("file:///")
        assert d["origins"] == [d["source"]] and d["origination"] == "derived"
        assert d["path"].parent == out_dir.resolve() and d["path"].is_file()
        info = sf.info(str(d["path"]))
        assert info.samplerate == 16000 and info.channels == 1
        assert info.frames / 16000 == pytest.approx(media_duration(src), abs=1 / 16000)
    # deterministic: the same request names the same files; another option, another file
    status, _, again = server.request(body, separate="true", outputDir=str(out_dir))
    assert [d["path"] for d in separated_docs(again)] == [d["path"] for d in docs]
    status, _, other = server.request(body, separate="true", speechOnly="true", outputDir=str(out_dir))
    assert not {d["path"] for d in separated_docs(other)} & {d["path"] for d in docs}
    status, _, mixed = server.request(body, separate="true", speechOnly="true", mixBack="0.3", outputDir=str(out_dir))
    assert status == 200 and not {d["path"] for d in separated_docs(mixed)} & {d["path"] for d in separated_docs(other)}


def test_unwritable_output_dir(server, media, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    status, _, out = server.request(source_mmif(("audio/wav", media["wav"])), separate="true",
                                    outputDir=str(blocker / "sub"))
    assert status == 500
    msg = error_message(out)
    assert "outputDir" in msg and str(blocker) in msg, msg


def test_document_id_cannot_escape(server, media, tmp_path):
    out_dir = tmp_path / "a" / "b" / "out"
    body = source_mmif(("audio/wav", media["wav"]), doc_ids=["../../x"])
    status, _, out = server.request(body, separate="true", outputDir=str(out_dir))
    assert status == 200, out[:3000]
    (d,) = separated_docs(out)
    assert d["path"].parent == out_dir.resolve()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written == [d["path"]], written


def test_speech_only_zeroes_non_speech(server, media, tmp_path):
    status, _, out = server.request(source_mmif(("audio/wav", media["gappy"])), labels="binary",
                                    separate="true", speechOnly="true", outputDir=str(tmp_path))
    assert status == 200, out[:3000]
    frames = check_tiling(out, {"d1": media_duration(media["gappy"])}, ["speech", "non-speech"])["d1"]
    (d,) = separated_docs(out)
    audio, sr = sf.read(str(d["path"]), dtype="float32")
    margin = 40  # ms: the fades (20 ms) plus rounding
    checked = 0
    for start, end, label, _ in frames:
        if label == "non-speech" and end - start > 2 * margin + 50:
            stretch = audio[(start + margin) * sr // 1000:(end - margin) * sr // 1000]
            assert abs(stretch).max() == 0.0, (start, end)
            checked += 1
    assert checked, f"no non-speech stretch to check in {frames}"


def test_zero_length_with_separate_gives_a_warning(server, media, tmp_path):
    status, _, out = server.request(source_mmif(("audio/wav", media["zero"])), separate="true",
                                    outputDir=str(tmp_path))
    assert status == 200, out[:3000]
    from mmif import Mmif
    (view,) = Mmif(out).views
    assert "zero length" in str(view.metadata.warnings[0])
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("case, reason", [("garbage", "cannot decode"), ("silent_video", "no audio stream")])
def test_media_error_with_separate_leaves_nothing(server, media, tmp_path, case, reason):
    """The decode fails while the track is being written: a clear error, and no file (not even a
    hidden partial one) is left in outputDir."""
    mime = "video/mp4" if case == "silent_video" else "audio/wav"
    status, _, out = server.request(source_mmif((mime, media[case])), separate="true", outputDir=str(tmp_path))
    assert status == 500
    msg = error_message(out)
    assert "d1" in msg and reason in msg, msg
    assert not list(tmp_path.iterdir())
