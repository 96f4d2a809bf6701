"""The one network shape both models use: a stack of dilated 1-D convolutions over time.

The Keras model (`model.keras`) is the artifact of record. For inference we export its
weights to `weights.npz` and run the same arithmetic in NumPy: no TensorFlow import at
run time (seconds saved at every cold start, and nothing that can break across a fork).
A test checks that both paths agree.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np


@dataclass(frozen=True)
class Layer:
    filters: int
    kernel: int = 3
    dilation: int = 1
    activation: str = "relu"  # relu | softmax | sigmoid
    residual: bool = False


@dataclass(frozen=True)
class NetSpec:
    input_dim: int
    layers: tuple[Layer, ...]

    @property
    def context(self) -> int:
        """Frames of input each output frame sees on either side."""
        return sum((l.kernel // 2) * l.dilation for l in self.layers)

    def to_json(self) -> dict:
        return {"input_dim": self.input_dim, "layers": [asdict(l) for l in self.layers]}

    @classmethod
    def from_json(cls, d: dict) -> "NetSpec":
        return cls(d["input_dim"], tuple(Layer(**l) for l in d["layers"]))


def tcn(input_dim: int, width: int, dilations: tuple[int, ...], outputs: int, activation: str) -> NetSpec:
    """Input projection, residual dilated blocks, then a per-frame output layer."""
    layers = [Layer(width, 3, 1)]
    layers += [Layer(width, 3, d, residual=True) for d in dilations]
    layers.append(Layer(outputs, 1, 1, activation))
    return NetSpec(input_dim, tuple(layers))


# ---------------------------------------------------------------- Keras (training)

def build_keras(spec: NetSpec):
    import keras

    x = inp = keras.Input((None, spec.input_dim))
    for i, l in enumerate(spec.layers):
        y = keras.layers.Conv1D(l.filters, l.kernel, dilation_rate=l.dilation, padding="same",
                                activation=l.activation, name=f"conv{i}")(x)
        x = keras.layers.Add(name=f"res{i}")([x, y]) if l.residual else y
    return keras.Model(inp, x)


def export(model, spec: NetSpec, path: Path) -> None:
    """Write the spec and the conv weights of a Keras model built by `build_keras`."""
    arrays = {}
    for i in range(len(spec.layers)):
        w, b = model.get_layer(f"conv{i}").get_weights()
        arrays[f"w{i}"], arrays[f"b{i}"] = w.astype(np.float32), b.astype(np.float32)
    np.savez(path, spec=json.dumps(spec.to_json()), **arrays)


# ---------------------------------------------------------------- NumPy (inference)

def _activate(x: np.ndarray, name: str) -> np.ndarray:
    if name == "relu":
        return np.maximum(x, 0.0, out=x)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if name == "softmax":
        x = np.exp(x - x.max(axis=1, keepdims=True))
        return x / x.sum(axis=1, keepdims=True)
    raise ValueError(f"unknown activation {name}")


class NumpyNet:
    """Runs an exported network on (frames, input_dim) arrays, in chunks with exact context."""

    def __init__(self, spec: NetSpec, weights: list[tuple[np.ndarray, np.ndarray]]):
        self.spec = spec
        self.weights = weights

    @classmethod
    def load(cls, path: Path) -> "NumpyNet":
        with np.load(path) as z:
            spec = NetSpec.from_json(json.loads(str(z["spec"])))
            weights = [(z[f"w{i}"], z[f"b{i}"]) for i in range(len(spec.layers))]
        return cls(spec, weights)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Whole-sequence forward pass, zero padding per layer as Keras 'same' does."""
        for l, (w, b) in zip(self.spec.layers, self.weights):
            half = (l.kernel // 2) * l.dilation
            if l.kernel == 1:
                y = x @ w[0]
            else:
                xp = np.pad(x, ((half, half), (0, 0)))
                n = len(x)
                y = xp[0:n] @ w[0]
                for k in range(1, l.kernel):
                    off = k * l.dilation
                    y += xp[off:off + n] @ w[k]
            y += b
            y = _activate(y, l.activation)
            x = x + y if l.residual else y
        return x

    def stream(self, chunks: Iterator[np.ndarray], chunk_frames: int = 6000) -> Iterator[np.ndarray]:
        """Outputs for a stream of input chunks, identical to one forward pass over their concatenation."""
        ctx = self.spec.context
        buf = np.zeros((0, self.spec.input_dim), dtype=np.float32)
        done = 0  # frames of buf already output (buf keeps `ctx` frames of left context)
        at_start = True
        for c in chunks:
            buf = np.concatenate((buf, c))
            while len(buf) - done >= chunk_frames + ctx:
                lo = 0 if at_start else done - ctx
                out = self.forward(buf[lo:done + chunk_frames + ctx])
                yield out[done - lo:done - lo + chunk_frames]
                done += chunk_frames
                at_start = False
                buf, done = buf[done - ctx:], ctx
        if len(buf) > done:
            lo = 0 if at_start else done - ctx
            yield self.forward(buf[lo:])[done - lo:]
