"""utils.metrics: accuracy equals scikit-learn's; the bootstrap interval equals the percentile formula it states."""

import numpy as np
import pytest
import sklearn.metrics
import torch

from utils.metrics import accuracy, bootstrap_interval


def _labels(n, seed=0, p_correct=0.8):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 3, n)
    y_pred = np.where(rng.random(n) < p_correct, y_true, (y_true + 1) % 3)
    return y_true, y_pred


def test_accuracy_equals_sklearn_for_arrays_lists_and_tensors():
    y_true, y_pred = _labels(500)
    expected = sklearn.metrics.accuracy_score(y_true, y_pred)
    assert accuracy(y_true, y_pred) == expected
    assert accuracy(list(y_true), list(y_pred)) == expected
    assert accuracy(torch.from_numpy(y_true), torch.from_numpy(y_pred)) == expected


def test_bootstrap_interval_is_the_percentile_of_the_stated_resamples():
    y_true, y_pred = _labels(300, seed=1)
    rows = np.random.default_rng(7).integers(0, 300, size=(1000, 300))  # the draws the docstring states
    values = [sklearn.metrics.accuracy_score(y_true[r], y_pred[r]) for r in rows]
    expected = np.quantile(values, [0.025, 0.975])
    low, high = bootstrap_interval(y_true, y_pred, n_resamples=1000, seed=7)
    # The same resamples and the same quantile rule: equal up to float64 rounding of the means (~1e-16).
    assert low == pytest.approx(expected[0], abs=1e-12) and high == pytest.approx(expected[1], abs=1e-12)


def test_bootstrap_interval_of_another_metric_uses_the_same_resamples():
    y_true, y_pred = _labels(200, seed=2)
    f1 = lambda t, p: sklearn.metrics.f1_score(t, p, average="macro")  # noqa: E731
    rows = np.random.default_rng(0).integers(0, 200, size=(200, 200))
    expected = np.quantile([f1(y_true[r], y_pred[r]) for r in rows], [0.05, 0.95])
    assert np.allclose(bootstrap_interval(y_true, y_pred, f1, n_resamples=200, confidence=0.9), expected, atol=1e-12)


def test_bootstrap_interval_width_matches_the_normal_approximation():
    y_true, y_pred = _labels(2000, seed=3)
    p = accuracy(y_true, y_pred)
    low, high = bootstrap_interval(y_true, y_pred, n_resamples=4000)
    normal_width = 2 * 1.96 * np.sqrt(p * (1 - p) / 2000)
    # Each quantile of 4000 resamples is off by a few percent of the width (its own standard error); 10% is safe.
    assert low < p < high
    assert abs((high - low) / normal_width - 1) < 0.10


def test_bootstrap_interval_is_reproducible_and_depends_on_the_seed():
    y_true, y_pred = _labels(100, seed=4)
    assert bootstrap_interval(y_true, y_pred, seed=5) == bootstrap_interval(y_true, y_pred, seed=5)
    assert bootstrap_interval(y_true, y_pred, seed=5) != bootstrap_interval(y_true, y_pred, seed=6)
