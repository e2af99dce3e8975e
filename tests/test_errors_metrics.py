"""Bad input to chapter 9's modules (metrics, calibration, significance, evaluation plots, the exercise checkers)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import utils.calibration as calibration  # noqa: E402
import utils.evaluation_plots as evaluation_plots  # noqa: E402
import utils.metrics as metrics  # noqa: E402
import utils.significance as significance  # noqa: E402
from bad_inputs import BadInput, assert_clear_error, case_id  # noqa: E402

Y = np.array([0, 1, 1, 0])
PROBS = np.array([[0.8, 0.2], [0.3, 0.7], [0.4, 0.6], [0.9, 0.1]])
SCORES = PROBS[:, 1]
UNNORMALISED = PROBS * 1.1


def _axes():
    return plt.subplots()[1]


CASES = [
    BadInput("utils.metrics.confusion_matrix", "a label outside the classes",
             lambda: metrics.confusion_matrix([0, 1, 3], [0, 1, 1], n_classes=3), ValueError, "n_classes"),
    BadInput("utils.metrics.confusion_matrix", "probabilities instead of labels",
             lambda: metrics.confusion_matrix(Y, PROBS), ValueError, "y_pred"),
    BadInput("utils.metrics.confusion_matrix", "a negative label",
             lambda: metrics.confusion_matrix([0, -1], [0, 1]), ValueError, "y_true"),
    BadInput("utils.metrics.per_class_scores", "zero_division='warn' (sklearn's default)",
             lambda: metrics.per_class_scores(Y, Y, zero_division="warn"), ValueError, "zero_division"),
    BadInput("utils.metrics.per_class_scores", "lists of different lengths",
             lambda: metrics.per_class_scores([0, 1, 1], [0, 1]), ValueError, "same length"),
    BadInput("utils.metrics.precision_recall_f1", "average='binary'",
             lambda: metrics.precision_recall_f1(Y, Y, average="binary"), ValueError, "average"),
    BadInput("utils.metrics.precision_recall_f1", "n_classes of one",
             lambda: metrics.precision_recall_f1(Y, Y, n_classes=1), ValueError, "n_classes"),
    BadInput("utils.metrics.roc_curve", "the (n, 2) probabilities instead of one score",
             lambda: metrics.roc_curve(Y, PROBS), ValueError, "probs[:, 1]"),
    BadInput("utils.metrics.roc_curve", "only one class in y_true",
             lambda: metrics.roc_curve([1, 1, 1], [0.1, 0.2, 0.3]), ValueError, "both classes"),
    BadInput("utils.metrics.roc_curve", "three classes", lambda: metrics.roc_curve([0, 1, 2], [0.1, 0.2, 0.3]),
             ValueError, "binary"),
    BadInput("utils.metrics.roc_auc", "a NaN score", lambda: metrics.roc_auc(Y, [0.1, np.nan, 0.2, 0.3]),
             ValueError, "finite"),
    BadInput("utils.metrics.roc_auc", "scores of another length", lambda: metrics.roc_auc(Y, SCORES[:3]),
             ValueError, "same length"),
    BadInput("utils.metrics.precision_recall_curve", "string scores",
             lambda: metrics.precision_recall_curve(Y, np.array(["a", "b", "c", "d"])), ValueError, "scores"),
    BadInput("utils.metrics.average_precision", "only negatives",
             lambda: metrics.average_precision([0, 0], [0.1, 0.9]), ValueError, "both classes"),
    BadInput("utils.metrics.log_loss", "rows that do not sum to one",
             lambda: metrics.log_loss(Y, UNNORMALISED), ValueError, "sum to 1"),
    BadInput("utils.metrics.log_loss", "logits instead of probabilities",
             lambda: metrics.log_loss(Y, np.log(PROBS)), ValueError, "softmax"),
    BadInput("utils.metrics.log_loss", "a label outside the columns",
             lambda: metrics.log_loss([0, 1, 2, 0], PROBS), ValueError, "n_classes"),
    BadInput("utils.metrics.log_loss", "one column of scores", lambda: metrics.log_loss(Y, SCORES), ValueError,
             "np.stack"),
    BadInput("utils.metrics.brier_score", "rows that do not sum to one",
             lambda: metrics.brier_score(Y, UNNORMALISED), ValueError, "sum to 1"),
    BadInput("utils.metrics.brier_score", "labels and probs of different lengths",
             lambda: metrics.brier_score(Y[:3], PROBS), ValueError, "same length"),
    BadInput("utils.metrics.expected_cost", "a negative cost",
             lambda: metrics.expected_cost(Y, Y, -1.0, 1.0), ValueError, "cost_false_positive"),
    BadInput("utils.metrics.expected_cost", "three classes",
             lambda: metrics.expected_cost([0, 2], [0, 1], 1.0, 1.0), ValueError, "n_classes"),
    BadInput("utils.metrics.min_cost_threshold", "a cost given as a string",
             lambda: metrics.min_cost_threshold(Y, SCORES, "50", 1.0), TypeError, "cost_false_positive"),
    BadInput("utils.metrics.min_cost_threshold", "predicted labels where scores go",
             lambda: metrics.min_cost_threshold(Y, [True, False, True, True], 1.0, 1.0), ValueError, "scores"),
    BadInput("utils.metrics.bootstrap_interval", "probabilities with the default metric (accuracy)",
             lambda: metrics.bootstrap_interval(Y, PROBS), ValueError, "y_pred"),
    BadInput("utils.calibration.reliability_bins", "zero bins",
             lambda: calibration.reliability_bins(Y, PROBS, n_bins=0), ValueError, "n_bins"),
    BadInput("utils.calibration.reliability_bins", "rows that do not sum to one",
             lambda: calibration.reliability_bins(Y, UNNORMALISED), ValueError, "sum to 1"),
    BadInput("utils.calibration.expected_calibration_error", "the positive-class column only",
             lambda: calibration.expected_calibration_error(Y, SCORES), ValueError, "probs"),
    BadInput("utils.calibration.expected_calibration_error", "a label outside the classes",
             lambda: calibration.expected_calibration_error([0, 1, 2, 1], PROBS), ValueError, "n_classes"),
    BadInput("utils.calibration.apply_temperature", "a temperature of 0",
             lambda: calibration.apply_temperature(PROBS, 0.0), ValueError, "temperature"),
    BadInput("utils.calibration.apply_temperature", "logits instead of probabilities",
             lambda: calibration.apply_temperature(np.log(PROBS), 2.0), ValueError, "softmax"),
    BadInput("utils.calibration.fit_temperature", "labels and probs of different lengths",
             lambda: calibration.fit_temperature(Y[:2], PROBS), ValueError, "same length"),
    BadInput("utils.calibration.fit_temperature", "probabilities in percent",
             lambda: calibration.fit_temperature(Y, PROBS * 100), ValueError, "probs"),
    BadInput("utils.significance.mcnemar_table", "predictions of different lengths",
             lambda: significance.mcnemar_table(Y, Y, Y[:3]), ValueError, "same length"),
    BadInput("utils.significance.mcnemar_table", "probabilities for model B",
             lambda: significance.mcnemar_table(Y, Y, PROBS[:, 1]), TypeError, "pred_b"),
    BadInput("utils.significance.mcnemar_test", "the predictions instead of the table",
             lambda: significance.mcnemar_test(Y), ValueError, "mcnemar_table"),
    BadInput("utils.significance.mcnemar_test", "rates instead of counts",
             lambda: significance.mcnemar_test(np.array([[0.5, 0.1], [0.2, 0.2]])), ValueError, "counts"),
    BadInput("utils.significance.mcnemar_test", "exact='yes'",
             lambda: significance.mcnemar_test(np.ones((2, 2), int), exact="yes"), TypeError, "exact"),
    BadInput("utils.significance.paired_bootstrap", "a confidence in percent",
             lambda: significance.paired_bootstrap(Y, Y, Y, confidence=95), ValueError, "confidence"),
    BadInput("utils.significance.paired_bootstrap", "a metric name",
             lambda: significance.paired_bootstrap(Y, Y, Y, metric="accuracy"), TypeError, "metric"),
    BadInput("utils.significance.paired_bootstrap", "the models' test sets of different sizes",
             lambda: significance.paired_bootstrap(Y, Y, np.r_[Y, 1]), ValueError, "same length"),
    BadInput("utils.evaluation_plots.plot_confusion_matrix", "a matrix that is not square",
             lambda: evaluation_plots.plot_confusion_matrix(np.ones((2, 3)), ["a", "b"]), ValueError, "matrix"),
    BadInput("utils.evaluation_plots.plot_confusion_matrix", "too few class names",
             lambda: evaluation_plots.plot_confusion_matrix(np.ones((2, 2)), ["a"]), ValueError, "class_names"),
    BadInput("utils.evaluation_plots.plot_confusion_matrix", "a figure instead of axes",
             lambda: evaluation_plots.plot_confusion_matrix(np.ones((2, 2)), ["a", "b"], ax=plt.figure()),
             TypeError, "ax"),
    BadInput("utils.evaluation_plots.plot_roc_curves", "a list instead of a dict of models",
             lambda: evaluation_plots.plot_roc_curves([SCORES]), TypeError, "curves"),
    BadInput("utils.evaluation_plots.plot_roc_curves", "scores of another length",
             lambda: evaluation_plots.plot_roc_curves({"a": (Y, SCORES[:3])}), ValueError, "same length"),
    BadInput("utils.evaluation_plots.plot_pr_curves", "scores without their labels",
             lambda: evaluation_plots.plot_pr_curves({"a": SCORES}), TypeError, "y_true"),
    BadInput("utils.evaluation_plots.plot_pr_curves", "an empty dict",
             lambda: evaluation_plots.plot_pr_curves({}), ValueError, "curves"),
    BadInput("utils.evaluation_plots.plot_reliability", "a probability matrix instead of bins",
             lambda: evaluation_plots.plot_reliability({"a": PROBS}), TypeError, "reliability_bins"),
    BadInput("utils.evaluation_plots.plot_interval_widths", "sizes and widths of different lengths",
             lambda: evaluation_plots.plot_interval_widths([10, 20], [0.1]), ValueError, "same length"),
    BadInput("utils.evaluation_plots.plot_interval_widths", "a test size of 0",
             lambda: evaluation_plots.plot_interval_widths([0, 20], [0.2, 0.1]), ValueError, "sizes"),
    BadInput("utils.evaluation_plots.plot_learning_curve", "a curve of one point",
             lambda: evaluation_plots.plot_learning_curve({"a": ([10], [0.5], [0.4], [0.6])}), ValueError,
             "curves"),
    BadInput("utils.evaluation_plots.plot_learning_curve", "a tuple of two arrays instead of four",
             lambda: evaluation_plots.plot_learning_curve({"a": ([10, 20], [0.5, 0.6])}), ValueError, "curves"),
    BadInput("utils.evaluation_plots.plot_accuracy_by_group", "intervals that miss their accuracy",
             lambda: evaluation_plots.plot_accuracy_by_group(["a"], [0.5], [0.6], [0.7]), ValueError, "low"),
    BadInput("utils.evaluation_plots.plot_accuracy_by_group", "labels and values of different lengths",
             lambda: evaluation_plots.plot_accuracy_by_group(["a", "b"], [0.5], [0.4], [0.6]), ValueError,
             "same length"),
]

NO_BAD_INPUT = {
    "utils.calibration.ReliabilityBins": "a record reliability_bins fills, never from reader input",
    "utils.significance.McNemarResult": "a record mcnemar_test fills, never from reader input",
    "utils.significance.PairedBootstrap": "a record paired_bootstrap fills, never from reader input",
    "utils.exercises.evaluation.check_f1_from_confusion": "checks a learner's function; wrong answers are its "
                                                          "subject (tests/test_exercises_evaluation.py)",
    "utils.exercises.evaluation.check_calibration_error": "as check_f1_from_confusion",
    "utils.exercises.evaluation.check_mcnemar_pvalue": "as check_f1_from_confusion",
}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input_gets_a_clear_error_from_utils(case):
    assert_clear_error(case)
    plt.close("all")
