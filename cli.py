#!/usr/bin/env python3
"""
The command line interface of the app, following the CLAMS SDK convention:

    python cli.py [--param value ...] [IN.mmif [OUT.mmif]]     (stdin / stdout when omitted)

Parameters are generated from metadata.py. An invalid input MMIF prints "Invalid input data"
and exits 1; an error while annotating writes an error-view MMIF and exits 1. When only some
documents fail, the output holds their error views and the others' results, and the exit
status is PARTIAL_FAILURE_EXIT.

`segments_table(mmif_text)` renders this app's TimeFrames as a readable table (used by
`make demo`).

DO NOT CHANGE the name of the file
"""

import argparse
import json
import sys
from contextlib import redirect_stdout

import jsonschema

import app

import clams.app
from clams import AppMetadata
from clams.envelop import EnvelopeError, unwrap_if_envelope

PARTIAL_FAILURE_EXIT = 3  # some documents failed; the output holds the others' results


def metadata_to_argparser(app_metadata: AppMetadata) -> argparse.ArgumentParser:
    """
    Automatically generate an argparse.ArgumentParser from parameters specified in the app metadata (metadata.py).
    """

    parser = argparse.ArgumentParser(
        description=f"{app_metadata.name}: {app_metadata.description} (visit {app_metadata.url} for more info)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_parameter_arguments(parser, app_metadata)
    parser.add_argument('IN_MMIF_FILE', nargs='?', type=argparse.FileType('r'),
                        help='input MMIF file path, or STDIN if `-` or not provided. NOTE: When running this cli.py in '
                             'a containerized environment, make sure the container is run with `-i` flag to keep stdin '
                             'open.',
                        # will check if stdin is a keyboard, and return None if it is
                        default=None if sys.stdin.isatty() else sys.stdin)
    parser.add_argument('OUT_MMIF_FILE', nargs='?', type=argparse.FileType('w'),
                        help='output MMIF file path, or STDOUT if `-` or not provided. NOTE: When this is set to '
                             'STDOUT, any print statements in the app code will be redirected to stderr.',
                        default=sys.stdout)
    return parser


def add_parameter_arguments(parser: argparse.ArgumentParser, app_metadata: AppMetadata) -> None:
    """One --option per app parameter (shared with batch.py, so both CLIs read the metadata alone)."""
    for parameter in app_metadata.parameters:
        if parameter.multivalued:
            a = parser.add_argument(
                f"--{parameter.name}",
                help=parameter.description,
                nargs='+',
                action='extend',
                type=str
            )
        else:
            a = parser.add_argument(
                f"--{parameter.name}",
                help=parameter.description,
                nargs=1,
                action="store",
                type=str)
        if parameter.choices is not None:
            a.choices = parameter.choices
        if parameter.default is not None:
            a.help += f" (default: {parameter.default}"
            if parameter.type == "boolean":
                a.help += (f", any value except for {[v for v in clams.app.falsy_values if isinstance(v, str)]} "
                           f"will be interpreted as True")
            a.help += ')'
            # then we don't have to add default values to the arg_parser
            # since that's handled by the app._refined_params() method.


def runtime_params(args: argparse.Namespace, app_metadata: AppMetadata) -> dict[str, list[str]]:
    """The given app parameters as the HTTP server passes them: every value wrapped in a list.

    The flask webapp passes parameters as an "unflattened" dict to handle multivalued parameters
    (https://werkzeug.palletsprojects.com/en/latest/datastructures/#werkzeug.datastructures.MultiDict.to_dict).
    """
    params = {}
    for parameter in app_metadata.parameters:
        pvalue = getattr(args, parameter.name, None)
        if pvalue is not None:
            params[parameter.name] = pvalue if isinstance(pvalue, list) else [pvalue]
    return params


def segments_table(mmif_text: str) -> str:
    """This app's TimeFrames in an output MMIF as a plain-text table, one block per document."""
    from mmif import AnnotationTypes, Mmif
    import metadata
    lines = []
    for view in Mmif(mmif_text).views:
        if metadata.APP_TAG not in (view.metadata.get("appTags") or []):
            continue
        if view.has_error():
            lines.append(f"{view.id}: ERROR {view.get_error()}")
            continue
        if view.has_warnings():
            lines.append(f"{view.id}: WARNING {view.metadata.warnings}")
        tfs = list(view.get_annotations(AnnotationTypes.TimeFrame))
        if not tfs:
            continue
        doc = view.metadata.contains[AnnotationTypes.TimeFrame]["document"]
        lines.append(f"document {doc} (view {view.id}), {len(tfs)} segments")
        lines.append(f"  {'start':>10}  {'end':>10}  {'label':<10}  scores")
        for a in tfs:
            cls = a.get("classification")
            scores = "  ".join(f"{k}={v:.2f}" for k, v in cls.items())
            lines.append(f"  {_clock(a.get('start')):>10}  {_clock(a.get('end')):>10}  {a.get('label'):<10}  {scores}")
        for d in view.get_documents():
            lines.append(f"  separated track: {d.location}")
    return "\n".join(lines)


def failed_documents(in_data: str, out_mmif: str) -> list[str]:
    """Ids of the documents that got an error view in this run (a view new in the output).

    Reads the JSON directly: the output was validated when it was serialised, and deserialising a
    long programme's MMIF again would cost more than segmenting it."""
    source = unwrap_if_envelope(in_data, {})[0]
    source = json.loads(source) if isinstance(source, (str, bytes)) else source
    before = {v["id"] for v in source.get("views", [])}
    return [v["metadata"].get("document") for v in json.loads(out_mmif)["views"]
            if v["id"] not in before and v["metadata"].get("error")]


def _clock(ms: int) -> str:
    m, s = divmod(ms / 1000, 60)
    return f"{int(m)}:{s:06.3f}"


if __name__ == "__main__":
    clamsapp = app.get_app()
    arg_parser = metadata_to_argparser(app_metadata=clamsapp.metadata)
    args = arg_parser.parse_args()
    if args.IN_MMIF_FILE:
        in_data = args.IN_MMIF_FILE.read()
        params = runtime_params(args, clamsapp.metadata)
        # Mirror the HTTP server's error handling (see clams.restify): an invalid
        # input is reported and exits non-zero, while an app-level failure is
        # recorded as an error view instead of crashing with a raw traceback.
        try:
            if args.OUT_MMIF_FILE.name == '<stdout>':
                with redirect_stdout(sys.stderr):
                    out_mmif = clamsapp.annotate(in_data, **params)
            else:
                out_mmif = clamsapp.annotate(in_data, **params)
        except (jsonschema.exceptions.ValidationError, json.JSONDecodeError, EnvelopeError) as e:
            detail = e.message if isinstance(e, jsonschema.exceptions.ValidationError) else str(e)
            print(f"Invalid input data. See below for validation error.\n\n{detail}", file=sys.stderr)
            sys.exit(1)
        except Exception:
            clamsapp.logger.exception("Error in annotation")
            out_mmif = clamsapp.record_error(in_data, **params).serialize(pretty=True)
            args.OUT_MMIF_FILE.write(out_mmif)
            sys.exit(1)
        args.OUT_MMIF_FILE.write(out_mmif)
        failed = failed_documents(in_data, out_mmif)
        if failed:
            print(f"{len(failed)} document(s) failed, see their error views: {', '.join(failed)}", file=sys.stderr)
            sys.exit(PARTIAL_FAILURE_EXIT)
    else:
        arg_parser.print_help()
        sys.exit(1)
