"""Calibration: make the classifier's P(speech) mean a probability, so that 0.5 is a sound threshold.

A network trained with cross-entropy on mixtures is over-confident on material unlike its
training data. Temperature and bias scaling (one temperature for all classes plus a bias per
class, fitted by log-likelihood on held-out programmes) fixes the scale without changing what
the network has learnt, and it folds into the output layer's weights: inference is unchanged.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax


def fit_scaling(log_probs: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """(temperature, per-class bias) minimising the negative log-likelihood of `labels` under
    softmax(log_probs / temperature + bias). `log_probs`: (frames, classes)."""
    z = log_probs.astype(np.float64)
    k = z.shape[1]

    def nll(theta: np.ndarray) -> float:
        logp = log_softmax(z / np.exp(theta[0]) + theta[1:], axis=1)
        return float(-np.mean(logp[np.arange(len(labels)), labels]))
    best = minimize(nll, np.zeros(k + 1), method="L-BFGS-B")
    return float(np.exp(best.x[0])), best.x[1:].astype(np.float32)


def _output_layer(model):
    """The Keras model's last convolution, whose logits the softmax turns into probabilities."""
    return [l for l in model.layers if l.name.startswith("conv")][-1]


def fold_into_output(model, temperature: float, bias: np.ndarray) -> None:
    """Scale the Keras model's last convolution so that its softmax gives the calibrated probabilities:
    softmax((Wx + b) / T + c) is softmax(W/T x + (b/T + c))."""
    last = _output_layer(model)
    w, b = last.get_weights()
    last.set_weights([w / temperature, b / temperature + bias])


def unfold_from_output(model, temperature: float, bias: np.ndarray) -> None:
    """Undo `fold_into_output`: the network as training left it."""
    last = _output_layer(model)
    w, b = last.get_weights()
    last.set_weights([w * temperature, (b - bias) * temperature])


def expected_calibration_error(p: np.ndarray, truth: np.ndarray, bins: int = 10) -> float:
    """Mean |predicted - observed| frequency of speech over equal-width probability bins, weighted by frames."""
    idx = np.minimum((p * bins).astype(int), bins - 1)
    err = 0.0
    for b in range(bins):
        sel = idx == b
        if sel.any():
            err += sel.sum() * abs(float(p[sel].mean()) - float(truth[sel].mean()))
    return err / max(len(p), 1)
