"""metadata.py: valid against the SDK schema, the declared I/O, defaults from the engine, README table."""
from __future__ import annotations

import json
import subprocess

import jsonschema
from clams.appmetadata import AppMetadata

from conftest import PYTHON, ROOT


def metadata_json() -> dict:
    p = subprocess.run([PYTHON, "metadata.py"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_metadata_validates_against_the_sdk_schema():
    md = metadata_json()
    jsonschema.validate(md, AppMetadata.model_json_schema(by_alias=True))
    assert md["app_license"] == "Apache 2.0"
    assert md["identifier"].startswith("http://apps.clams.ai/speech-segmenter/")
    assert "speech-segmentation" in md["app_tags"]


def test_inputs_and_outputs():
    md = metadata_json()
    (oneof,) = md["input"]
    assert [i["@type"].split("/")[-2] for i in oneof] == ["AudioDocument", "VideoDocument"]
    out = {o["@type"].split("/")[-2]: o.get("properties", {}) for o in md["output"]}
    assert set(out) == {"TimeFrame", "AudioDocument", "Alignment"}
    assert out["TimeFrame"]["timeUnit"] == "milliseconds"
    assert {"speech", "music", "noise", "silence", "non-speech"} == set(out["TimeFrame"]["labelset"])
    assert out["AudioDocument"]["mime"] == "audio/wav"


def test_parameters_and_engine_defaults():
    from segmenter.segments import SmoothingParams
    params = {p["name"]: p for p in metadata_json()["parameters"]}
    d = SmoothingParams()
    for name, field in [("threshold", "threshold"), ("minSpeech", "min_speech"), ("minGap", "min_gap"),
                        ("padding", "padding")]:
        assert params[name]["type"] == "number" and params[name]["default"] == getattr(d, field)
    assert params["labels"]["choices"] == ["fine", "binary"] and params["labels"]["default"] == "fine"
    for name in ("separate", "speechOnly"):
        assert params[name]["type"] == "boolean" and params[name]["default"] is False
    assert params["outputDir"]["type"] == "string" and params["outputDir"]["default"] == ""
    # universal parameters are added by the SDK, not redeclared
    assert {"pretty", "runningTime", "hwFetch", "tfSamplingMode"} <= set(params)


def test_readme_parameter_table_is_generated_from_metadata():
    p = subprocess.run([PYTHON, "metadata.py", "--markdown"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() in (ROOT / "README.md").read_text(), \
        "README's parameter table is stale: paste the output of `python metadata.py --markdown`"
