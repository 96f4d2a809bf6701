"""The segmenter's network: a stack of dilated 1-D convolutions over time (separator-v2's
network is `cmask_net`'s).

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

from .streaming import ChunkedStream, Scratch, Window


@dataclass(frozen=True)
class Layer:
    filters: int
    kernel: int = 3
    dilation: int = 1
    activation: str = "relu"  # relu | softmax
    residual: bool = False


@dataclass(frozen=True)
class NetSpec:
    """`stride` consecutive input frames are stacked into one step, and each output step is
    repeated `stride` times: the classifier runs at 20 ms but still answers every 10 ms."""

    input_dim: int
    layers: tuple[Layer, ...]
    stride: int = 1

    @property
    def context(self) -> int:
        """Frames of input each output frame sees on either side."""
        return sum((l.kernel // 2) * l.dilation for l in self.layers)

    def to_json(self) -> dict:
        return {"input_dim": self.input_dim, "stride": self.stride, "layers": [asdict(l) for l in self.layers]}

    @classmethod
    def from_json(cls, d: dict) -> "NetSpec":
        return cls(d["input_dim"], tuple(Layer(**l) for l in d["layers"]), d.get("stride", 1))


def tcn(input_dim: int, width: int, dilations: tuple[int, ...], outputs: int, activation: str,
        stride: int = 1, input_kernel: int = 3) -> NetSpec:
    """Input projection (over `input_kernel` steps), residual dilated blocks, then a per-frame output layer."""
    layers = [Layer(width, input_kernel, 1)]
    layers += [Layer(width, 3, d, residual=True) for d in dilations]
    layers.append(Layer(outputs, 1, 1, activation))
    return NetSpec(input_dim, tuple(layers), stride)


def stack_frames(x: np.ndarray, stride: int) -> np.ndarray:
    """(frames, dim) -> (ceil(frames / stride), stride * dim), zero-padding the last step."""
    if stride == 1:
        return x
    pad = -len(x) % stride
    if pad:
        x = np.concatenate((x, np.zeros((pad, x.shape[1]), x.dtype)))
    return x.reshape(len(x) // stride, stride * x.shape[1])


# ---------------------------------------------------------------- Keras (training)

def build_keras(spec: NetSpec, init_scale: float = 1.0):
    """`init_scale` < 1 shrinks the initial weights of every layer after the input projection
    (Glorot times the scale), so that a deep residual stack starts near a uniform output
    instead of saturating it."""
    import keras

    x = inp = keras.Input((None, spec.input_dim * spec.stride))
    for i, l in enumerate(spec.layers):
        init = "glorot_uniform"
        if i > 0 and init_scale != 1.0:
            init = keras.initializers.VarianceScaling(init_scale ** 2, "fan_avg", "uniform")
        y = keras.layers.Conv1D(l.filters, l.kernel, dilation_rate=l.dilation, padding="same",
                                activation=l.activation, kernel_initializer=init, name=f"conv{i}")(x)
        x = keras.layers.Add(name=f"res{i}")([x, y]) if l.residual else y
    if spec.stride > 1:
        x = keras.layers.UpSampling1D(spec.stride, name="repeat")(x)
    return keras.Model(inp, x)


def conv_weights(model, spec: NetSpec) -> list[tuple[np.ndarray, np.ndarray]]:
    """(kernel, bias) of each conv layer of a Keras model built by `build_keras`, as `NumpyNet` takes them."""
    return [tuple(np.asarray(v, np.float32) for v in model.get_layer(f"conv{i}").get_weights())
            for i in range(len(spec.layers))]


def export(model, spec: NetSpec, path: Path) -> None:
    """Write the spec and the conv weights of a Keras model built by `build_keras`."""
    arrays = {}
    for i, (w, b) in enumerate(conv_weights(model, spec)):
        arrays[f"w{i}"], arrays[f"b{i}"] = w, b
    np.savez(path, spec=json.dumps(spec.to_json()), **arrays)


# ---------------------------------------------------------------- NumPy (inference)

def _activate(x: np.ndarray, name: str) -> np.ndarray:
    if name == "relu":
        return np.maximum(x, 0.0, out=x)
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

    def steps(self, x: np.ndarray, scratch: Scratch | None = None) -> np.ndarray:
        """Forward pass over (steps, stride * input_dim), zero padding per layer as Keras 'same' does.

        Each convolution is one matrix product over stacked shifted copies (im2col): far
        faster than one product per tap for these narrow layers. The layers share three working
        arrays from `scratch` (a stream passes its own, so that they serve every chunk): under the
        CLI's fixed mmap threshold every fresh multi-megabyte array costs page faults, a tenth
        of a long file's time. The result may be one of them.
        """
        scratch = scratch or Scratch()
        features = x
        n = len(x)
        width = max(w.shape[2] for w, _ in self.weights)
        outs = [scratch.get(f"out{j}", (n * width,)) for j in range(2)]
        free = 0  # the one of `outs` that does not hold `x`
        for i, (l, (w, b)) in enumerate(zip(self.spec.layers, self.weights)):
            k, c = l.kernel, x.shape[1]
            taps = x
            if k > 1:
                taps = _im2col(x, l, scratch.get("cols", (n, k * c)))
            y = np.matmul(taps, w.reshape(k * c, -1), out=outs[free][:n * w.shape[2]].reshape(n, -1))
            y += b
            y = _activate(y, l.activation)
            if not l.residual:
                x, free = y, 1 - free
            elif x is features:
                x = x + y
            else:
                x += y
        return x

    def forward(self, frames: np.ndarray) -> np.ndarray:
        """Per-frame outputs for a whole (frames, input_dim) sequence."""
        out = self.steps(stack_frames(frames, self.spec.stride))
        return np.repeat(out, self.spec.stride, axis=0)[:len(frames)] if self.spec.stride > 1 else out

    def stream(self, chunks: Iterator[np.ndarray], chunk_steps: int = 4000) -> Iterator[np.ndarray]:
        """Per-frame outputs for a stream of input chunks, identical to `forward` on their concatenation."""
        s = NetStream(self, chunk_steps)
        for c in chunks:
            yield from s.push(c)
        yield from s.finish()


class NetStream:
    """`NumpyNet.stream` driven from outside: `push` input chunks and get the outputs complete so
    far, then `finish` for the rest. So one decoded stream can feed this network and something
    else, block by block. Each output chunk of `chunk_steps` steps is computed with `context` real
    steps either side (zeros only at the ends, as `forward` pads), so the outputs equal `forward`'s."""

    def __init__(self, net: NumpyNet, chunk_steps: int = 4000):
        self.net = net
        spec = net.spec
        self._chunks = ChunkedStream(chunk_steps, spec.context, (spec.input_dim * spec.stride,))
        self._scratch = Scratch()
        self._odd = np.zeros((0, spec.input_dim), dtype=np.float32)  # frames not yet filling a step
        self._total = self._emitted = 0

    def push(self, c: np.ndarray) -> list[np.ndarray]:
        stride = self.net.spec.stride
        self._total += len(c)
        if len(self._odd):
            c = np.concatenate((self._odd, c))
        whole = len(c) - len(c) % stride
        self._odd = c[whole:].copy()
        return self._outputs(self._chunks.push(stack_frames(c[:whole], stride)))

    def finish(self) -> list[np.ndarray]:
        self._chunks.push(stack_frames(self._odd, self.net.spec.stride))
        return self._outputs(self._chunks.finish())

    def _outputs(self, windows: Iterator[Window]) -> list[np.ndarray]:
        """Each window's core outputs, per frame (each step repeated `stride` times), in new arrays."""
        stride, out = self.net.spec.stride, []
        for w in windows:
            steps = self.net.steps(w.data, self._scratch)[w.core]
            frames = np.repeat(steps, stride, axis=0) if stride > 1 else steps.copy()
            out.append(frames[:self._total - self._emitted])
            self._emitted += len(out[-1])
        return out


def _im2col(a: np.ndarray, l: Layer, out: np.ndarray) -> np.ndarray:
    """Write `l.kernel` copies of (frames, channels) `a`, shifted in time by the layer's dilated
    taps, side by side in `out`, and zeros where a shift runs off the end: 'same' zero padding,
    as in Keras. Only that padding is zeroed, so `out` may be reused scratch."""
    n, c = a.shape
    for k in range(l.kernel):
        shift = (k - l.kernel // 2) * l.dilation
        lo, hi = min(n, max(0, -shift)), max(0, min(n, n - shift))
        cols = slice(k * c, (k + 1) * c)
        out[:lo, cols] = 0.0
        out[max(lo, hi):, cols] = 0.0
        if hi > lo:
            out[lo:hi, cols] = a[lo + shift:hi + shift]
    return out
