"""Checkers for the exercises of chapter 9, "Evaluating classifiers".

Each checker takes the learner's function, runs it on inputs of its own and compares the result with a reference
computed independently (``utils.metrics.per_class_scores``, pinned to scikit-learn; ``utils.calibration``, pinned to
torchmetrics; ``utils.significance.mcnemar_test``, pinned to statsmodels). A wrong answer raises
:class:`utils.exercises.ExerciseError` saying what is wrong; a right one prints "✓ name: correct".
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from utils.exercises import ExerciseError, _require_function, _require_number, check_close, check_shape

__all__ = ["check_f1_from_confusion", "check_calibration_error", "check_mcnemar_pvalue"]


def _labels_of(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ``(y_true, y_pred)`` pairs a confusion matrix counts (row = true class, column = predicted)."""
    pairs = [(i, j) for (i, j), count in np.ndenumerate(matrix) for _ in range(int(count))]
    y_true, y_pred = zip(*pairs)
    return np.array(y_true), np.array(y_pred)


def check_f1_from_confusion(f1_from_confusion: Callable[[np.ndarray], np.ndarray]) -> None:
    """Exercise 1: ``f1_from_confusion(matrix (k, k)) -> (k,)``, the F1 of each class (row = true class).

    The matrix has a class that is never predicted: its precision is 0/0, and its F1 must be 0.
    """
    from utils.metrics import accuracy, per_class_scores

    name = "f1_from_confusion"
    _require_function(name, f1_from_confusion, ("matrix",))
    matrix = np.array([[50, 8, 2], [11, 30, 0], [6, 3, 0]])  # class 2 is never predicted
    expected = per_class_scores(*_labels_of(matrix), n_classes=3)
    out = f1_from_confusion(matrix.copy())
    check_shape(name, out, (3,))
    out = np.asarray(out, dtype=np.float64)
    if np.any(np.isnan(out)):
        raise ExerciseError(f"{name}: NaN for a class that is never predicted (its precision is 0/0): "
                            "use F1 = 2 TP / (2 TP + FP + FN), which is 0 there")
    for wrong, what in ((expected["precision"], "precision"), (expected["recall"], "recall")):
        if np.allclose(out, wrong):
            raise ExerciseError(f"{name}: this is the {what} of each class; F1 is the harmonic mean of precision "
                                "and recall")
    if np.allclose(out, accuracy(*_labels_of(matrix))):
        raise ExerciseError(f"{name}: this is the accuracy; F1 is per class, from its TP, FP and FN")
    check_close(name, out, expected["f1"], rtol=1e-9, atol=1e-12,
                hint="TP is the diagonal; FP of class k is column k minus TP, FN is row k minus TP")


def check_calibration_error(calibration_error: Callable[[np.ndarray, np.ndarray, int], float]) -> None:
    """Exercise 2: ``calibration_error(probs (n, k), y_true (n,), n_bins) -> float``, the top-label ECE.

    Equal-width bins of the confidence (the largest probability of each row); each bin weighs by its share of the
    examples. Random confidences never land on a bin edge, so ``[lo, hi)`` and ``(lo, hi]`` agree.
    """
    from utils.calibration import expected_calibration_error

    name = "calibration_error"
    _require_function(name, calibration_error, ("probs", "y_true", "n_bins"))
    rng = np.random.default_rng(21)
    logits = rng.normal(size=(400, 3)) * 2.5
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y_true = np.where(rng.random(400) < 0.6, probs.argmax(1), rng.integers(0, 3, 400))
    n_bins = 10
    given = _require_number(name, calibration_error(probs.copy(), y_true.copy(), n_bins))
    expected = expected_calibration_error(y_true, probs, n_bins)
    bins = _bins(probs, y_true, n_bins)
    unweighted = float(np.mean([abs(a - c) for a, c, n in bins if n > 0]))
    signed = float(sum(n * (a - c) for a, c, n in bins) / len(y_true))
    if np.isclose(given, unweighted, atol=1e-9) and not np.isclose(given, expected, atol=1e-9):
        raise ExerciseError(f"{name}: every bin counts equally here; weigh each bin by its share of the examples")
    if np.isclose(abs(given), abs(signed), atol=1e-9) and not np.isclose(given, expected, atol=1e-9):
        raise ExerciseError(f"{name}: the gaps cancel out: take |accuracy - confidence| in each bin")
    check_close(name, given, expected, rtol=1e-9, atol=1e-12,
                hint="the confidence is probs.max(1), and right means probs.argmax(1) == y_true")


def _bins(probs: np.ndarray, y_true: np.ndarray, n_bins: int) -> list[tuple[float, float, int]]:
    confidence, correct = probs.max(1), probs.argmax(1) == y_true
    index = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    return [(float(correct[index == b].mean()) if np.any(index == b) else 0.0,
             float(confidence[index == b].mean()) if np.any(index == b) else 0.0, int(np.sum(index == b)))
            for b in range(n_bins)]


def check_mcnemar_pvalue(mcnemar_pvalue: Callable[[np.ndarray, np.ndarray, np.ndarray], float]) -> None:
    """Exercise 3: ``mcnemar_pvalue(y_true, pred_a, pred_b) -> float``, McNemar's exact two-sided p-value.

    Count ``b`` (A right, B wrong) and ``c`` (A wrong, B right); ``p = min(1, 2 P(X <= min(b, c)))`` with
    ``X ~ Binomial(b + c, 1/2)``. Three classes: two wrong answers can differ and still both be wrong.
    """
    from scipy import stats

    from utils.significance import mcnemar_table, mcnemar_test

    name = "mcnemar_pvalue"
    _require_function(name, mcnemar_pvalue, ("y_true", "pred_a", "pred_b"))
    rng = np.random.default_rng(22)
    y_true = rng.integers(0, 3, 300)
    pred_a = np.where(rng.random(300) < 0.75, y_true, (y_true + rng.integers(1, 3, 300)) % 3)
    pred_b = np.where(rng.random(300) < 0.65, y_true, (y_true + rng.integers(1, 3, 300)) % 3)
    given = _require_number(name, mcnemar_pvalue(y_true.copy(), pred_a.copy(), pred_b.copy()))
    table = mcnemar_table(y_true, pred_a, pred_b)
    expected = mcnemar_test(table).pvalue
    b, c = int(table[0, 1]), int(table[1, 0])
    disagree = int(np.sum(pred_a != pred_b))
    a_wins = int(np.sum((pred_a != pred_b) & (pred_a == y_true)))
    wrong = {
        "you counted every disagreement of the two models; count only where exactly one of them is right":
            min(1.0, 2 * stats.binom.cdf(min(a_wins, disagree - a_wins), disagree, 0.5)),
        "this is the one-sided p-value: double it (and cap it at 1)": stats.binom.cdf(min(b, c), b + c, 0.5),
        "the binomial runs over the b + c discordant examples only, not all of them":
            min(1.0, 2 * stats.binom.cdf(min(b, c), len(y_true), 0.5)),
    }
    for message, value in wrong.items():
        if np.isclose(given, value, rtol=1e-9, atol=1e-300) and not np.isclose(given, expected, rtol=1e-9):
            raise ExerciseError(f"{name}: {message}")
    check_close(name, given, expected, rtol=1e-9, atol=1e-300,
                hint="b and c are the examples where exactly one of the two models is right")
