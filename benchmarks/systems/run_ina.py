"""inaSpeechSegmenter 0.8.0, Segmenter() defaults (vad_engine='smn') with detect_gender=False
(same speech regions), using the keras models shipped in the 0.6.8 sdist (setup_comparisons.sh
puts them in benchmarks/.venvs/ina/models; the 0.8.0 loader would download them).
Labels: speech -> speech, music -> music, noise -> noise, noEnergy -> silence."""
import os
import sys
from pathlib import Path

import _common  # noqa: F401  (single-thread env before TF loads)
from _common import merge, parse_args, run_files

MODELS = Path(os.environ.get("INA_MODELS", Path(sys.prefix) / "models"))
LABELS = {"speech": "speech", "male": "speech", "female": "speech", "music": "music",
          "noise": "noise", "noEnergy": "silence"}


def main():
    args = parse_args(__doc__)
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import inaSpeechSegmenter.segmenter as iss

    def local_model(fname):
        p = MODELS / fname
        if not p.is_file():
            raise FileNotFoundError(f"{p} missing: run benchmarks/setup_comparisons.sh ina")
        return str(p)

    iss.get_remote = local_model  # the 0.8.0 loader, pointed at the 0.6.8 models
    seg = iss.Segmenter(vad_engine="smn", detect_gender=False)

    def process(path):
        segments = [[s, e, LABELS[lab]] for lab, s, e in seg(str(path))]  # decodes with ffmpeg 16 kHz mono
        return merge([[s, e] for s, e, lab in segments if lab == "speech"]), segments

    run_files(args.inputs, args.out, process)


if __name__ == "__main__":
    main()
