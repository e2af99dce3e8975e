"""Metrics of a classifier, in scikit-learn's argument order ``(y_true, y_pred)``.

For now: :func:`accuracy` and a seeded percentile :func:`bootstrap_interval`; chapter 9 adds the rest. Inputs are
1-D arrays (or lists, or tensors) of integer labels of the same length.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from utils.checks import check_callable, check_int, check_number, fail

__all__ = ["accuracy", "bootstrap_interval"]


def _labels(name: str, values) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.ndim != 1 or len(array) == 0:
        fail(f"{name} must be a non-empty 1-D array of labels, got shape {array.shape}", ValueError)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.bool_)):
        fail(f"{name} must hold integer labels, got dtype {array.dtype}", TypeError,
             "turn probabilities into labels first, e.g. probs.argmax(axis=1)")
    return array


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = _labels("y_true", y_true), _labels("y_pred", y_pred)
    if len(y_true) != len(y_pred):
        fail(f"y_true and y_pred must have the same length, got {len(y_true)} and {len(y_pred)}", ValueError)
    return y_true, y_pred


def accuracy(y_true, y_pred) -> float:
    """The fraction of positions where ``y_pred`` equals ``y_true``; both 1-D int ``(n,)``. Equals sklearn's."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def bootstrap_interval(
    y_true,
    y_pred,
    metric: Callable[[np.ndarray, np.ndarray], float] = accuracy,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """A percentile bootstrap interval of ``metric(y_true, y_pred)``: ``(low, high)``.

    Draws ``n_resamples`` samples of the ``n`` positions with replacement (NumPy's ``default_rng(seed)``), computes
    the metric on each and returns the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles. The same
    seed gives the same interval; the resampling error of each bound shrinks like ``1 / sqrt(n_resamples)``.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    check_callable("metric", metric)
    n_resamples = check_int("n_resamples", n_resamples, minimum=100, hint="a 95% interval needs hundreds of resamples")
    confidence = check_number("confidence", confidence, above=0.0, maximum=0.999)
    seed = check_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(y_true), size=(n_resamples, len(y_true)))  # (n_resamples, n)
    if metric is accuracy:  # vectorised: the mean of the correct flags of each resample
        values = (y_true == y_pred)[rows].mean(axis=1)
    else:
        values = np.array([metric(y_true[r], y_pred[r]) for r in rows])
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)
