"""noisereduce 3.0.3: reduce_noise(y, sr) with its defaults (non-stationary, n_jobs=1)."""
import _common  # noqa: F401
import noisereduce as nr

from _common import SR, parse_sep_args, run_array_separation


def main():
    args = parse_sep_args(__doc__)
    run_array_separation(args.sep_dir, args.out, lambda y: nr.reduce_noise(y=y, sr=SR))


if __name__ == "__main__":
    main()
