"""
Speech Segmenter: a CLAMS app over the `segmenter` engine.

For each AudioDocument and VideoDocument it adds one view holding TimeFrames (integer
milliseconds, end exclusive) that tile the medium from 0 to its duration, labelled speech /
music / noise / silence (or speech / non-speech), each with a `classification` of scores.
With `separate=true` the view also holds the separated speech track as a new AudioDocument
and an Alignment from the source to it. A document whose medium cannot be used gets a view
holding only the SDK's error structure instead, and the request fails only if every document does.

This file is a thin adapter: all signal processing lives in `segmenter/`, which never imports
clams. The models are loaded once before gunicorn forks its workers: the segmenter in `__init__`,
the separator by the server's `preload_separator` (a command-line run loads it only to separate);
the engine runs NumPy inference, so nothing depends on TensorFlow surviving a fork.
"""

import argparse
import json
import logging
import os
import shutil
import tempfile
import traceback
from pathlib import Path
from typing import Optional
from urllib.parse import unquote, urlparse
from urllib.request import urlopen

import jsonschema
import numpy as np
from clams import ClamsApp, Restifier
from clams.envelop import unwrap_if_envelope
from flask import Response, request
from mmif import AnnotationTypes, Document, DocumentTypes, Mmif, View
from mmif.vocabulary import ThingTypesBase

import metadata as app_metadata

from segmenter.asr_track import AsrTrack
from segmenter.media import SAMPLE_RATE, MediaError
from segmenter.output_paths import OutputDirError, derived_path, prepare_output_dir
from segmenter.pipeline import Segmenter
from segmenter.segments import BINARY_LABELS, LABELS, ParameterValueError, Segmentation, SmoothingParams
from segmenter.separation import Separator, segment_and_separate



REMOTE = ("http", "https")  # location schemes the app downloads
DOWNLOAD_TIMEOUT = 60  # seconds a server may stay silent before its document fails


class DocumentMediaError(RuntimeError):
    """A document's medium could not be used: names the document id, the path and the reason."""


class ParameterError(ValueError):
    """A parameter value is out of range: names the parameter."""


class SeparationUnavailableError(RuntimeError):
    """separate=true but the separation model is not installed."""


def to_ms(seconds: float) -> int:
    """The one rounding rule for all boundaries: to the nearest millisecond, halves up."""
    return int(seconds * 1000 + 0.5)


def frames_ms(segments, duration: float) -> list[tuple[int, int, object]]:
    """(start_ms, end_ms, segment) tiling [0, round(duration ms)) without gaps or overlaps.

    Every boundary is converted once, so adjacent frames share it; frames that round to
    nothing are dropped (their neighbour absorbs them).
    """
    end_ms = to_ms(duration)
    bounds = [0] + [min(max(to_ms(s.start), 0), end_ms) for s in segments[1:]] + [end_ms]
    out = []
    for i, seg in enumerate(segments):
        a, b = bounds[i], bounds[i + 1]
        if b > a:  # bounds never decrease and start at 0, so the kept frames tile exactly
            out.append((a, b, seg))
    return out


class SpeechSegmenter(ClamsApp):

    def __init__(self):
        super().__init__()
        self.segmenter = Segmenter.load()
        self._separator = None  # loaded by the first separate=true request, or by preload_separator

    def preload_separator(self) -> None:
        """Load the separator and run it once, if it is installed: the server does this before
        gunicorn forks (a command-line run that does not separate never pays for it).

        The run imports whatever the separator imports lazily. A worker that imported it itself
        could be exiting already (it is recycled after one request while its second thread still
        works), and the import then fails: "can't register atexit after shutdown", an HTTP 500
        (benchmarks/reliability.py, load part)."""
        try:
            self._separator = Separator.load()
        except FileNotFoundError as e:
            self.logger.info("separation unavailable until its model is installed: %s", e)
        else:
            self._separator.separate_audio(np.zeros(SAMPLE_RATE, np.float32))

    def _appmetadata(self):
        # metadata.py next to this file provides the metadata
        pass

    def annotate(self, mmif, **runtime_params) -> str:
        """The SDK's annotate, except that an input which passes the MMIF schema but still cannot
        be read (a `location` of null, say) is refused as invalid input, like a schema failure.
        The SDK would fail again inside its own error handler and answer a bare HTTP 500."""
        if not isinstance(mmif, Mmif):
            mmif, runtime_params = unwrap_if_envelope(mmif, runtime_params)
            try:
                mmif = Mmif(mmif)
            except (jsonschema.ValidationError, json.JSONDecodeError):
                raise
            except Exception as e:
                raise jsonschema.ValidationError(f"the MMIF cannot be read: {type(e).__name__}: {e}") from None
        return super().annotate(mmif, **runtime_params)

    # -- parameters ---------------------------------------------------------------------

    def _refine_params(self, **runtime_params):
        """The SDK's refinement, but a value that cannot be cast names its parameter
        (the SDK's own message is just "could not convert string to float: 'abc'")."""
        try:
            return super()._refine_params(**runtime_params)
        except ValueError as e:
            for name, values in runtime_params.items():
                if name in self.annotate_param_spec:
                    try:
                        self.annotate_param_caster.cast({name: values})
                    except ValueError:
                        raise ParameterError(f"invalid value for parameter '{name}' ({values}): {e}") from None
            raise

    @staticmethod
    def smoothing_params(parameters: dict) -> SmoothingParams:
        values = {}
        for name, field in app_metadata.SMOOTHING_PARAMS.items():
            if parameters.get(name) is not None:
                values[field] = float(parameters[name])
        try:
            return SmoothingParams().with_values(**values)
        except ParameterValueError as e:
            name = next(n for n, f in app_metadata.SMOOTHING_PARAMS.items() if f == e.field)
            raise ParameterError(f"invalid value for parameter '{name}': {e}") from None

    @staticmethod
    def asr_track(parameters: dict) -> AsrTrack:
        """The speechOnly track's limits on the mask, from attenuationLimit and mixBack."""
        values = {field: float(parameters[name]) for name, field in app_metadata.ASR_TRACK_PARAMS.items()
                  if parameters.get(name) is not None}
        try:
            return AsrTrack(**values).validate()
        except ParameterValueError as e:
            name = next(n for n, f in app_metadata.ASR_TRACK_PARAMS.items() if f == e.field)
            raise ParameterError(f"invalid value for parameter '{name}': {e}") from None

    @property
    def separator(self):
        if self._separator is None:
            try:
                self._separator = Separator.load()
            except FileNotFoundError as e:
                raise SeparationUnavailableError(f"separate=true, but the separation model is missing: {e}")
        return self._separator

    # -- annotation ---------------------------------------------------------------------

    def _annotate(self, mmif: Mmif, **parameters) -> Mmif:
        with tempfile.TemporaryDirectory(prefix="speech-segmenter-downloads-") as downloads:
            return self._annotate_with(Path(downloads), mmif, **parameters)

    def _annotate_with(self, downloads: Path, mmif: Mmif, **parameters) -> Mmif:
        """`_annotate`, with `downloads` as the folder for http(s) media (removed afterwards)."""
        params = self.smoothing_params(parameters)
        fine = parameters.get("labels", "fine") != "binary"
        separate = bool(parameters.get("separate", False))
        speech_only = bool(parameters.get("speechOnly", False))
        asr = self.asr_track(parameters)
        out_dir: Optional[Path] = None
        if separate:
            separator = self.separator
            requested = parameters.get("outputDir") or app_metadata.output_dir_default()
            try:
                out_dir = prepare_output_dir(requested)
            except OutputDirError as e:
                raise OutputDirError(f"parameter 'outputDir': {e}") from None
        docs = (mmif.get_documents_by_type(DocumentTypes.AudioDocument)
                + mmif.get_documents_by_type(DocumentTypes.VideoDocument))
        # One document's unusable medium costs only that document: it gets an error view, the
        # others their results. Only when every document fails does the request fail (HTTP 500).
        failed: dict[str, DocumentMediaError] = {}
        paths: dict[str, str] = {}
        for doc in docs:  # every location resolved once, before anything is written (http is fetched)
            try:
                paths[doc.id] = self._path(doc, downloads)
            except DocumentMediaError as e:
                failed[doc.id] = e
        results: dict[str, tuple[Segmentation, Optional[Path]]] = {}
        for doc in docs:
            if doc.id in failed:
                continue
            path = paths[doc.id]
            remote = doc.location_scheme() in REMOTE  # named after its URL, not its download
            try:
                if separate:
                    named_after = unquote(doc.location) if remote else path
                    out = derived_path(out_dir, named_after, self._track_options(separator, params, speech_only, asr),
                                       inputs=paths.values())
                    results[doc.id] = self._segment_and_separate(path, out, separator, params, speech_only, asr)
                else:
                    results[doc.id] = self.segmenter.segment(path, params), None
            except MediaError as e:
                failed[doc.id] = DocumentMediaError(f"document {doc.id} ({doc.location if remote else e.path}): "
                                                    f"{e.reason}").with_traceback(e.__traceback__)
        if docs and len(failed) == len(docs):
            raise DocumentMediaError("; ".join(str(failed[d.id]) for d in docs))
        for doc in docs:
            view = mmif.new_view()
            self.sign_view(view, parameters)
            if doc.id in failed:
                self._set_document_error(view, doc, failed[doc.id])
                continue
            seg, track = results[doc.id]
            self._add_timeframes(view, doc, seg, fine, separate)
            if track is not None:
                self._add_separated(view, doc, track)
        return mmif

    @staticmethod
    def _set_document_error(view: View, doc: Document, error: Exception) -> None:
        """The error structure the SDK gives a failed request (ClamsApp.set_error_view), on this
        document's own view; `metadata.document` names the document for readers of the JSON."""
        view.metadata.document = doc.id
        view.set_error(f"{type(error)}: {error}", "\t\n".join(traceback.format_tb(error.__traceback__)))

    @staticmethod
    def _path(doc: Document, downloads: Path) -> str:
        """The local file of a document; an http(s) one is downloaded into `downloads` (the SDK's
        http plug-in would keep every download in the temp folder for good)."""
        if not doc.location:
            raise DocumentMediaError(f"document {doc.id} (no location): the document has no location")
        try:
            if doc.location_scheme() in REMOTE:
                fd, path = tempfile.mkstemp(dir=downloads, suffix=Path(urlparse(doc.location).path).suffix[:16])
                with os.fdopen(fd, "wb") as f, urlopen(doc.location, timeout=DOWNLOAD_TIMEOUT) as r:
                    shutil.copyfileobj(r, f)
                return path
            path = doc.location_path(nonexist_ok=True)
        except Exception as e:
            raise DocumentMediaError(f"document {doc.id} ({doc.location}): cannot resolve location ({e})") from None
        # mmif-python reads `file:///a b.wav` (as `clams source` writes it) but not the
        # percent-encoded `file:///a%20b.wav` (as pathlib writes it): accept both
        if not os.path.exists(path) and os.path.exists(unquote(path)):
            return unquote(path)
        return path

    def _add_timeframes(self, view: View, doc: Document, seg: Segmentation, fine: bool,
                        separate: bool = False) -> None:
        """Add the TimeFrames, or for a zero-length medium a warning on the view."""
        labelset = list(LABELS if fine else BINARY_LABELS)
        segments = seg.segments if fine else seg.binary()
        frames = frames_ms(segments, seg.duration) if segments else []
        if not frames:
            # The SDK deletes views without annotations; a warning keeps the view, so the
            # output says explicitly which document was empty. Such a view can hold nothing
            # else (MMIF: a view has contains, or warnings, or an error), so no separated track.
            also = " and no separated track" if separate else ""
            view.metadata.warnings = [UserWarning(
                f"document {doc.id}: the medium has no audio samples (zero length); no TimeFrames{also}")]
            return
        # One instance of the type for the contain and every frame: mmif-python compares the
        # vocabulary class by constructing an instance of it: six times per frame, now once.
        time_frame = ThingTypesBase.from_str(str(AnnotationTypes.TimeFrame))
        view.new_contain(time_frame, document=doc.id, timeUnit="milliseconds", labelset=labelset)
        for start, end, s in frames:
            view.new_annotation(time_frame, start=start, end=end, label=s.label,
                                classification={k: float(s.scores[k]) for k in labelset})

    @staticmethod
    def _track_options(separator, params: SmoothingParams, speech_only: bool, asr: AsrTrack) -> dict:
        """What the separated track depends on, besides its source: the part of its file name
        that keeps different requests' tracks apart."""
        options = {"kind": "separated", "speechOnly": speech_only,
                   "model": str(getattr(separator, "model_dir", "separator"))}
        if speech_only:
            options["smoothing"] = {k: getattr(params, k) for k in SmoothingParams.names()}
            options["asrTrack"] = {k: getattr(asr, k) for k in AsrTrack.names()}
        return options

    def _segment_and_separate(self, path: str, out: Path, separator, params: SmoothingParams,
                              speech_only: bool, asr: AsrTrack) -> tuple[Segmentation, Optional[Path]]:
        try:  # the engine writes atomically: concurrent identical requests never see a partial file
            return segment_and_separate(self.segmenter, separator, path, out, params, speech_only, asr)
        except MediaError:  # the medium's fault, not outputDir's (a missing file is an OSError too)
            raise
        except OSError as e:
            raise OutputDirError(f"parameter 'outputDir': cannot write {out}: {e.strerror or e}") from None

    @staticmethod
    def _add_separated(view: View, doc: Document, out: Path) -> None:
        d = Document()
        d.at_type = DocumentTypes.AudioDocument
        d.id = "sep1"
        d.location = f"file://{out}"  # not percent-encoded: mmif-python readers would not decode it
        d.properties.mime = "audio/wav"
        view.add_document(d)
        d.add_property("origins", [doc.id])
        d.add_property("origination", "derived")
        view.new_annotation(AnnotationTypes.Alignment, source=doc.id, target=d.id)


def get_app():
    return SpeechSegmenter()


def refuse_undecodable_body() -> Optional[Response]:
    """A request body that is not UTF-8 gets the SDK's answer to invalid input (the SDK's own
    decode happens outside its error handling and would give a bare HTTP 500)."""
    try:
        request.get_data().decode("utf-8")
    except UnicodeDecodeError as e:
        return Response(f"Invalid input data. See below for validation error.\n\nthe body is not UTF-8: {e}",
                        status=500, mimetype="text/plain")
    return None


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", action="store", default="5000", help="set port to listen")
    parser.add_argument("--production", action="store_true", help="run gunicorn server")
    parser.add_argument("--host", default="0.0.0.0",
                        help="address to bind (default 0.0.0.0; use 127.0.0.1 for loopback only)")
    parsed_args = parser.parse_args()

    app = get_app()
    app.preload_separator()
    http_app = Restifier(app, port=int(parsed_args.port))
    http_app.flask_app.before_request(refuse_undecodable_body)
    http_app.host = parsed_args.host
    if parsed_args.production:
        http_app.serve_production()
    else:
        app.logger.setLevel(logging.DEBUG)
        http_app.run()
