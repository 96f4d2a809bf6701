"""Our segmenter, in the main venv: segmenter.pipeline.Segmenter.load() (which takes
$SEGMENTER_MODEL, else the default in pretrained/).segment(path) -> speech() + the fine segments."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root
import _common  # noqa: E402,F401
from _common import parse_args, run_files  # noqa: E402


def main():
    args = parse_args(__doc__)
    from segmenter.pipeline import Segmenter
    seg = Segmenter.load()

    def process(path):
        s = seg.segment(path)
        return [list(x) for x in s.speech()], [[x.start, x.end, x.label] for x in s.segments]

    run_files(args.inputs, args.out, process)


if __name__ == "__main__":
    main()
