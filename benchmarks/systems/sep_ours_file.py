"""Our separator on one (long) medium, cold process: Separator.load().separate(MEDIA, OUT_WAV).
Used by sep_quality.py for the speed / memory figures on the dev 1-hour file (main venv)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root
import _common  # noqa: E402,F401


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: sep_ours_file.py MEDIA OUT_WAV")
    from segmenter.separation import Separator
    Separator.load().separate(sys.argv[1], sys.argv[2])


if __name__ == "__main__":
    main()
