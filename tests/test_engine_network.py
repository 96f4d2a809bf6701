"""The NumPy inference path agrees with the Keras model of record, and chunking is exact."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from segmenter.network import NumpyNet, build_keras, export, stack_frames, tcn
from segmenter.pipeline import DEFAULT_SEGMENTER, PRETRAINED


def test_exported_weights_match_keras() -> None:
    """The shipped segmenter (separator-v2's network has its own check, in test_separator_v2)."""
    keras = pytest.importorskip("keras")
    d = PRETRAINED / DEFAULT_SEGMENTER
    model = keras.models.load_model(d / "model.keras", compile=False)
    net = NumpyNet.load(d / "weights.npz")
    x = np.random.default_rng(0).normal(size=(701, net.spec.input_dim)).astype(np.float32)
    expected = model.predict(stack_frames(x, net.spec.stride)[None], verbose=0)[0][:len(x)]
    assert np.allclose(net.forward(x), expected, atol=2e-5)


@pytest.mark.parametrize("stride, input_kernel", [(2, 3), (4, 1)])
def test_chunked_streaming_equals_one_pass(tmp_path: Path, stride: int, input_kernel: int) -> None:
    spec = tcn(8, 6, (2, 4, 8), 3, "softmax", stride=stride, input_kernel=input_kernel)
    assert spec.layers[0].kernel == input_kernel
    model = build_keras(spec)
    export(model, spec, tmp_path / "w.npz")
    net = NumpyNet.load(tmp_path / "w.npz")
    x = np.random.default_rng(1).normal(size=(1000, 8)).astype(np.float32)
    whole = net.forward(x)
    pieces = iter([x[:37], x[37:500], x[500:501], x[501:]])
    streamed = np.concatenate(list(net.stream(pieces, chunk_steps=32)))
    assert streamed.shape == whole.shape
    assert np.allclose(streamed, whole, atol=1e-6)
