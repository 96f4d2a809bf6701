#!/usr/bin/env bash
# Every benchmark in order, all systems in the same run. Needs the dev corpus
# (python3 ../shared/corpus/build.py -> ~/.cache/speech-corpus/dev, or SPEECH_CORPUS=DIR).
# Results: benchmarks/out/{seg_quality,seg_speed,sep_quality}.{md,json}
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
PY="${MAIN_PYTHON:-$REPO/.venv/bin/python}"
[ -x "$PY" ] || PY=python3
CORPUS="${SPEECH_CORPUS:-$HOME/.cache/speech-corpus/dev}"
if [ ! -f "$CORPUS/long/long.mp3" ] || [ ! -f "$CORPUS/sep/index.json" ]; then
  echo "dev corpus missing in $CORPUS: run python3 $REPO/../shared/corpus/build.py" >&2; exit 1
fi
"$HERE/setup_comparisons.sh"
cd "$REPO"
"$PY" "$HERE/seg_quality.py" --corpus "$CORPUS"
"$PY" "$HERE/seg_speed.py" --corpus "$CORPUS"
"$PY" "$HERE/sep_quality.py" --corpus "$CORPUS"
cat "$HERE"/out/seg_quality.md "$HERE"/out/seg_speed.md "$HERE"/out/sep_quality.md
