"""brandeis-acs 1.11 with its MUSAN-trained default model (bacs/defmodel), its own pipeline:
feature.spectral_feats (40 MFCC / 10 ms) -> model.predict + argmax (0 = speech) ->
smoothing.smooth -> writer.index_frames. Needs TF_USE_LEGACY_KERAS=1 (set here)."""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
import _common  # noqa: E402,F401  (single-thread env before TF loads)
import numpy as np  # noqa: E402

from _common import SR, decode, parse_args, run_files  # noqa: E402


def main():
    args = parse_args(__doc__)
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from bacs import classifier, feature, smoothing, writer
    model = classifier.load_model()  # bacs.defmodel_path

    def process(path):
        audio = decode(path)
        feats = feature.spectral_feats(audio, feature.FRAME_SIZE, SR, feature.MFCC_NUM, feature.ZCR)
        pred = np.argmax(model.predict(feats, verbose=0), axis=1)
        smoothed = smoothing.smooth(pred)
        portions, _ = writer.index_frames(smoothed)
        prec = writer.PRECISION
        return [[s / prec, e / prec] for s, e in portions.items()], None

    run_files(args.inputs, args.out, process)


if __name__ == "__main__":
    main()
