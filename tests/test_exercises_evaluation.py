"""The chapter-9 checkers accept the solutions and reject known-wrong answers with a message that helps."""

import numpy as np
import pytest
from scipy import stats

from utils.exercises import ExerciseError
from utils.exercises.evaluation import check_calibration_error, check_f1_from_confusion, check_mcnemar_pvalue

# ---------------------------------------------------------------- solutions (as in the notebook)


def f1_from_confusion(matrix):
    tp = np.diag(matrix)
    fp = matrix.sum(axis=0) - tp
    fn = matrix.sum(axis=1) - tp
    return 2 * tp / (2 * tp + fp + fn)


def calibration_error(probs, y_true, n_bins):
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == y_true
    edges = np.linspace(0, 1, n_bins + 1)
    error = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        in_bin = (confidence >= low) & (confidence < high)
        if in_bin.any():
            error += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(error)


def mcnemar_pvalue(y_true, pred_a, pred_b):
    b = int(np.sum((pred_a == y_true) & (pred_b != y_true)))
    c = int(np.sum((pred_a != y_true) & (pred_b == y_true)))
    return float(min(1.0, 2 * stats.binom.cdf(min(b, c), b + c, 0.5)))


def test_the_solutions_pass():
    check_f1_from_confusion(f1_from_confusion)
    check_calibration_error(calibration_error)
    check_mcnemar_pvalue(mcnemar_pvalue)


def _precision(matrix):
    tp = np.diag(matrix)
    return np.divide(tp, matrix.sum(0), out=np.zeros(len(tp)), where=matrix.sum(0) > 0)


def _recall(matrix):
    return np.diag(matrix) / matrix.sum(1)


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # the NaN answer is the point of one case
@pytest.mark.parametrize("wrong, message", [
    (lambda m: 2 * _precision(m) * _recall(m) / (_precision(m) + _recall(m)), "NaN"),
    (_precision, "precision"),
    (_recall, "recall"),
    (lambda m: np.full(3, np.trace(m) / m.sum()), "accuracy"),
    (lambda m: f1_from_confusion(m).mean(), "shape"),
    (lambda m: list(f1_from_confusion(m)), "np.array"),
    (lambda m: None, "return"),
])
def test_wrong_f1s_are_explained(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_f1_from_confusion(wrong)


def _unweighted(probs, y_true, n_bins):
    confidence, correct = probs.max(1), probs.argmax(1) == y_true
    index = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    return float(np.mean([abs(correct[index == b].mean() - confidence[index == b].mean())
                          for b in range(n_bins) if np.any(index == b)]))


def _signed(probs, y_true, n_bins):
    confidence, correct = probs.max(1), probs.argmax(1) == y_true
    return float(np.mean(correct) - np.mean(confidence))


@pytest.mark.parametrize("wrong, message", [
    (_unweighted, "weigh each bin"),
    (_signed, "cancel"),
    (lambda p, y, n: calibration_error(np.stack([1 - p[:, 1], p[:, 1]], 1), (y == 1).astype(int), n),
     "not close enough"),
    (lambda p, y, n: None, "None"),
    (lambda p, y, n: np.zeros(n), "single number"),
])
def test_wrong_calibration_errors_are_explained(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_calibration_error(wrong)


def _one_sided(y, a, b):
    b_, c_ = int(np.sum((a == y) & (b != y))), int(np.sum((a != y) & (b == y)))
    return float(stats.binom.cdf(min(b_, c_), b_ + c_, 0.5))


def _disagreements(y, a, b):
    n = int(np.sum(a != b))
    k = int(np.sum((a != b) & (a == y)))
    return float(min(1.0, 2 * stats.binom.cdf(min(k, n - k), n, 0.5)))


def _all_examples(y, a, b):
    b_, c_ = int(np.sum((a == y) & (b != y))), int(np.sum((a != y) & (b == y)))
    return float(min(1.0, 2 * stats.binom.cdf(min(b_, c_), len(y), 0.5)))


@pytest.mark.parametrize("wrong, message", [
    (_one_sided, "one-sided"),
    (_disagreements, "every disagreement"),
    (_all_examples, "discordant"),
    (lambda y, a, b: 0.5, "not close enough"),
    (lambda y, a: 0.5, "3 arguments"),
])
def test_wrong_mcnemar_pvalues_are_explained(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_mcnemar_pvalue(wrong)
