"""Calibration of a classifier's probabilities: reliability bins, expected calibration error, temperature scaling.

Inputs are ``y_true (n,)`` integer labels and ``probs (n, n_classes)`` rows summing to one (checked as in
``utils.metrics``). The calibration error is *top-label*: each example counts with its largest probability (the
confidence) and whether that class is right. Bins are equal-width, ``[k/M, (k+1)/M)`` for ``k = 0..M-1``, with a
confidence of exactly 1 in a bin of its own, as ``torchmetrics``' ``multiclass_calibration_error`` bins them
(``tests/test_metrics.py`` pins the two together). Temperature scaling (Guo et al., 2017) divides the logits by one
number ``T`` fitted on validation; it changes the confidences, never the predicted class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from utils.checks import check_int, check_number
from utils.metrics import _probs

__all__ = ["ReliabilityBins", "reliability_bins", "expected_calibration_error", "apply_temperature",
           "fit_temperature", "TEMPERATURE_RANGE"]

TEMPERATURE_RANGE = (0.05, 20.0)  # the temperatures fit_temperature searches (a probability of 0.51 at T=20 is 1.0)
_LOG_FLOOR = 1e-12  # probabilities of exactly 0 become log(1e-12) ≈ -27.6: a finite logit, far below the others


@dataclass
class ReliabilityBins:
    """Per bin ``(n_bins + 1,)``: ``lower``/``upper`` edges, mean ``confidence``, ``accuracy`` and ``count``.

    The last bin holds the confidences equal to 1 (``lower == upper == 1``). An empty bin has count 0 and
    confidence and accuracy 0 (it adds nothing to the calibration error).
    """

    lower: np.ndarray
    upper: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray

    @property
    def calibration_error(self) -> float:
        """``sum_b (count_b / n) |accuracy_b - confidence_b|``: the expected calibration error of these bins."""
        weights = self.count / self.count.sum()
        return float(np.sum(weights * np.abs(self.accuracy - self.confidence)))


def reliability_bins(y_true, probs, n_bins: int = 15) -> ReliabilityBins:
    """Top-label reliability bins of ``probs (n, n_classes)`` against ``y_true (n,)``: see the module docstring."""
    y_true, probs = _probs(y_true, probs)
    n_bins = check_int("n_bins", n_bins, minimum=1, maximum=1000)
    confidence, predicted = probs.max(axis=1), probs.argmax(axis=1)  # (n,), (n,)
    correct = (predicted == y_true).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.searchsorted(edges, confidence, side="right") - 1  # in [0, n_bins]; n_bins for confidence 1
    count = np.bincount(index, minlength=n_bins + 1).astype(np.float64)
    safe = np.maximum(count, 1.0)
    return ReliabilityBins(
        lower=edges, upper=np.r_[edges[1:], 1.0], count=count,
        confidence=np.bincount(index, confidence, minlength=n_bins + 1) / safe,
        accuracy=np.bincount(index, correct, minlength=n_bins + 1) / safe,
    )


def expected_calibration_error(y_true, probs, n_bins: int = 15) -> float:
    """Top-label ECE with ``n_bins`` equal-width bins (15: torchmetrics' default and Guo et al.'s): a float in [0, 1]."""
    return reliability_bins(y_true, probs, n_bins).calibration_error


def _log_probs(probs: np.ndarray) -> np.ndarray:
    return np.log(np.clip(probs, _LOG_FLOOR, 1.0))


def _scaled(log_probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log_probs / T)`` row by row, ``(n, n_classes)``, computed stably."""
    z = log_probs / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def apply_temperature(probs, temperature: float) -> np.ndarray:
    """``softmax(log(probs) / temperature)``: the probabilities of logits divided by ``temperature``, ``(n, n_classes)``.

    Dividing the logits by T is the same as dividing ``log(probs)`` by T, since the two differ by a constant per row.
    T > 1 softens every row towards uniform, T < 1 sharpens it; the largest entry of each row stays the largest.
    """
    _, probs = _probs(np.zeros(len(np.asarray(probs)), dtype=np.int64), probs)
    temperature = check_number("temperature", temperature, above=0.0, hint="T > 1 softens, T < 1 sharpens")
    return _scaled(_log_probs(probs), temperature)


def _nll(log_probs: np.ndarray, y_true: np.ndarray, temperature: float) -> float:
    z = log_probs / temperature
    top = z.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(z - top).sum(axis=1))  # (n,)
    return float(np.mean(log_norm - z[np.arange(len(y_true)), y_true]))


def fit_temperature(y_true, probs) -> float:
    """The temperature T in :data:`TEMPERATURE_RANGE` that minimises the log loss of ``apply_temperature(probs, T)``.

    Fit it on the validation split and apply it to the test split. The loss is convex in ``1/T``, so a bounded
    one-dimensional search (SciPy's Brent, on ``log T``, to ``1e-7``) finds the one minimum.
    """
    from scipy.optimize import minimize_scalar

    y_true, probs = _probs(y_true, probs)
    log_probs = _log_probs(probs)
    low, high = np.log(TEMPERATURE_RANGE)
    result = minimize_scalar(lambda log_t: _nll(log_probs, y_true, float(np.exp(log_t))), bounds=(low, high),
                             method="bounded", options={"xatol": 1e-7})
    return float(np.exp(result.x))
