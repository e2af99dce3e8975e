"""utils.metrics, utils.calibration and utils.significance, each pinned to its library twin.

Twins: scikit-learn (confusion matrix, precision / recall / F1, ROC and PR curves, ROC-AUC, average precision, log
loss, Brier score), torchmetrics (top-label calibration error, equal-width bins), statsmodels (McNemar's exact and
chi-squared tests). Each is compared on random inputs (hypothesis) and on the edge cases of chapter 9: a class
absent from the targets or from the predictions, every prediction one class, tied scores, a single sample.
"""

import warnings

import numpy as np
import pytest
import sklearn.metrics
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.contingency_tables import mcnemar as statsmodels_mcnemar
from torchmetrics.functional.classification import multiclass_calibration_error

from utils.calibration import (
    TEMPERATURE_RANGE,
    ReliabilityBins,
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
)
from utils.metrics import (
    AVERAGES,
    PROB_SUM_TOLERANCE,
    accuracy,
    average_precision,
    bootstrap_interval,
    brier_score,
    confusion_matrix,
    expected_cost,
    log_loss,
    min_cost_threshold,
    per_class_scores,
    precision_recall_curve,
    precision_recall_f1,
    roc_auc,
    roc_curve,
)
from utils.significance import McNemarResult, PairedBootstrap, mcnemar_table, mcnemar_test, paired_bootstrap

FLOAT64_SUMS = 1e-12  # the two sides add the same float64 terms in a different order: ~n eps for n <= 10^4


def _labels(n, seed=0, p_correct=0.8):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 3, n)
    y_pred = np.where(rng.random(n) < p_correct, y_true, (y_true + 1) % 3)
    return y_true, y_pred


def _random_probs(n, k, seed, sharpness=3.0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * sharpness
    probs = np.exp(logits - logits.max(1, keepdims=True))
    return rng.integers(0, k, n), probs / probs.sum(1, keepdims=True)


label_pairs = st.integers(1, 60).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 3), min_size=n, max_size=n), st.lists(st.integers(0, 3), min_size=n, max_size=n)))
binary_scores = st.integers(2, 60).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 1), min_size=n, max_size=n),
    st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.5, 0.75, 0.9, 1.0]) | st.floats(-5, 5), min_size=n,
             max_size=n)))


# ---------------------------------------------------------------------------------------------- accuracy, bootstrap


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


def test_bootstrap_interval_of_a_score_metric_takes_the_scores():
    y_true, probs = _random_probs(300, 2, seed=3)
    rows = np.random.default_rng(0).integers(0, 300, size=(200, 300))
    expected = np.quantile([sklearn.metrics.roc_auc_score(y_true[r], probs[r, 1]) for r in rows], [0.025, 0.975])
    assert np.allclose(bootstrap_interval(y_true, probs[:, 1], roc_auc, n_resamples=200), expected, atol=1e-12)


def test_bootstrap_interval_leaves_out_the_resamples_where_the_metric_is_undefined():
    y_true, scores = np.array([0, 1, 1, 1, 1, 1, 1, 1]), np.linspace(0, 1, 8)
    auc = lambda t, s: roc_auc(t, s) if 0 < t.sum() < len(t) else np.nan  # noqa: E731
    rows = np.random.default_rng(0).integers(0, 8, size=(300, 8))
    defined = [roc_auc(y_true[r], scores[r]) for r in rows if 0 < y_true[r].sum() < 8]
    assert 0 < len(defined) < 300
    expected = np.quantile(defined, [0.025, 0.975])
    assert np.allclose(bootstrap_interval(y_true, scores, auc, n_resamples=300), expected, atol=1e-12)
    assert np.isnan(bootstrap_interval([1, 1], [0.2, 0.3], auc, n_resamples=100)).all()


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


# ---------------------------------------------------------------------------------------------- labels


@settings(max_examples=150, deadline=None)
@given(label_pairs, st.sampled_from([0.0, 1.0]))
def test_confusion_matrix_and_per_class_scores_equal_sklearn(pair, zero_division):
    y_true, y_pred = map(np.array, pair)
    labels = list(range(4))  # class 3 is often absent from one side or both
    assert np.array_equal(confusion_matrix(y_true, y_pred, 4), sklearn.metrics.confusion_matrix(y_true, y_pred,
                                                                                                  labels=labels))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, r, f, s = sklearn.metrics.precision_recall_fscore_support(y_true, y_pred, labels=labels,
                                                                     zero_division=zero_division)
    ours = per_class_scores(y_true, y_pred, 4, zero_division)
    for name, expected in zip(("precision", "recall", "f1", "support"), (p, r, f, s)):
        assert np.allclose(ours[name], expected, rtol=0, atol=FLOAT64_SUMS), name


@settings(max_examples=150, deadline=None)
@given(label_pairs, st.sampled_from(AVERAGES), st.sampled_from([0.0, 1.0]))
def test_averaged_precision_recall_f1_equal_sklearn(pair, average, zero_division):
    y_true, y_pred = map(np.array, pair)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = sklearn.metrics.precision_recall_fscore_support(y_true, y_pred, labels=list(range(4)),
                                                                   average=average, zero_division=zero_division)[:3]
    assert np.allclose(precision_recall_f1(y_true, y_pred, average, 4, zero_division), expected, rtol=0,
                       atol=FLOAT64_SUMS)


@pytest.mark.parametrize("y_true, y_pred", [
    ([0, 0, 1, 1], [0, 0, 0, 0]),  # every prediction one class: class 1 never predicted
    ([0, 0, 0, 0], [0, 1, 0, 1]),  # class 1 absent from the targets
    ([1], [1]),  # a single sample
    ([2], [0]),  # a single sample, wrong, classes 1 and 2 absent from one side
])
def test_the_edge_cases_equal_sklearn_with_zero_division_stated(y_true, y_pred):
    for zero_division in (0.0, 1.0):
        for average in AVERAGES:
            expected = sklearn.metrics.precision_recall_fscore_support(y_true, y_pred, labels=[0, 1, 2],
                                                                       average=average, zero_division=zero_division)
            assert np.allclose(precision_recall_f1(y_true, y_pred, average, 3, zero_division), expected[:3])
    assert np.array_equal(confusion_matrix(y_true, y_pred, 3),
                          sklearn.metrics.confusion_matrix(y_true, y_pred, labels=[0, 1, 2]))


def test_micro_average_is_accuracy_and_f1_is_the_harmonic_mean():
    y_true, y_pred = _labels(400, seed=5, p_correct=0.6)
    assert precision_recall_f1(y_true, y_pred, "micro") == pytest.approx((accuracy(y_true, y_pred),) * 3)
    scores = per_class_scores(y_true, y_pred)
    harmonic = 2 * scores["precision"] * scores["recall"] / (scores["precision"] + scores["recall"])
    assert np.allclose(scores["f1"], harmonic, atol=FLOAT64_SUMS)


# ---------------------------------------------------------------------------------------------- curves


def _both_classes(y_true):
    return 0 < sum(y_true) < len(y_true)


@settings(max_examples=200, deadline=None)
@given(binary_scores)
def test_roc_and_pr_curves_and_their_areas_equal_sklearn(pair):
    y_true, scores = np.array(pair[0]), np.array(pair[1], dtype=float)
    if not _both_classes(y_true):
        with pytest.raises(ValueError, match="both classes"):
            roc_curve(y_true, scores)
        return
    for ours, theirs in zip(roc_curve(y_true, scores),
                            sklearn.metrics.roc_curve(y_true, scores, drop_intermediate=False)):
        assert np.allclose(ours, theirs, rtol=0, atol=FLOAT64_SUMS)
    for ours, theirs in zip(precision_recall_curve(y_true, scores),
                            sklearn.metrics.precision_recall_curve(y_true, scores)):
        assert np.allclose(ours, theirs, rtol=0, atol=FLOAT64_SUMS)
    assert roc_auc(y_true, scores) == pytest.approx(sklearn.metrics.roc_auc_score(y_true, scores), abs=FLOAT64_SUMS)
    assert average_precision(y_true, scores) == pytest.approx(
        sklearn.metrics.average_precision_score(y_true, scores), abs=FLOAT64_SUMS)


def test_tied_scores_count_one_half_in_the_auc():
    y_true, scores = np.array([0, 1, 0, 1]), np.array([0.5, 0.5, 0.5, 0.5])
    assert roc_auc(y_true, scores) == 0.5 == sklearn.metrics.roc_auc_score(y_true, scores)
    assert average_precision(y_true, scores) == 0.5 == sklearn.metrics.average_precision_score(y_true, scores)


def test_auc_is_the_probability_that_a_positive_outranks_a_negative():
    y_true, probs = _random_probs(300, 2, seed=6)
    pos, neg = probs[y_true == 1, 1], probs[y_true == 0, 1]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()  # Mann-Whitney
    assert roc_auc(y_true, probs[:, 1]) == pytest.approx(pairs, abs=FLOAT64_SUMS)


def test_a_curve_of_one_class_is_refused_where_sklearn_warns():
    with pytest.warns(Warning):
        sklearn.metrics.roc_curve([1, 1, 1], [0.2, 0.5, 0.9])
    with pytest.raises(ValueError, match="both classes"):
        roc_curve([1, 1, 1], [0.2, 0.5, 0.9])
    with pytest.raises(ValueError, match="both classes"):
        average_precision([0], [0.3])  # a single sample


# ---------------------------------------------------------------------------------------------- probabilities


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 80), st.integers(2, 5), st.integers(0, 10_000))
def test_log_loss_and_brier_score_equal_sklearn(n, k, seed):
    y_true, probs = _random_probs(n, k, seed, sharpness=8.0)  # sharp: some probabilities underflow towards 0
    labels = list(range(k))
    assert log_loss(y_true, probs) == pytest.approx(sklearn.metrics.log_loss(y_true, probs, labels=labels),
                                                    rel=1e-12, abs=1e-12)
    assert brier_score(y_true, probs) == pytest.approx(
        sklearn.metrics.brier_score_loss(y_true, probs, labels=labels, scale_by_half=False), rel=1e-12, abs=1e-12)


def test_a_certain_wrong_answer_costs_log_of_eps_as_in_sklearn():
    y_true, probs = np.array([0, 1]), np.array([[0.0, 1.0], [0.0, 1.0]])
    assert log_loss(y_true, probs) == pytest.approx(sklearn.metrics.log_loss(y_true, probs), rel=1e-12)
    assert log_loss(y_true, probs) == pytest.approx(-np.log(np.finfo(float).eps) / 2, rel=1e-12)


def test_rows_within_the_stated_tolerance_are_accepted():
    probs = np.array([[0.3, 0.7 + 0.5 * PROB_SUM_TOLERANCE]])
    assert log_loss([1], probs) == pytest.approx(-np.log(probs[0, 1]))


# ---------------------------------------------------------------------------------------------- costs


def test_the_min_cost_threshold_beats_every_other_threshold():
    y_true, probs = _random_probs(400, 2, seed=7)
    threshold, cost = min_cost_threshold(y_true, probs[:, 1], cost_false_positive=50.0, cost_false_negative=1.0)
    brute = {t: expected_cost(y_true, (probs[:, 1] >= t).astype(int), 50.0, 1.0) for t in np.r_[probs[:, 1], 2.0]}
    assert cost == pytest.approx(min(brute.values()), abs=FLOAT64_SUMS)
    assert expected_cost(y_true, (probs[:, 1] >= threshold).astype(int), 50.0, 1.0) == pytest.approx(cost)


def test_expected_cost_counts_each_error_at_its_price():
    assert expected_cost([0, 0, 1, 1], [1, 0, 0, 1], 50.0, 1.0) == pytest.approx((50 + 1) / 4)


def test_with_calibrated_probabilities_the_threshold_approaches_bayes_rule():
    rng = np.random.default_rng(8)
    p = rng.random(200_000)
    y_true = (rng.random(200_000) < p).astype(int)  # calibrated by construction
    threshold, _ = min_cost_threshold(y_true, p, cost_false_positive=4.0, cost_false_negative=1.0)
    assert threshold == pytest.approx(4.0 / 5.0, abs=0.01)  # the cost curve is flat near its minimum


# ---------------------------------------------------------------------------------------------- calibration


def _torchmetrics_ece(y_true, probs, n_bins):
    return float(multiclass_calibration_error(torch.tensor(probs, dtype=torch.float32), torch.tensor(y_true),
                                              num_classes=probs.shape[1], n_bins=n_bins, norm="l1"))


# torchmetrics bins float32 confidences and sums in float32: about n * 6e-8 for n <= 1000 samples.
TORCHMETRICS_FLOAT32 = 1e-4


@pytest.mark.parametrize("n, k, n_bins, seed", [(1, 2, 15, 0), (7, 3, 10, 1), (500, 2, 15, 2), (800, 5, 20, 3),
                                                (300, 10, 5, 4), (1000, 3, 1, 5)])
def test_expected_calibration_error_equals_torchmetrics(n, k, n_bins, seed):
    y_true, probs = _random_probs(n, k, seed)
    probs = probs.astype(np.float32).astype(np.float64)  # the confidences torchmetrics sees, so the bins agree
    probs /= probs.sum(1, keepdims=True)
    ours = expected_calibration_error(y_true, probs, n_bins)
    assert ours == pytest.approx(_torchmetrics_ece(y_true, probs, n_bins), abs=TORCHMETRICS_FLOAT32)


def test_calibration_edges_equal_torchmetrics_confidence_one_and_bin_edges():
    probs = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.25, 0.75], [0.75, 0.25], [0.2, 0.8]])
    y_true = np.array([1, 1, 0, 1, 0, 0])
    for n_bins in (2, 4, 5, 15):
        assert expected_calibration_error(y_true, probs, n_bins) == pytest.approx(
            _torchmetrics_ece(y_true, probs, n_bins), abs=1e-6)


def test_reliability_bins_follow_the_stated_convention():
    probs = np.array([[0.4, 0.6], [0.1, 0.9], [0.0, 1.0], [0.5, 0.5]])
    bins = reliability_bins(np.array([1, 0, 1, 1]), probs, n_bins=2)
    assert isinstance(bins, ReliabilityBins)
    assert np.array_equal(bins.count, [0, 3, 1])  # [0, .5), [.5, 1), and the confidence 1 alone
    assert bins.confidence[1] == pytest.approx((0.6 + 0.9 + 0.5) / 3)
    # argmax of the tie [0.5, 0.5] is class 0, wrong here; 0.6 right; 0.9 wrong
    assert bins.accuracy[1] == pytest.approx(1 / 3) and bins.accuracy[2] == 1.0
    assert bins.calibration_error == pytest.approx(3 / 4 * abs(1 / 3 - 2 / 3))


def test_a_perfectly_calibrated_model_has_a_small_ece_and_a_confident_wrong_one_a_large_one():
    rng = np.random.default_rng(9)
    p = rng.uniform(0.5, 1.0, 50_000)
    y_true = (rng.random(50_000) < p).astype(int)
    probs = np.stack([1 - p, p], axis=1)
    assert expected_calibration_error(y_true, probs) < 0.01  # the sampling noise of 50,000 examples
    assert expected_calibration_error(1 - y_true, probs) > 0.5


def _torch_temperature(y_true, probs):
    """Guo et al.'s recipe with torch's LBFGS on log T: an independent fit."""
    logits = torch.log(torch.tensor(probs).clamp(min=1e-12))
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=200, tolerance_grad=1e-12, tolerance_change=1e-14)
    target = torch.tensor(y_true)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), target)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp())


@pytest.mark.parametrize("sharpness, seed", [(6.0, 10), (0.5, 11)])
def test_fit_temperature_equals_an_lbfgs_fit_and_lowers_the_log_loss(sharpness, seed):
    rng = np.random.default_rng(seed)
    y_true, probs = _random_probs(600, 3, seed, sharpness=sharpness)
    y_true = np.where(rng.random(600) < 0.7, probs.argmax(1), y_true)  # right 70%+ of the time
    temperature = fit_temperature(y_true, probs)
    assert temperature == pytest.approx(_torch_temperature(y_true, probs), rel=1e-4)
    assert TEMPERATURE_RANGE[0] < temperature < TEMPERATURE_RANGE[1]
    assert log_loss(y_true, apply_temperature(probs, temperature)) <= log_loss(y_true, probs)
    assert (sharpness > 1) == (temperature > 1)  # over-confident logits get softened, timid ones sharpened


def test_apply_temperature_keeps_the_predicted_class_and_one_is_the_identity():
    _, probs = _random_probs(50, 4, seed=12)
    assert np.allclose(apply_temperature(probs, 1.0), probs, atol=1e-12)
    softened = apply_temperature(probs, 3.0)
    assert np.array_equal(softened.argmax(1), probs.argmax(1))
    assert np.all(softened.max(1) <= probs.max(1) + 1e-12)
    logits = np.log(probs)
    expected = torch.softmax(torch.tensor(logits) / 3.0, dim=1).numpy()
    assert np.allclose(softened, expected, atol=1e-12)


# ---------------------------------------------------------------------------------------------- significance


tables = st.tuples(*[st.integers(0, 40)] * 4).map(lambda t: np.array(t).reshape(2, 2))


@settings(max_examples=200, deadline=None)
@given(tables, st.booleans(), st.booleans())
def test_mcnemar_equals_statsmodels(table, exact, correction):
    ours = mcnemar_test(table, exact=exact, correction=correction)
    assert isinstance(ours, McNemarResult)
    if not exact and table[0, 1] + table[1, 0] == 0:  # statsmodels divides by zero here; we say "no evidence"
        assert (ours.statistic, ours.pvalue) == (0.0, 1.0)
        return
    theirs = statsmodels_mcnemar(table, exact=exact, correction=correction)
    assert ours.statistic == pytest.approx(float(theirs.statistic), rel=1e-12)
    assert ours.pvalue == pytest.approx(float(theirs.pvalue), rel=1e-10, abs=1e-300)


def test_mcnemar_table_counts_the_four_kinds_of_example():
    y_true = np.array([0, 1, 1, 0, 1, 0])
    pred_a = np.array([0, 1, 0, 1, 1, 0])  # right, right, wrong, wrong, right, right
    pred_b = np.array([0, 0, 1, 1, 1, 1])  # right, wrong, right, wrong, right, wrong
    assert np.array_equal(mcnemar_table(y_true, pred_a, pred_b), [[2, 2], [1, 1]])
    assert mcnemar_test(mcnemar_table(y_true, pred_a, pred_a)).pvalue == 1.0  # a model against itself


def test_paired_bootstrap_uses_the_stated_resamples_and_agrees_with_mcnemar():
    rng = np.random.default_rng(13)
    y_true = rng.integers(0, 2, 800)
    pred_a = np.where(rng.random(800) < 0.85, y_true, 1 - y_true)
    pred_b = np.where(rng.random(800) < 0.80, y_true, 1 - y_true)
    result = paired_bootstrap(y_true, pred_a, pred_b, n_resamples=1000, seed=3)
    assert isinstance(result, PairedBootstrap)
    rows = np.random.default_rng(3).integers(0, 800, size=(1000, 800))
    diffs = [accuracy(y_true[r], pred_a[r]) - accuracy(y_true[r], pred_b[r]) for r in rows]
    assert result.difference == pytest.approx(accuracy(y_true, pred_a) - accuracy(y_true, pred_b), abs=1e-15)
    assert (result.low, result.high) == pytest.approx(tuple(np.quantile(diffs, [0.025, 0.975])), abs=1e-12)
    expected_p = min(1.0, 2 * min(np.mean(np.array(diffs) <= 0), np.mean(np.array(diffs) >= 0)))
    assert result.pvalue == pytest.approx(expected_p, abs=1e-12)
    # Both test the same null; on 800 examples their p-values agree to within a factor of a few.
    mcnemar_p = mcnemar_test(mcnemar_table(y_true, pred_a, pred_b), exact=False).pvalue
    assert 0.2 < (result.pvalue + 1e-3) / (mcnemar_p + 1e-3) < 5


def test_paired_bootstrap_of_a_model_against_itself_finds_nothing():
    y_true, y_pred = _labels(200, seed=14)
    result = paired_bootstrap(y_true, y_pred, y_pred)
    assert (result.difference, result.low, result.high, result.pvalue) == (0.0, 0.0, 0.0, 1.0)


def test_paired_bootstrap_with_another_metric():
    y_true, y_pred = _labels(150, seed=15)
    f1 = lambda t, p: precision_recall_f1(t, p, "macro", 3)[2]  # noqa: E731
    result = paired_bootstrap(y_true, y_pred, y_true, metric=f1, n_resamples=200)
    assert result.difference == pytest.approx(f1(y_true, y_pred) - 1.0)
    assert result.high < 0 and result.pvalue < 0.01
