"""noisereduce 3.0.3: reduce_noise(y, sr) with its defaults (non-stationary, n_jobs=1)."""
import time

import _common  # noqa: F401
import noisereduce as nr

from _common import SR, decode, parse_sep_args, run_separation, write_wav_f32


def main():
    args = parse_sep_args(__doc__)

    def separate(mix, item, out_wav):
        y = decode(mix)
        write_wav_f32(out_wav, nr.reduce_noise(y=y, sr=SR))

    run_separation(args.sep_dir, args.out, separate)


if __name__ == "__main__":
    main()
