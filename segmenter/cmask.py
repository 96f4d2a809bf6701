"""Separator-v2's signal path: STFT -> features on the compact frequency axis -> complex mask per
band -> masked STFT -> inverse STFT, in NumPy, streamed in chunks with flat memory.

The STFT has a 512-point square-root Hann window and a 256-sample hop (32 ms / 16 ms at 16 kHz):
at 50 % overlap the square-root Hann windows in analysis and synthesis add up to exactly one, so
the inverse is a plain overlap-add and a mask of one gives back the input sample for sample.
The network's complex mask has one value per band (`BandLayout`: every bin below 2 kHz, ERB bands
above, unless the model's config.json says otherwise), spread to the bins by interpolation; its
magnitude is bounded by MAX_GAIN. A complex mask also corrects the phase, which a magnitude mask
leaves as the mixture's. With `df_taps` > 1 the full-resolution bins are deep-filtered (DeepFilterNet's
deep filtering): each output bin is a complex-weighted sum of the same bin in the frames around it,
which can follow a voice's harmonic through a bin that music shares, where one gain per frame cannot.

Long inputs are processed in chunks of frames, each seen with the network's whole context on
either side, so the output is the same as that of one pass over the whole input (to float
rounding), and memory does not grow with the input's length.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .bands import expansion, pooling
from .cmask_net import CmaskNet
from .media import SAMPLE_RATE
from .separation import N_BINS, N_FFT, STFT_HOP, MaskLimit, Separator

MODEL_KIND = "complex-mask"  # config.json "model": what Separator.load keys on
MAX_GAIN = 1.2  # the mask's largest magnitude
COMPRESS = 0.3  # the power-law compression of the phase features (and of the loss)
WINDOW = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
CORE_FRAMES = 1875  # frames per chunk (30 s) besides the context either side
MAX_TAPS = 9  # a deep filter's most frames (144 ms)


@dataclass(frozen=True)
class BandLayout:
    """The compact frequency axis: every bin below `full_bins`, then `erb_bands` ERB-spaced bands
    up to 8 kHz. The network sees the phase (compressed real and imaginary parts) of the
    full-resolution bins only, and above them one power per band, so harmonics are resolved up to
    the last full bin. A model's config.json records its layout ("bands")."""
    full_bins: int = 64  # bins 0-63: every bin up to 1.97 kHz
    erb_bands: int = 32  # 2-8 kHz
    df_taps: int = 1  # frames in each full-resolution bin's filter, centred on its own (1: a mask)

    def __post_init__(self) -> None:
        if not (isinstance(self.full_bins, int) and isinstance(self.erb_bands, int)
                and 2 <= self.full_bins < N_BINS - 1 and 1 <= self.erb_bands <= N_BINS - self.full_bins):
            raise ValueError(f"a band layout needs whole numbers: 2 <= full_bins < {N_BINS - 1} and "
                             f"1 <= erb_bands <= the bins above them: {self}")
        if not (isinstance(self.df_taps, int) and self.df_taps % 2 == 1 and 1 <= self.df_taps <= MAX_TAPS):
            raise ValueError(f"df_taps must be an odd whole number from 1 to {MAX_TAPS}: {self}")

    @property
    def bands(self) -> int:
        return self.full_bins + self.erb_bands

    @property
    def offsets(self) -> tuple[int, ...]:
        """The deep filter's taps besides the centre one, as frame offsets: tap k weights frame t + k."""
        h = self.df_taps // 2
        return tuple(k for k in range(-h, h + 1) if k)

    @property
    def n_coefficients(self) -> int:
        """Complex values per frame: the centre tap's per band, then each other tap's per full bin."""
        return self.bands + len(self.offsets) * self.full_bins

    @property
    def n_outputs(self) -> int:
        """The network's outputs per frame: the coefficients' real parts, then their imaginary parts."""
        return 2 * self.n_coefficients

    @property
    def n_features(self) -> int:
        return self.bands + 2 * self.full_bins

    def expansion(self) -> np.ndarray:
        """(bands, N_BINS) interpolation from band values to bin values."""
        return expansion(N_FFT, SAMPLE_RATE, self.full_bins, self.erb_bands)

    def pooling(self) -> np.ndarray:
        return pooling(N_FFT, SAMPLE_RATE, self.full_bins, self.erb_bands)

    def to_json(self) -> dict:
        """config.json's "bands" (df_taps only when it filters: a plain mask's record stays as it was)."""
        return {k: v for k, v in asdict(self).items() if k != "df_taps" or v != 1}

    def features(self, spec: np.ndarray) -> np.ndarray:
        """(frames, N_BINS) complex -> (frames, n_features): log power per band (scaled as the
        segmenter's features), then the compressed real and imaginary parts of the full-resolution
        bins (|X|^0.3 with X's phase), which show the network the phase it corrects."""
        power = spec.real ** 2 + spec.imag ** 2
        band_power = power @ self.pooling()
        low = spec[:, :self.full_bins]
        gain = (power[:, :self.full_bins] + 1e-12) ** ((COMPRESS - 1) / 2)
        return np.concatenate(((10.0 * np.log10(band_power + 1e-10) + 40.0) / 20.0,
                               low.real * gain, low.imag * gain), axis=1).astype(np.float32)

    def bounded_mask(self, z: np.ndarray) -> np.ndarray:
        """The network's (frames, n_outputs) output -> complex (frames, n_coefficients) coefficients of
        magnitude below MAX_GAIN: z's direction, its length through MAX_GAIN * tanh."""
        c = self.n_coefficients
        re, im = z[:, :c], z[:, c:]
        length = np.sqrt(re * re + im * im + 1e-8)
        g = MAX_GAIN * np.tanh(length) / length
        return (re * g + 1j * (im * g)).astype(np.complex64)

    def apply_mask(self, spec: np.ndarray, coefs: np.ndarray, limit: MaskLimit | None = None,
                   first: int = 0) -> np.ndarray:
        """Frames `first` .. `first + len(coefs)` of the STFT `spec`, masked: the centre tap's band
        mask spread to the bins times each frame, plus, with deep filtering, each other tap's
        coefficients times the full-resolution bins `k` frames away (zeros beyond `spec`, which holds
        the frames around them). Then `limit` per bin on the gain, output / input, where the input
        is not exactly zero."""
        n, f = len(coefs), self.full_bins
        x = spec[first:first + n]
        e = self.expansion()
        band = coefs[:, :self.bands]
        mask = ((band.real @ e) + 1j * (band.imag @ e)).astype(np.complex64)
        if not self.offsets:
            return x * (limit(mask) if limit else mask)
        y = x * mask
        for i, k in enumerate(self.offsets):
            tap = coefs[:, self.bands + i * f:self.bands + (i + 1) * f]
            lo, hi = max(first + k, 0), min(first + k + n, len(spec))  # the frames tap k reads
            if lo < hi:
                y[lo - first - k:hi - first - k, :f] += tap[lo - first - k:hi - first - k] * spec[lo:hi, :f]
        if limit:
            heard = x != 0
            gain = np.where(heard, y / np.where(heard, x, 1), 1).astype(np.complex64)
            y = np.where(heard, limit(gain) * x, y).astype(np.complex64)
        return y


DEFAULT_BANDS = BandLayout()


def frames_of(blocks: np.ndarray) -> np.ndarray:
    """(n + 1, STFT_HOP) blocks of samples -> (n, N_BINS) complex STFT frames: frame i spans blocks i and i + 1."""
    x = np.concatenate((blocks[:-1], blocks[1:]), axis=1) * WINDOW
    return np.fft.rfft(x, axis=1).astype(np.complex64)


def stft(audio: np.ndarray) -> np.ndarray:
    """(frames, N_BINS): frame i is centred on sample i * STFT_HOP (zeros beyond the ends);
    ceil(len / STFT_HOP) + 1 frames."""
    n = -(-len(audio) // STFT_HOP)
    padded = np.zeros((n + 2) * STFT_HOP, np.float32)
    padded[STFT_HOP:STFT_HOP + len(audio)] = audio
    return frames_of(padded.reshape(-1, STFT_HOP))


def synthesis_blocks(spec: np.ndarray, previous: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Overlap-add: (frames, N_BINS) -> (samples of frames - 1 blocks, or frames blocks after
    `previous`, the last frame's second half before these frames) and this last second half."""
    y = np.fft.irfft(spec, N_FFT, axis=1).astype(np.float32) * WINDOW
    first, second = y[:, :STFT_HOP], y[:, STFT_HOP:]
    if previous is not None:
        second = np.concatenate((previous[None], second))
    else:
        first = first[1:]
    return (second[:-1] + first).reshape(-1), second[-1].copy()


def istft(spec: np.ndarray, length: int) -> np.ndarray:
    return synthesis_blocks(spec)[0][:length]


class ComplexMaskSeparator(Separator):
    """A loaded separator-v2 network; `stream` separates a stream of sample blocks."""

    def __init__(self, net: CmaskNet, core_frames: int = CORE_FRAMES, model_dir: Path | None = None,
                 layout: BandLayout = DEFAULT_BANDS):
        if net.spec.inputs != layout.n_features or net.spec.outputs != layout.n_outputs:
            raise ValueError(f"network has {net.spec.inputs} inputs and {net.spec.outputs} outputs, expected "
                             f"{layout.n_features} and {layout.n_outputs} ({layout})")
        if net.spec.context < layout.df_taps // 2:
            raise ValueError(f"a deep filter of {layout.df_taps} frames needs a context of {layout.df_taps // 2} "
                             f"frames either side; the network sees {net.spec.context}")
        self.net, self.core, self.model_dir, self.layout = net, core_frames, model_dir, layout

    @classmethod
    def load(cls, model_dir: Path, config: dict) -> "ComplexMaskSeparator":
        """The network in `model_dir`, on the band layout its `config` (config.json, as
        `Separator.load` read it) records: the default without one."""
        return cls(CmaskNet.load(Path(model_dir) / "weights.npz"), model_dir=Path(model_dir),
                   layout=BandLayout(**config.get("bands", {})))

    def masked(self, spec: np.ndarray, limit: MaskLimit | None = None) -> np.ndarray:
        """One pass over (frames, N_BINS): the masked STFT."""
        lay = self.layout
        return lay.apply_mask(spec, lay.bounded_mask(self.net.forward(lay.features(spec))), limit)

    def stream(self, blocks: Iterable[np.ndarray], limit: MaskLimit | None = None) -> Iterator[np.ndarray]:
        """The separated samples of a stream of 16 kHz mono float blocks, in order, exactly as
        many as came in."""
        previous, sent, length = None, 0, {}
        for spec in self._masked_chunks(self._stft_chunks(blocks, length), limit):
            out, previous = synthesis_blocks(spec, previous)
            if "samples" in length:  # the input has ended: the last frames reach past it
                out = out[:max(0, length["samples"] - sent)]
            sent += len(out)
            yield out

    def _stft_chunks(self, blocks: Iterable[np.ndarray], length: dict) -> Iterator[np.ndarray]:
        """STFT frames of the stream in chunks of about `core` frames; the last chunk's frames
        end with the one centred past the end, as `stft` gives. At the end, `length["samples"]`
        is the stream's length."""
        buf = [np.zeros(STFT_HOP, np.float32)]
        held, total = STFT_HOP, 0
        for b in blocks:
            b = np.asarray(b, np.float32).reshape(-1)
            total += len(b)
            buf.append(b)
            held += len(b)
            if held >= (self.core + 1) * STFT_HOP:
                x = np.concatenate(buf)
                n = len(x) // STFT_HOP
                yield frames_of(x[:n * STFT_HOP].reshape(n, STFT_HOP))
                buf, held = [x[(n - 1) * STFT_HOP:]], len(x) - (n - 1) * STFT_HOP
        x = np.concatenate(buf)
        n = -(-len(x) // STFT_HOP) + 1
        padded = np.zeros(n * STFT_HOP, np.float32)
        padded[:len(x)] = x
        length["samples"] = total
        yield frames_of(padded.reshape(n, STFT_HOP))

    def _masked_chunks(self, chunks: Iterator[np.ndarray], limit: MaskLimit | None) -> Iterator[np.ndarray]:
        """Masked STFT frames, in order: the network runs on `core` frames at a time with its
        context (`spec.context` frames) of real frames on either side, where there are any."""
        reach, lay = self.net.spec.context, self.layout
        held = np.zeros((0, N_BINS), np.complex64)
        feats = np.zeros((0, lay.n_features), np.float32)
        left = 0  # frames of context before the next core, at the start of `held`
        for spec in chunks:
            held, feats = np.concatenate((held, spec)), np.concatenate((feats, lay.features(spec)))
            while len(held) >= left + self.core + reach:
                z = self.net.forward(feats[:left + self.core + reach])[left:left + self.core]
                yield lay.apply_mask(held, lay.bounded_mask(z), limit, first=left)
                cut = max(0, left + self.core - reach)
                held, feats, left = held[cut:], feats[cut:], left + self.core - cut
        if len(held) > left:
            z = self.net.forward(feats)[left:]
            yield lay.apply_mask(held, lay.bounded_mask(z), limit, first=left)
