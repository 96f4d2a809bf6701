"""Malformed requests for the HTTP app (hypothesis strategies), and the error contract they must meet.

Shared by tests/test_app_fuzz.py (a few cases) and benchmarks/reliability.py (a thousand).
The contract: 200 with a valid MMIF; or the SDK's 500, either `text/plain` "Invalid input data"
or a valid MMIF whose error view names one of the errors the app means to raise. Anything else
(another status, a dropped connection, an unplanned exception class) is a crash.
"""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

AUDIO = "http://clams.ai/vocabulary/type/AudioDocument/v2"
VIDEO = "http://clams.ai/vocabulary/type/VideoDocument/v2"
DOC_TYPES = [AUDIO, VIDEO, "http://mmif.clams.ai/vocabulary/AudioDocument/v1",
             "http://clams.ai/vocabulary/type/TextDocument/v1", "http://clams.ai/vocabulary/type/ImageDocument/v1",
             "http://clams.ai/vocabulary/type/AudioDocument/v99", "AudioDocument", ""]
PARAMETERS = ["labels", "threshold", "minSpeech", "minGap", "padding", "separate", "speechOnly", "outputDir",
              "pretty", "runningTime", "hwFetch", "tfSamplingMode", "unknownParam", ""]
VALUES = ["fine", "binary", "coarse", "0", "1", "0.5", "0.95", "-1", "2", "60", "61", "1e309", "nan", "inf",
          "-inf", "abc", "", " ", "true", "false", "yes", "F", "None", "[]", "{}", "0x10", "é", "\x00", "a" * 300]
# Exception classes the app raises on purpose; the SDK's own ValueError for a bad choice.
PLANNED_ERRORS = ("DocumentMediaError", "ParameterError", "OutputDirError", "SeparationUnavailableError")
SDK_PARAMETER_ERROR = re.compile(r"<class 'ValueError'>: Value for parameter \"\w+\" must be one of")


@dataclass
class Files:
    """Real things for locations to point at, and a folder under which outputDir values may go."""
    good: Path  # a short decodable WAV
    garbage: Path  # undecodable bytes
    zero: Path  # a WAV of 0 samples
    folder: Path
    out_root: Path  # every outputDir drawn lies under it; holds a file `file.txt`
    closed_port: int  # nothing listens there


def locations(f: Files) -> st.SearchStrategy[object]:
    good = f.good.as_uri()
    return st.one_of(
        st.sampled_from([good, good, f.garbage.as_uri(), f.zero.as_uri(), f.folder.as_uri(), str(f.good),
                         f.good.name, "file:///nonexistent/x.wav", "file://", "file:///", "",
                         f"http://127.0.0.1:{f.closed_port}/x.wav", "https://127.0.0.1:1/y.mp3", "ftp://h/x.wav",
                         "s3://bucket/key.wav", "data:audio/wav;base64,AAAA", "file:///etc/hostname",
                         good + "?x=1", good + "#frag", good.replace("file://", "file://localhost"),
                         f"file://{f.folder}/../{f.folder.name}/../{f.good.parent.name}/{f.good.name}",
                         "file:///" + "x" * 5000, "file:///tmp/a\nb.wav", "file:///tmp/%00.wav"]),
        st.text(max_size=40).map(lambda t: "file:///" + t),
        st.integers(), st.none(), st.lists(st.just(good), max_size=2))


def junk_json() -> st.SearchStrategy[object]:
    return st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                        lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
                        max_leaves=8)


@st.composite
def documents(draw, f: Files) -> dict:
    props = {"id": draw(st.sampled_from(["d1", "d2", "d1", "", "../../x", "v_0:d1", "é [1]"]) | st.text(max_size=10)),
             "mime": draw(st.sampled_from(["audio/wav", "video/mp4", "audio", "", "text/plain"])),
             "location": draw(locations(f))}
    doc = {"@type": draw(st.sampled_from(DOC_TYPES[:3]) | st.sampled_from(DOC_TYPES)), "properties": props}
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):  # break a field, now and then
        target = draw(st.sampled_from(["@type", "properties", "id", "mime", "location"]))
        holder = doc if target in ("@type", "properties") else props
        if draw(st.booleans()):
            holder.pop(target, None)
        else:
            holder[target] = draw(junk_json())
    return doc


@st.composite
def mmif_bodies(draw, f: Files) -> str | bytes:
    kind = draw(st.sampled_from(["mmif"] * 6 + ["envelope"] * 2 + ["json", "text", "bytes"]))
    if kind == "text":
        return draw(st.text(max_size=200))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return json.dumps(draw(junk_json()))
    m = {"metadata": {"mmif": draw(st.sampled_from(["http://mmif.clams.ai/1.2.0"] * 4 + [
             "http://mmif.clams.ai/1.0.0", "http://mmif.clams.ai/9.9.9", "1.2.0", ""]))},
         "documents": draw(st.lists(documents(f), max_size=3)), "views": []}
    if draw(st.integers(0, 9)) == 0:
        m[draw(st.sampled_from(["metadata", "documents", "views"]))] = draw(junk_json())
    text = json.dumps(m) if kind == "mmif" else json.dumps({"parameters": draw(parameters(f)), "mmif": m})
    if draw(st.integers(0, 19)) == 0:
        text = text[:draw(st.integers(0, len(text)))]  # truncated
    return text


@st.composite
def parameters(draw, f: Files) -> dict[str, list[str]]:
    names = draw(st.lists(st.sampled_from(PARAMETERS) | st.text(max_size=8), max_size=4))
    params = {n: draw(st.lists(st.sampled_from(VALUES) | st.text(max_size=12), min_size=1, max_size=2))
              for n in names}
    if "outputDir" in params or "separate" in params:
        # never a folder outside out_root: relative, empty (the deployment default) and absolute
        # paths elsewhere are left out on purpose; names are awkward, or the parent is a file
        sub = draw(st.sampled_from(["out", "ü [1] (x) y", "a/b/c", "file.txt/sub", "file.txt"]) | st.text(
            alphabet=st.characters(exclude_characters="/\x00", exclude_categories=("Cs",)), min_size=1, max_size=12).filter(lambda s: s not in (".", "..")))
        params["outputDir"] = [str(f.out_root / sub)]
    return params


@dataclass
class Outcome:
    kind: str  # ok | invalid-input | error-view | crash
    detail: str


def send(url: str, body: str | bytes, params: dict[str, list[str]], timeout: float = 120) -> tuple[int, str, str]:
    """POST `body` with `params` as a (repeated-key) query string; (status, content type, text)."""
    query = urllib.parse.urlencode(params, doseq=True)
    req = urllib.request.Request(url + ("?" + query if query else ""), method="POST",
                                 data=body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def classify(status: int, ctype: str, text: str) -> Outcome:
    """Which part of the error contract a response meets, or `crash` if none."""
    from mmif import Mmif
    if status == 500 and ctype.startswith("text/plain") and text.startswith("Invalid input data"):
        return Outcome("invalid-input", text.splitlines()[2][:80] if text.count("\n") >= 2 else "")
    if status not in (200, 500) or not ctype.startswith("application/json"):
        return Outcome("crash", f"HTTP {status} {ctype}: {text[:300]}")
    try:
        m = Mmif(text)
    except Exception as e:  # noqa: BLE001 - any reason the output is not MMIF is a crash
        return Outcome("crash", f"HTTP {status}, output is not valid MMIF: {e!s:.300}")
    errors = [v.metadata.error.message for v in m.views if v.has_error()]
    for message in errors:
        planned = any(f".{name}'>" in message for name in PLANNED_ERRORS) or SDK_PARAMETER_ERROR.match(message)
        if not planned:
            return Outcome("crash", f"HTTP {status}, unplanned error: {message[:300]}")
    if status == 500:
        return Outcome("error-view", errors[0].split(":", 1)[0]) if errors else Outcome("crash", "500 without error view")
    return Outcome("ok", f"{len(errors)} document error(s)" if errors else "")
