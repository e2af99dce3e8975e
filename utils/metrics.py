"""Scores and curves of a classifier, in scikit-learn's argument order ``(y_true, y_pred)`` or ``(y_true, scores)``.

Labels are 1-D arrays (or lists, or tensors) of integers in ``[0, n_classes)``; ``scores`` are 1-D floats (higher
means "class 1"); ``probs`` are ``(n, n_classes)`` rows that sum to one within :data:`PROB_SUM_TOLERANCE`. Each
function states its convention where scikit-learn has a choice (``zero_division``, ``average``, the step of the
curves) and equals its scikit-learn twin (``tests/test_metrics.py``). Calibration is in ``utils.calibration``,
paired tests between two models in ``utils.significance``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from utils.checks import check_callable, check_choice, check_int, check_number, describe, fail

__all__ = [
    "PROB_SUM_TOLERANCE", "AVERAGES", "accuracy", "bootstrap_interval", "confusion_matrix", "per_class_scores",
    "precision_recall_f1", "roc_curve", "roc_auc", "precision_recall_curve", "average_precision", "log_loss",
    "brier_score", "expected_cost", "min_cost_threshold",
]

# float32 softmax rounds each of its k outputs by about 6e-8 of itself, so a row of up to ~100 classes sums to one
# within 1e-5; a row further off is not a probability distribution (logits, or a slice of the columns).
PROB_SUM_TOLERANCE = 1e-5
AVERAGES = ("macro", "micro", "weighted")


# --------------------------------------------------------------------------------------------- input checks


def _numpy(values) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def _labels(name: str, values) -> np.ndarray:
    array = _numpy(values)
    if array.ndim != 1 or len(array) == 0:
        fail(f"{name} must be a non-empty 1-D array of labels, got shape {array.shape}", ValueError)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.bool_)):
        fail(f"{name} must hold integer labels, got dtype {array.dtype}", TypeError,
             "turn probabilities into labels first, e.g. probs.argmax(axis=1)")
    if array.min() < 0:
        fail(f"{name} must hold labels >= 0 (class indices), got {int(array.min())}", ValueError)
    return array.astype(np.int64)


def _same_length(name_a: str, a, name_b: str, b) -> None:
    if len(a) != len(b):
        fail(f"{name_a} and {name_b} must have the same length, got {len(a)} and {len(b)}", ValueError,
             "score the same examples in the same order")


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = _labels("y_true", y_true), _labels("y_pred", y_pred)
    _same_length("y_true", y_true, "y_pred", y_pred)
    return y_true, y_pred


def _n_classes(n_classes, *label_arrays) -> int:
    found = max(int(a.max()) for a in label_arrays) + 1
    if n_classes is None:
        return max(found, 2)
    n_classes = check_int("n_classes", n_classes, minimum=2)
    if found > n_classes:
        fail(f"labels must be in [0, n_classes={n_classes}), got the label {found - 1}", ValueError,
             "a label outside the classes: pass the right n_classes, or map the labels to 0..n_classes-1")
    return n_classes


def _scores(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    """Binary ``y_true`` (both classes present) and 1-D finite float ``scores`` of the same length."""
    y_true = _labels("y_true", y_true)
    scores = _numpy(scores)
    if scores.ndim != 1 or not np.issubdtype(scores.dtype, np.number) or np.issubdtype(scores.dtype, np.bool_):
        fail(f"scores must be a 1-D array of numbers, got {describe(scores)}", ValueError,
             "for probabilities (n, 2) pass the column of class 1, probs[:, 1]")
    if not np.all(np.isfinite(scores)):
        fail("scores must be finite, got NaN or infinity", ValueError)
    _same_length("y_true", y_true, "scores", scores)
    if y_true.max() > 1:
        fail(f"y_true must hold binary labels 0 and 1 for a curve, got the label {int(y_true.max())}", ValueError,
             "for more classes score one class against the rest: (y_true == k), probs[:, k]")
    if y_true.min() == y_true.max():
        fail(f"y_true must hold both classes for a curve, got only the class {int(y_true[0])}", ValueError,
             "a ROC or PR curve needs positives and negatives; score a larger sample")
    return y_true, scores.astype(np.float64)


def _probs(y_true, probs) -> tuple[np.ndarray, np.ndarray]:
    """``y_true`` in ``[0, n_classes)`` and ``probs (n, n_classes)`` whose rows sum to one."""
    y_true = _labels("y_true", y_true)
    probs = _numpy(probs)
    if probs.ndim != 2 or probs.shape[1] < 2 or not np.issubdtype(probs.dtype, np.floating):
        fail(f"probs must be a float array (n, n_classes) with n_classes >= 2, got {describe(probs)}", ValueError,
             "for a binary model with one score per row use np.stack([1 - p, p], axis=1)")
    _same_length("y_true", y_true, "probs", probs)
    probs = probs.astype(np.float64)
    if not np.all(np.isfinite(probs)) or probs.min() < 0 or probs.max() > 1:
        fail("probs must be probabilities in [0, 1], got values outside", ValueError,
             "logits? turn them into probabilities with a softmax")
    worst = float(np.abs(probs.sum(axis=1) - 1.0).max())
    if worst > PROB_SUM_TOLERANCE:
        fail(f"probs rows must sum to 1 (within {PROB_SUM_TOLERANCE:g}), got a row {worst:.3g} away", ValueError,
             "normalise them (probs / probs.sum(axis=1, keepdims=True)) or apply a softmax to logits")
    if y_true.max() >= probs.shape[1]:
        fail(f"y_true must be in [0, n_classes={probs.shape[1]}) (the columns of probs), got the label "
             f"{int(y_true.max())}", ValueError)
    return y_true, probs


# --------------------------------------------------------------------------------------------- labels


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
    ``y_pred`` holds labels ``(n,)``, or, for a metric of scores or probabilities (``roc_auc``, ``log_loss``), the
    scores ``(n,)`` or ``(n, n_classes)``. A resample on which ``metric`` returns NaN (undefined there, e.g. a
    ROC-AUC drawn with one class only) is left out; an interval with no defined resample is ``(nan, nan)``.
    """
    y_true = _labels("y_true", y_true)
    y_pred = _numpy(y_pred)
    if metric is accuracy or not np.issubdtype(y_pred.dtype, np.floating):
        y_true, y_pred = _pair(y_true, y_pred)
    _same_length("y_true", y_true, "y_pred", y_pred)
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
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)


def confusion_matrix(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """Counts ``(n_classes, n_classes)`` int64: row = true class, column = predicted class (sklearn's layout).

    ``n_classes`` defaults to the largest label + 1 (at least 2); pass it so a class absent from both arrays still
    gets its row and column, as sklearn's ``labels=range(n_classes)``.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    k = _n_classes(n_classes, y_true, y_pred)
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


def _divide(numerator: np.ndarray, denominator: np.ndarray, zero_division: float) -> np.ndarray:
    """``numerator / denominator``, with ``zero_division`` where the denominator is 0 (an undefined ratio)."""
    out = np.full(numerator.shape, zero_division, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _check_zero_division(zero_division) -> float:
    return check_choice("zero_division", zero_division, (0.0, 1.0))


def per_class_scores(y_true, y_pred, n_classes: int | None = None, zero_division: float = 0.0) -> dict:
    """``{"precision", "recall", "f1", "support"}``, each ``(n_classes,)``: sklearn's ``average=None``.

    Precision of class k = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2 TP / (2 TP + FP + FN); a ratio whose
    denominator is zero (a class never predicted, or absent from ``y_true``) is ``zero_division`` (0.0 or 1.0),
    as in sklearn. ``support`` is the count of each class in ``y_true``.
    """
    matrix = confusion_matrix(y_true, y_pred, n_classes)
    zero_division = _check_zero_division(zero_division)
    tp = np.diag(matrix).astype(np.float64)
    predicted, support = matrix.sum(axis=0), matrix.sum(axis=1)
    return {"precision": _divide(tp, predicted, zero_division), "recall": _divide(tp, support, zero_division),
            "f1": _divide(2 * tp, predicted + support, zero_division), "support": support}


def precision_recall_f1(y_true, y_pred, average: str = "macro", n_classes: int | None = None,
                        zero_division: float = 0.0) -> tuple[float, float, float]:
    """``(precision, recall, f1)`` averaged over the classes: ``average`` is one of :data:`AVERAGES`.

    ``"macro"``: the plain mean of the per-class scores (every class of ``range(n_classes)`` counts, absent ones
    with ``zero_division``); ``"weighted"``: their mean weighted by support; ``"micro"``: the ratios of the summed
    counts (equal to accuracy when every class is counted). Equals sklearn's ``precision_recall_fscore_support``.
    """
    check_choice("average", average, AVERAGES)
    scores = per_class_scores(y_true, y_pred, n_classes, zero_division)
    if average == "micro":
        matrix = confusion_matrix(y_true, y_pred, n_classes)
        tp, total = float(np.trace(matrix)), float(matrix.sum())
        value = tp / total  # summed FP and summed FN both equal total - tp
        return value, value, value
    support = scores["support"]  # sums to n > 0
    weights = support / support.sum() if average == "weighted" else np.full(len(support), 1.0 / len(support))
    return tuple(float(np.sum(weights * scores[name])) for name in ("precision", "recall", "f1"))


# --------------------------------------------------------------------------------------------- curves


def _binary_counts(y_true: np.ndarray, scores: np.ndarray):
    """True and false positives above each distinct score, highest first: ``(tps, fps, thresholds)``."""
    order = np.argsort(-scores, kind="mergesort")
    scores, y_true = scores[order], y_true[order]
    last_of_each = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # ties share one threshold
    tps = np.cumsum(y_true)[last_of_each].astype(np.float64)
    fps = 1.0 + last_of_each - tps
    return tps, fps, scores[last_of_each]


def roc_curve(y_true, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fpr, tpr, thresholds)``, each ``(m + 1,)`` for ``m`` distinct scores; sklearn's ``drop_intermediate=False``.

    Thresholds fall from ``+inf`` (nothing called positive: the point (0, 0)) through every distinct score; the
    point at threshold ``t`` calls ``scores >= t`` positive. ``y_true`` must hold both classes.
    """
    y_true, scores = _scores(y_true, scores)
    tps, fps, thresholds = _binary_counts(y_true, scores)
    tps, fps = np.r_[0.0, tps], np.r_[0.0, fps]
    return fps / fps[-1], tps / tps[-1], np.r_[np.inf, thresholds]


def roc_auc(y_true, scores) -> float:
    """The area under the ROC curve (trapezoids, so a tie counts one half): sklearn's ``roc_auc_score``."""
    fpr, tpr, _ = roc_curve(y_true, scores)
    return float(np.trapezoid(tpr, fpr))


def precision_recall_curve(y_true, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(precision (m + 1,), recall (m + 1,), thresholds (m,))`` in sklearn's convention.

    Thresholds rise through the ``m`` distinct scores; point ``i`` calls ``scores >= thresholds[i]`` positive.
    A last point (precision 1, recall 0) with no threshold closes the curve, so recall falls to 0.
    """
    y_true, scores = _scores(y_true, scores)
    tps, fps, thresholds = _binary_counts(y_true, scores)
    precision, recall = tps / (tps + fps), tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], thresholds[::-1]


def average_precision(y_true, scores) -> float:
    """``sum_n (R_n - R_{n-1}) P_n`` over the PR curve's steps (no interpolation): sklearn's ``average_precision_score``."""
    precision, recall, _ = precision_recall_curve(y_true, scores)
    return float(-np.sum(np.diff(recall) * precision[:-1]))


# --------------------------------------------------------------------------------------------- probabilities


def log_loss(y_true, probs) -> float:
    """The mean of ``-log p[i, y_true[i]]``; ``probs (n, n_classes)`` clipped to ``[eps, 1 - eps]`` (float64 eps), as sklearn."""
    y_true, probs = _probs(y_true, probs)
    eps = np.finfo(np.float64).eps
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y_true)), y_true], eps, 1 - eps))))


def brier_score(y_true, probs) -> float:
    """Brier's (1950) score: the mean over rows of ``sum_k (probs[i, k] - [y_true[i] == k])^2``, in ``[0, 2]``.

    sklearn's ``brier_score_loss(..., scale_by_half=False)``; its default halves the binary score to ``[0, 1]``.
    """
    y_true, probs = _probs(y_true, probs)
    one_hot = np.eye(probs.shape[1])[y_true]  # (n, n_classes)
    return float(np.mean(np.sum((probs - one_hot) ** 2, axis=1)))


# --------------------------------------------------------------------------------------------- costs


def _costs(cost_false_positive, cost_false_negative) -> tuple[float, float]:
    return (check_number("cost_false_positive", cost_false_positive, minimum=0.0),
            check_number("cost_false_negative", cost_false_negative, minimum=0.0))


def expected_cost(y_true, y_pred, cost_false_positive: float, cost_false_negative: float) -> float:
    """The mean cost per example of binary labels ``y_pred``: ``(c_FP * FP + c_FN * FN) / n``."""
    y_true, y_pred = _pair(y_true, y_pred)
    matrix = confusion_matrix(y_true, y_pred, 2)  # raises for a label above 1
    c_fp, c_fn = _costs(cost_false_positive, cost_false_negative)
    return float((c_fp * matrix[0, 1] + c_fn * matrix[1, 0]) / len(y_true))


def min_cost_threshold(y_true, scores, cost_false_positive: float, cost_false_negative: float) -> tuple[float, float]:
    """``(threshold, mean cost)``: the threshold ``t`` (calling ``scores >= t`` positive) of least expected cost.

    Every point of the ROC curve is tried (``+inf``: nothing positive); among equal costs the highest threshold
    wins. With calibrated probabilities the answer approaches Bayes' rule, ``t = c_FP / (c_FP + c_FN)``.
    """
    fpr, tpr, thresholds = roc_curve(y_true, scores)
    c_fp, c_fn = _costs(cost_false_positive, cost_false_negative)
    y_true = _labels("y_true", y_true)
    n_pos, n_neg = int(y_true.sum()), int(len(y_true) - y_true.sum())
    costs = (c_fp * fpr * n_neg + c_fn * (1 - tpr) * n_pos) / len(y_true)  # (m + 1,)
    best = int(np.argmin(costs))
    return float(thresholds[best]), float(costs[best])
