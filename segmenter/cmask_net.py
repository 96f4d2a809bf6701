"""The separator-v2 network: a stack of dilated, depthwise-separable convolutions over time
(Conv-TasNet's block) on a compact frequency axis, giving a complex mask per band and frame.

Each block normalises its input per frame (layer norm), expands it with a 1x1 convolution, filters
each channel over time with a dilated depthwise convolution (a grouped convolution with one
channel per group), projects back with a 1x1 convolution and adds the result to its input. The
depthwise filter costs 3 MACs per channel, so nearly all the arithmetic is in the 1x1 convolutions:
large matrix products, which NumPy runs near the core's peak (no per-frame Python loop).

The Keras model (`model.keras`) is the artifact of record; `export` writes its weights to an .npz
and `CmaskNet` runs the same arithmetic in NumPy. A test checks that both agree.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

LN_EPSILON = 1e-3  # Keras LayerNormalization's default


@dataclass(frozen=True)
class CmaskSpec:
    inputs: int  # features per frame
    outputs: int  # 2 x bands: the mask's real parts, then its imaginary parts
    width: int  # channels between blocks
    hidden: int  # channels inside a block
    dilations: tuple[int, ...] = field(default=(1, 2, 4, 8, 16, 32))
    kernel: int = 3
    passing: int = 0  # leading outputs that start at 1, a mask that passes the mixture (0: every real part)

    @property
    def context(self) -> int:
        """Frames each output frame sees on either side."""
        return sum((self.kernel // 2) * d for d in self.dilations)

    def macs_per_frame(self) -> int:
        block = 2 * self.width * self.hidden + self.kernel * self.hidden
        return self.inputs * self.width + len(self.dilations) * block + self.width * self.outputs

    def to_json(self) -> dict:
        return asdict(self) | {"dilations": list(self.dilations)}

    @classmethod
    def from_json(cls, d: dict) -> "CmaskSpec":
        return cls(**(d | {"dilations": tuple(d["dilations"])}))


# ---------------------------------------------------------------- Keras (training)

def build_keras(spec: CmaskSpec, init_scale: float = 1.0):
    """The model: (batch, frames, inputs) -> (batch, frames, outputs), the mask before its bound
    (`cmask.BandLayout.bounded_mask`). Each block's last layer starts at `init_scale` times Glorot, so a deep
    stack starts near its input projection. The mask's real parts start at a bias of 1 (a deep
    filter's other taps at 0): a mask near one, which passes the mixture (clean speech must come
    out untouched)."""
    import keras
    small = keras.initializers.VarianceScaling(init_scale ** 2, "fan_avg", "uniform")
    bias = np.zeros(spec.outputs, np.float32)
    bias[:spec.passing or spec.outputs // 2] = 1.0
    x = inp = keras.Input((None, spec.inputs))
    x = keras.layers.Conv1D(spec.width, 1, name="input")(x)
    for i, d in enumerate(spec.dilations):
        h = keras.layers.LayerNormalization(epsilon=LN_EPSILON, name=f"norm{i}")(x)
        h = keras.layers.Conv1D(spec.hidden, 1, activation="relu", name=f"expand{i}")(h)
        h = keras.layers.DepthwiseConv1D(spec.kernel, dilation_rate=d, padding="same", activation="relu",
                                         name=f"time{i}")(h)
        h = keras.layers.Conv1D(spec.width, 1, kernel_initializer=small, name=f"project{i}")(h)
        x = keras.layers.Add(name=f"res{i}")([x, h])
    x = keras.layers.LayerNormalization(epsilon=LN_EPSILON, name="norm_out")(x)
    x = keras.layers.Conv1D(spec.outputs, 1, kernel_initializer=small,
                            bias_initializer=keras.initializers.Constant(bias), name="output")(x)
    return keras.Model(inp, x)


def grown(weights: list[np.ndarray], model) -> None:
    """Set `model`'s weights from a network of the same layers with fewer mask coefficients per
    frame (a deep filter added at a stage): every layer as it was, and the output layer's new
    coefficients, real and imaginary, with zero weights and bias, so that the grown network
    computes at first exactly what the smaller one did."""
    values = []
    for old, new in zip(weights, model.get_weights()):
        if old.shape != new.shape:  # the output layer: (1, width, 2 x coefficients) and its bias
            was, now = old.shape[-1] // 2, new.shape[-1] // 2
            wider = np.zeros_like(new)
            wider[..., :was], wider[..., now:now + was] = old[..., :was], old[..., was:]
            old = wider
        values.append(old)
    model.set_weights(values)


def weights_of(model) -> dict[str, np.ndarray]:
    """Every layer's weights as `CmaskNet` takes them (1x1 kernels as matrices)."""
    arrays = {}
    for layer in model.layers:
        for w, value in zip(("w", "b"), layer.get_weights()):
            value = np.asarray(value, np.float32)
            if layer.name.startswith(("input", "expand", "project", "output")) and w == "w":
                value = value[0]  # (1, in, out) -> (in, out)
            if layer.name.startswith("time") and w == "w":
                value = value[:, :, 0]  # (kernel, channels, 1) -> (kernel, channels)
            arrays[f"{layer.name}/{w}"] = value
    return arrays


def export(model, spec: CmaskSpec, path: Path, extra: dict | None = None) -> None:
    """The spec, the weights (`weights_of`) and `extra` (JSON) in one .npz."""
    np.savez(path, spec=json.dumps(spec.to_json()), extra=json.dumps(extra or {}), **weights_of(model))


# ---------------------------------------------------------------- NumPy (inference)

def _normalized(x: np.ndarray) -> np.ndarray:
    """Layer normalisation without its scale and offset (folded into the next 1x1 convolution)."""
    centred = x - x.mean(axis=1, keepdims=True)
    var = np.einsum("ij,ij->i", centred, centred) / x.shape[1]
    centred *= (1.0 / np.sqrt(var + LN_EPSILON))[:, None]
    return centred


def _folded(weights: dict[str, np.ndarray], norm: str, conv: str) -> tuple[np.ndarray, np.ndarray]:
    """The 1x1 convolution `conv` after the layer norm `norm`, with the norm's scale and offset
    folded in: (c * g + b) @ W + d = c @ (g W) + (b @ W + d)."""
    g, b, w = weights[f"{norm}/w"], weights[f"{norm}/b"], weights[f"{conv}/w"]
    return (g[:, None] * w).astype(np.float32), (b @ w + weights[f"{conv}/b"]).astype(np.float32)


class CmaskNet:
    """The exported network in NumPy: `forward` maps (frames, inputs) to (frames, outputs), with
    the zero padding Keras's 'same' convolutions have at the sequence's ends."""

    def __init__(self, spec: CmaskSpec, weights: dict[str, np.ndarray], extra: dict | None = None):
        self.spec, self.w, self.extra = spec, weights, extra or {}
        self.expand = [_folded(weights, f"norm{i}", f"expand{i}") for i in range(len(spec.dilations))]
        self.output = _folded(weights, "norm_out", "output")

    @classmethod
    def load(cls, path: Path) -> "CmaskNet":
        with np.load(path) as z:
            weights = {k: z[k] for k in z.files if "/" in k}
            return cls(CmaskSpec.from_json(json.loads(str(z["spec"]))), weights, json.loads(str(z["extra"])))

    def forward(self, x: np.ndarray) -> np.ndarray:
        w, s = self.w, self.spec
        x = x.astype(np.float32) @ w["input/w"] + w["input/b"]
        n, reach = len(x), (s.kernel // 2)
        for i, d in enumerate(s.dilations):
            expand_w, expand_b = self.expand[i]
            h = _normalized(x) @ expand_w
            h += expand_b
            np.maximum(h, 0.0, out=h)
            k = w[f"time{i}/w"]
            t = h * k[reach]
            t += w[f"time{i}/b"]
            for j in range(s.kernel):
                shift = (j - reach) * d  # output frame f sees input frame f + shift
                if shift == 0 or abs(shift) >= n:
                    continue
                if shift > 0:
                    t[:-shift] += h[shift:] * k[j]
                else:
                    t[-shift:] += h[:shift] * k[j]
            np.maximum(t, 0.0, out=t)
            x += t @ w[f"project{i}/w"] + w[f"project{i}/b"]
        return _normalized(x) @ self.output[0] + self.output[1]
