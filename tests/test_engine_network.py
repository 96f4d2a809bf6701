"""The NumPy inference path agrees with the Keras model of record, and chunking is exact."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from segmenter.network import Layer, NumpyNet, build_keras, export, stack_frames, tcn
from segmenter.pipeline import DEFAULT_SEGMENTER, PRETRAINED
from segmenter.separation import DEFAULT_SEPARATOR

MODELS = [DEFAULT_SEGMENTER, DEFAULT_SEPARATOR]


@pytest.mark.parametrize("name", MODELS)
def test_exported_weights_match_keras(name: str) -> None:
    keras = pytest.importorskip("keras")
    d = PRETRAINED / name
    model = keras.models.load_model(d / "model.keras", compile=False)
    net = NumpyNet.load(d / "weights.npz")
    x = np.random.default_rng(0).normal(size=(701, net.spec.input_dim)).astype(np.float32)
    expected = model.predict(stack_frames(x, net.spec.stride)[None], verbose=0)[0][:len(x)]
    assert np.allclose(net.forward(x), expected, atol=2e-5)


def test_chunked_streaming_equals_one_pass(tmp_path: Path) -> None:
    spec = tcn(8, 6, (2, 4, 8), 3, "softmax", stride=2)
    model = build_keras(spec)
    export(model, spec, tmp_path / "w.npz")
    net = NumpyNet.load(tmp_path / "w.npz")
    x = np.random.default_rng(1).normal(size=(1000, 8)).astype(np.float32)
    whole = net.forward(x)
    pieces = iter([x[:37], x[37:500], x[500:501], x[501:]])
    streamed = np.concatenate(list(net.stream(pieces, chunk_steps=32)))
    assert streamed.shape == whole.shape
    assert np.allclose(streamed, whole, atol=1e-6)


def test_refiner_numpy_matches_keras(tmp_path: Path) -> None:
    """The refiner along the bins: the NumPy path (in blocks of frames) agrees with Keras,
    also with trained (non-zero) last-layer weights, and so does the stream in chunks."""
    keras = pytest.importorskip("keras")
    spec = tcn(12, 6, (2, 4), 12, "sigmoid",
               refiner=(Layer(4, 3, 1), Layer(4, 3, 2), Layer(1, 1, 1, "linear")))
    model = build_keras(spec)
    w, b = model.get_layer("refine2").get_weights()
    model.get_layer("refine2").set_weights([np.full_like(w, 0.3), b + 0.1])
    export(model, spec, tmp_path / "w.npz")
    net = NumpyNet.load(tmp_path / "w.npz")
    assert net.spec == spec
    x = np.random.default_rng(2).normal(size=(300, 12)).astype(np.float32)
    expected = model.predict(x[None], verbose=0)[0]
    got = net.forward(x)
    assert np.allclose(got, expected, atol=1e-5)
    assert not np.allclose(got, NumpyNet(net.spec, net.weights, [(0 * w, 0 * b) for w, b in net.refiner]).forward(x))
    streamed = np.concatenate(list(net.stream(iter(np.array_split(x, 7)), chunk_steps=50)))
    assert np.allclose(streamed, got, atol=1e-5)


def test_refiner_needs_one_output_per_input_bin() -> None:
    with pytest.raises(ValueError, match="refiner"):
        tcn(12, 6, (2,), 3, "sigmoid", refiner=(Layer(1, 1, 1, "linear"),))
