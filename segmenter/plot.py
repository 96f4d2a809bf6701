"""`python -m segmenter plot MEDIA --out fig.png`: spectrogram, speech mask, masked spectrogram, segments."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .media import SAMPLE_RATE, stream_audio
from .pipeline import Segmenter
from .segments import LABELS, Segmentation, SmoothingParams
from .cmask import stft
from .separation import Separator

COLOURS = {"speech": "tab:green", "music": "tab:purple", "noise": "tab:orange", "silence": "lightgrey"}


def excerpt(path: str | Path, start: float, end: float | None) -> np.ndarray:
    """Samples of [start, end) without holding more of the file than that."""
    a, b = int(start * SAMPLE_RATE), None if end is None else int(end * SAMPLE_RATE)
    kept, pos = [], 0
    for block in stream_audio(path):
        lo, hi = max(a, pos), len(block) + pos if b is None else min(b, pos + len(block))
        if hi > lo:
            kept.append(block[lo - pos:hi - pos])
        pos += len(block)
        if b is not None and pos >= b:
            break
    return np.concatenate(kept) if kept else np.zeros(0, np.float32)


def draw(audio: np.ndarray, offset: float, seg: Segmentation, mask: np.ndarray, spec: np.ndarray, out: Path,
         title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    db = 20 * np.log10(np.abs(spec) + 1e-6)
    masked = 20 * np.log10(np.abs(spec * mask) + 1e-6)
    extent = [offset, offset + len(audio) / SAMPLE_RATE, 0, SAMPLE_RATE / 2000]
    fig, axes = plt.subplots(4, 1, figsize=(12, 8), sharex=True,
                             gridspec_kw={"height_ratios": [3, 3, 3, 1]})
    vmax = db.max()
    for ax, img, name, kw in ((axes[0], db, "mixture (dB)", dict(vmin=vmax - 80, vmax=vmax, cmap="magma")),
                              (axes[1], mask, "speech mask", dict(vmin=0, vmax=1, cmap="viridis")),
                              (axes[2], masked, "masked (dB)", dict(vmin=vmax - 80, vmax=vmax, cmap="magma"))):
        ax.imshow(img, origin="lower", aspect="auto", extent=extent, interpolation="nearest", **kw)
        ax.set_ylabel(f"{name}\nkHz")
    for s in seg.segments:
        axes[3].axvspan(s.start + offset, s.end + offset, color=COLOURS[s.label], lw=0)
    axes[3].set_yticks([])
    axes[3].legend(handles=[plt.Rectangle((0, 0), 1, 1, color=COLOURS[l]) for l in LABELS], labels=list(LABELS),
                   ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.6), frameon=False)
    axes[3].set_xlabel("time (s)")
    axes[3].set_xlim(extent[0], extent[1])
    axes[0].set_title(title)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def run(media: Path, out: Path, start: float, end: float | None, segmenter_dir: str | None,
        separator_dir: str | None, params: SmoothingParams) -> Path:
    audio = excerpt(media, start, end)
    if len(audio) == 0:
        raise ValueError(f"{media}: no audio between {start} s and {end} s")
    segmenter, separator = Segmenter.load(segmenter_dir), Separator.load(separator_dir)
    seg = segmenter.segment_audio(audio, params)
    spec = stft(audio).T  # (bins, frames), low frequencies first
    # the gain the separator applied, per bin: its output's magnitude against the mixture's
    gain = np.clip(np.abs(stft(separator.separate_audio(audio)).T) / (np.abs(spec) + 1e-9), 0.0, 1.0)
    draw(audio, start, seg, gain, spec, out, f"{media.name}: {start:.1f} s to {start + len(audio) / SAMPLE_RATE:.1f} s")
    return out
