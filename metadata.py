"""
The metadata of the speech segmenter CLAMS app.

DO NOT CHANGE the name of the file (the SDK imports it as ``metadata``).

Parameter defaults and help text are read from the engine (``segmenter.segments.SmoothingParams``
and ``SMOOTHING_HELP``, ``segmenter.separation.SPEECH_ONLY_HELP``, ``segmenter.asr_track.AsrTrack``
and ``HELP``): the metadata describes, the engine defines.

``python metadata.py`` prints the JSON metadata (as the CLAMS App Directory expects);
``python metadata.py --markdown`` prints the parameter table used in README.md.
"""
import os
import sys
import tempfile
from pathlib import Path

from clams.app import ClamsApp
from clams.appmetadata import AppMetadata
from mmif import AnnotationTypes, DocumentTypes

from segmenter.asr_track import HELP as ASR_TRACK_HELP, AsrTrack
from segmenter.models import DEFAULT_SEGMENTER, DEFAULT_SEPARATOR, model_version
from segmenter.segments import BINARY_LABELS, LABELS, SMOOTHING_HELP, SmoothingParams
from segmenter.separation import SPEECH_ONLY_HELP

APP_NAME = "Speech Segmenter"
APP_IDENTIFIER = "speech-segmenter"
APP_TAG = "speech-segmentation"
OUTPUT_DIR_ENV = "SEGMENTER_OUTPUT_DIR"
# The deployment default when neither the request nor $SEGMENTER_OUTPUT_DIR names a folder.
DEFAULT_OUTPUT_DIR = str(Path(tempfile.gettempdir()) / "speech-segmenter")

# CLAMS parameter name -> SmoothingParams field
SMOOTHING_PARAMS = {
    "threshold": "threshold",
    "minSpeech": "min_speech",
    "minGap": "min_gap",
    "padding": "padding",
    "paddingFloor": "padding_floor",
}
# CLAMS parameter name -> AsrTrack field (the speechOnly track's limits on the mask)
ASR_TRACK_PARAMS = {
    "attenuationLimit": "attenuation_limit",
    "mixBack": "mix_back",
}


def output_dir_default() -> str:
    """Where separated tracks go when the request does not say: $SEGMENTER_OUTPUT_DIR, else a temp folder."""
    return os.environ.get(OUTPUT_DIR_ENV) or DEFAULT_OUTPUT_DIR


def _listed(labels: tuple[str, ...]) -> str:
    return f"{', '.join(labels[:-1])} and {labels[-1]}"


# DO NOT CHANGE the function name
def appmetadata() -> AppMetadata:
    defaults = SmoothingParams()
    metadata = AppMetadata(
        name=APP_NAME,
        description="Finds speech, music, noise and silence in audio and video (every Audio/VideoDocument), "
                    "as TimeFrames that tile each medium from start to end, so that an ASR step can take "
                    "only the speech. Optionally writes a separated speech track (a new AudioDocument, "
                    "optionally silenced outside speech) for the next app in the pipeline.",
        app_license="Apache 2.0",
        identifier=APP_IDENTIFIER,
        url="https://github.com/clamsproject/app-speech-segmenter",
        analyzer_versions={"segmenter": model_version(DEFAULT_SEGMENTER),
                           "separator": model_version(DEFAULT_SEPARATOR)},
        analyzer_license="Apache 2.0",
        est_gpu_mem_min=0,
        est_gpu_mem_typ=0,
    )
    metadata.add_app_tag(APP_TAG)
    metadata.add_input_oneof(DocumentTypes.AudioDocument, DocumentTypes.VideoDocument)
    metadata.add_output(AnnotationTypes.TimeFrame, timeUnit="milliseconds",
                        labelset=list(LABELS) + [l for l in BINARY_LABELS if l not in LABELS]).add_description(
        "One view per input document. TimeFrames tile the medium from 0 to its duration in integer "
        "milliseconds (start inclusive, end exclusive), each with a `label` and a `classification` "
        f"(label -> mean score). labelset is {list(LABELS)} with labels=fine, "
        f"{list(BINARY_LABELS)} with labels=binary.")
    metadata.add_output(DocumentTypes.AudioDocument, mime="audio/wav").add_description(
        "Only with separate=true: the separated speech as 16 kHz mono WAV, same duration and timeline as "
        "the source, at a file:// location under outputDir; origins=[source id], origination=derived.")
    metadata.add_output(AnnotationTypes.Alignment).add_description(
        "Only with separate=true: aligns the source document to its separated speech AudioDocument.")

    metadata.add_parameter(
        name="labels", type="string", choices=["fine", "binary"], default="fine",
        description=f"Label set of the TimeFrames: `fine` gives {_listed(LABELS)}; `binary` gives "
                    f"{_listed(BINARY_LABELS)} (adjacent non-speech merged).")
    for name, field in SMOOTHING_PARAMS.items():
        metadata.add_parameter(name=name, type="number", default=getattr(defaults, field),
                               description=SMOOTHING_HELP[field])
    metadata.add_parameter(
        name="separate", type="boolean", default=False,
        description="Also write the separated speech track of each document under outputDir and add it "
                    "to the view as an AudioDocument, aligned to its source.")
    metadata.add_parameter(
        name="speechOnly", type="boolean", default=False,
        description=f"With separate=true: {SPEECH_ONLY_HELP}")
    for name, field in ASR_TRACK_PARAMS.items():
        metadata.add_parameter(name=name, type="number", default=getattr(AsrTrack(), field),
                               description=f"With separate=true&speechOnly=true. {ASR_TRACK_HELP[field]}")
    metadata.add_parameter(
        name="outputDir", type="string", default="",
        description=f"Folder for separated tracks (created if missing). Empty means the deployment "
                    f"default: ${OUTPUT_DIR_ENV}, else `speech-segmenter` in the system temp folder "
                    f"(/tmp/speech-segmenter on Linux). In a pipeline, use a volume mounted at the same "
                    f"path in every container.")
    return metadata


def parameter_table(md: AppMetadata | None = None) -> str:
    """The README's parameter table (Markdown), generated from the metadata."""
    md = md or appmetadata()
    rows = ["| name | type | default | choices | description |", "|---|---|---|---|---|"]
    for p in md.parameters:
        default = "" if p.default is None else str(p.default)
        if isinstance(p.default, bool):
            default = default.lower()
        if p.default == "":
            default = '""'
        choices = ", ".join(f"`{c}`" for c in p.choices) if p.choices else ""
        rows.append(f"| `{p.name}` | {p.type} | `{default}` | {choices} | {p.description} |")
    return "\n".join(rows)


# DO NOT CHANGE the main block
if __name__ == "__main__":
    if "--markdown" in sys.argv[1:]:
        print(parameter_table())
        sys.exit(0)
    metadata = appmetadata()
    for param in ClamsApp.universal_parameters:
        metadata.add_parameter(**param)
    sys.stdout.write(metadata.jsonify(pretty=True))
