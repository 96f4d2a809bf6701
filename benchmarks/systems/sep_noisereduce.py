"""noisereduce 3.0.3: reduce_noise(y, sr) with its defaults (non-stationary, n_jobs=1)."""
import time

import _common  # noqa: F401
import noisereduce as nr

from _common import SR, read_wav16, parse_sep_args, run_separation, write_wav_f32


def main():
    args = parse_sep_args(__doc__)

    def separate(mix, item, out_wav):
        y = read_wav16(mix)
        t0 = time.perf_counter()
        est = nr.reduce_noise(y=y, sr=SR)
        proc = time.perf_counter() - t0
        write_wav_f32(out_wav, est)
        return proc

    run_separation(args.sep_dir, args.out, separate)


if __name__ == "__main__":
    main()
