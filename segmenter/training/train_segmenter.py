"""Train the 4-class frame classifier: `python -m segmenter train`."""
from __future__ import annotations

import numpy as np

from ..features import N_MELS, log_mel
from ..network import NumpyNet, tcn
from ..pipeline import DEFAULT_SEGMENTER, PRETRAINED
from ..segments import LABELS
from .common import fit, make_dataset, parse_args, prepare, training_config, write_card
from .mixing import programme

SPEC = tcn(N_MELS, 64, (2, 4, 8, 16, 32), len(LABELS), "softmax", stride=2)
# Per-class loss weights: silence is easy; the rest weigh the same (a heavier speech weight
# made the model call sung music speech).
CLASS_WEIGHTS = np.array([1.0, 1.0, 1.0, 0.7], np.float32)


def batch(pools, rng: np.random.Generator, size: int, seconds: float):
    xs, ys = [], []
    for _ in range(size):
        audio, labels = programme(pools, seconds, rng)
        xs.append(log_mel(audio))
        ys.append(labels)
    y = np.stack(ys).astype(np.int32)
    x = np.stack(xs)
    return x.reshape(size, -1, SPEC.stride * N_MELS), y, CLASS_WEIGHTS[y]


def evaluate(net: NumpyNet, pools, n: int, seconds: float, seed: int) -> dict[str, float]:
    """Frame accuracy and speech precision/recall/F1 on mixtures of held-out clips."""
    rng = np.random.default_rng([seed, 999])
    tp = fp = fn = correct = total = 0
    for _ in range(n):
        audio, labels = programme(pools, seconds, rng)
        pred = net.forward(log_mel(audio)).argmax(axis=1)
        correct += int(np.sum(pred == labels))
        total += len(labels)
        tp += int(np.sum((pred == 0) & (labels == 0)))
        fp += int(np.sum((pred == 0) & (labels != 0)))
        fn += int(np.sum((pred != 0) & (labels == 0)))
    p, r = tp / max(1, tp + fp), tp / max(1, tp + fn)
    return {"heldout_frame_accuracy_4class": correct / total, "heldout_speech_precision": p,
            "heldout_speech_recall": r, "heldout_speech_f1": 2 * p * r / max(1e-9, p + r),
            "heldout_examples": n}


def main(argv: list[str] | None = None) -> None:
    args = parse_args("python -m segmenter train", __doc__, PRETRAINED / DEFAULT_SEGMENTER, argv, epochs=16, steps=200, batch=32, seconds=8.0, lr=2e-3)
    train_pools, val_pools = prepare(args, "segmentation")
    data = make_dataset(lambda rng: batch(train_pools, rng, args.batch, args.seconds), args.steps, args.seed)
    import keras
    fit(SPEC, "sparse_categorical_crossentropy", data, args.epochs, args.steps, args.lr, args.out, init=args.init)
    metrics = evaluate(NumpyNet.load(args.out / "weights.npz"), val_pools, 300, args.seconds, args.seed)
    print(metrics)
    config = {"task": "segmentation", "labels": list(LABELS), "seed": args.seed, "keras": keras.__version__,
              "features": {"type": "log-mel", "sample_rate": 16000, "n_fft": 400, "hop": 160,
                           "n_mels": N_MELS, "fmin": 50, "fmax": 8000,
                           "scaling": "(10*log10(mel+1e-10)+40)/20"},
              "network": SPEC.to_json(), "receptive_field_frames": 2 * SPEC.context + 1,
              "training": training_config(args)}
    write_card(args.out, "segmenter-v1: speech / music / noise / silence frame classifier", config, metrics,
               """A dilated 1-D convolutional network over 64 log-mel energies every 10 ms (25 ms windows).
Pairs of frames are stacked into 20 ms steps; six convolutions (64 channels, kernel 3, dilations
1-32, residual) see 1.27 s either side; a softmax per step gives P(speech), P(music), P(noise),
P(silence), repeated for both 10 ms frames of the step. About 90 k parameters.

Training examples are 8-second mini-programmes mixed on the fly from real recordings: 1-3 blocks of
clean speech, speech over music / sung music / noise (SNR -5 to 25 dB), music, music with sung
lines (pitch-shifted and time-stretched copies of the few sung lines allowed), noise (including
laughs, coughs and screams) or silence (a real ambience at -75 to -58 dBFS, or nothing), levels -40 to -12 dBFS, a
pink noise floor, 25 % telephone-band speech and 15 % low-passed programmes. Speech is labelled where
it is present (pauses under 300 ms bridged), singing is music. Classes are weighted 1/1/1/0.7.""",
               ("speech", "music", "sung", "noise"))
