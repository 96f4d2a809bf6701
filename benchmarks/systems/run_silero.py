"""silero-vad 6.2.3, ONNX model (load_silero_vad(onnx=True)), get_speech_timestamps defaults
(threshold 0.5, min speech 250 ms, min silence 100 ms, pad 30 ms), sample positions / 16000."""
import _common  # noqa: F401  (single-thread env first)
import torch
from silero_vad import get_speech_timestamps, load_silero_vad

from _common import SR, decode, parse_args, run_files

torch.set_num_threads(1)
torch.set_num_interop_threads(1)


def main():
    args = parse_args(__doc__)
    model = load_silero_vad(onnx=True)

    def process(path):
        wav = torch.from_numpy(decode(path).copy())
        ts = get_speech_timestamps(wav, model, sampling_rate=SR)  # defaults; samples
        return [[t["start"] / SR, t["end"] / SR] for t in ts], None

    run_files(args.inputs, args.out, process)


if __name__ == "__main__":
    main()
