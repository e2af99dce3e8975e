"""Chapter 9's plots: confusion matrix, ROC and PR curves, reliability diagrams, interval widths, learning curves.

Each helper draws on ``ax`` (one matplotlib ``Axes``; a new figure of the book's size when None), labels its axes
and returns the ``Figure``. They use ``utils.plotting``'s style and colours and compute nothing a reader should
not see: the curves come from ``utils.metrics``, the bins from ``utils.calibration``.
"""

from __future__ import annotations

import numpy as np

from utils.calibration import ReliabilityBins
from utils.checks import describe, fail
from utils.metrics import average_precision, precision_recall_curve, roc_auc, roc_curve
from utils.plotting import BOOK_COLORS, _check_axes, _check_dict, new_figure

__all__ = ["plot_confusion_matrix", "plot_roc_curves", "plot_pr_curves", "plot_reliability",
           "plot_interval_widths", "plot_learning_curve", "plot_accuracy_by_group"]


def _axes(ax, width: str = "half", height: float = 3.2):
    if ax is None:
        return new_figure(width, height)[1]
    _check_axes(ax)
    return ax


def _numbers(name: str, values) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        fail(f"{name} must be numbers, got {describe(values)}", ValueError)
    if array.ndim != 1 or len(array) == 0:
        fail(f"{name} must be a non-empty 1-D list of numbers, got shape {array.shape}", ValueError)
    return array


def _same_lengths(**arrays) -> None:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        fail(f"{', '.join(lengths)} must have the same length, got {lengths}", ValueError)


def plot_confusion_matrix(matrix, class_names, ax=None, title: str = ""):
    """A ``(k, k)`` confusion matrix (row = true, column = predicted) coloured by row share, counts written in."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] < 2:
        fail(f"matrix must be a square (k, k) table of counts with k >= 2, got shape {matrix.shape}", ValueError,
             "pass utils.metrics.confusion_matrix(y_true, y_pred)")
    if len(class_names) != matrix.shape[0]:
        fail(f"class_names must name the {matrix.shape[0]} classes, got {len(class_names)}", ValueError)
    ax = _axes(ax)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    ax.imshow(shares, vmin=0.0, vmax=1.0, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, f"{count:,}", ha="center", va="center", color="white" if shares[i, j] > 0.6 else "black")
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names)
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.grid(False)
    if title:
        ax.set_title(title)
    return ax.figure


def _curves(curves) -> dict:
    _check_dict("curves", curves, "{'tf-idf': (y_true, probs[:, 1])}")
    for name, curve in curves.items():
        if not isinstance(curve, (tuple, list)) or len(curve) != 2:
            fail(f"curves[{name!r}] must be a pair (y_true, scores), got {describe(curve)}", TypeError,
                 "each model brings its own labels, so models scored on different examples share a plot")
        y_true, scores = curve
        if len(np.asarray(y_true)) != len(np.asarray(scores)):
            fail(f"y_true and the scores of {name!r} must have the same length, got {len(np.asarray(y_true))} "
                 f"and {len(np.asarray(scores))}", ValueError)
    return curves


def plot_roc_curves(curves: dict, ax=None):
    """One ROC curve per model, ``{name: (y_true (n,), scores (n,))}``, its AUC in the legend, and the diagonal."""
    curves = _curves(curves)
    ax = _axes(ax)
    for (name, (y_true, scores)), color in zip(curves.items(), BOOK_COLORS * 2):
        fpr, tpr, _ = roc_curve(y_true, scores)
        ax.plot(fpr, tpr, color=color, linewidth=1.3, label=f"{name} (AUC {roc_auc(y_true, scores):.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey", linewidth=1, label="chance")
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate (recall)")
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize=7, frameon=True, framealpha=0.85)
    return ax.figure


def plot_pr_curves(curves: dict, ax=None):
    """One precision-recall curve per model, ``{name: (y_true, scores)}`` (steps, as average precision sums them).

    The dotted line is the share of positives of the first model's examples: the precision of guessing.
    """
    curves = _curves(curves)
    ax = _axes(ax)
    for (name, (y_true, scores)), color in zip(curves.items(), BOOK_COLORS * 2):
        precision, recall, _ = precision_recall_curve(y_true, scores)
        ax.step(recall, precision, where="post", color=color, linewidth=1.3,
                label=f"{name} (AP {average_precision(y_true, scores):.3f})")
    prevalence = float(np.mean(np.asarray(next(iter(curves.values()))[0]) == 1))
    ax.axhline(prevalence, linestyle=":", color="grey", linewidth=1, label=f"chance ({prevalence:.2f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_ylim(min(prevalence, 0.5) - 0.05, 1.02)
    ax.legend(loc="lower left", fontsize=7, frameon=True, framealpha=0.85)
    return ax.figure


def plot_reliability(bins_by_model: dict, ax=None):
    """Reliability diagram: accuracy against mean confidence per non-empty bin, one line per model, the diagonal."""
    _check_dict("bins_by_model", bins_by_model, "{'MiniLM': reliability_bins(y_true, probs)}")
    for name, bins in bins_by_model.items():
        if not isinstance(bins, ReliabilityBins):
            fail(f"bins_by_model[{name!r}] must be a ReliabilityBins, got {describe(bins)}", TypeError,
                 "pass utils.calibration.reliability_bins(y_true, probs)")
    ax = _axes(ax)
    for (name, bins), color in zip(bins_by_model.items(), BOOK_COLORS * 2):
        used = bins.count > 0
        ax.plot(bins.confidence[used], bins.accuracy[used], "o-", color=color, markersize=3,
                label=f"{name} (ECE {bins.calibration_error:.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey", linewidth=1, label="perfect calibration")
    ax.set_xlabel("confidence (mean of the bin)")
    ax.set_ylabel("accuracy in the bin")
    ax.set_xlim(0.45, 1.02)
    ax.set_ylim(0.0, 1.02)
    ax.legend(loc="lower right", fontsize=7, frameon=True, framealpha=0.85)
    return ax.figure


def plot_interval_widths(sizes, widths, ax=None):
    """The width of a 95% interval against the test size (log-log), with the ``1/sqrt(n)`` line through the largest."""
    sizes, widths = _numbers("sizes", sizes), _numbers("widths", widths)
    _same_lengths(sizes=sizes, widths=widths)
    if sizes.min() <= 0 or widths.min() < 0:
        fail(f"sizes must be > 0 and widths >= 0, got sizes from {sizes.min():g}", ValueError)
    ax = _axes(ax)
    ax.loglog(sizes, widths, "o-", label="bootstrap 95% interval")
    reference = widths[np.argmax(sizes)] * np.sqrt(sizes.max() / sizes)
    ax.loglog(sizes, reference, ":", color="grey", label=r"$\propto 1/\sqrt{n}$")
    ax.set_xlabel("test examples n")
    ax.set_ylabel("interval width (accuracy)")
    ax.legend(fontsize=8)
    return ax.figure


def plot_learning_curve(curves: dict, ax=None):
    """Accuracy against training-set size (log x): ``{name: (sizes, accuracy, low, high)}``, a band for the interval."""
    _check_dict("curves", curves, "{'TF-IDF': (sizes, accuracy, low, high)}")
    ax = _axes(ax)
    for (name, curve), color in zip(curves.items(), BOOK_COLORS * 2):
        if not isinstance(curve, (tuple, list)) or len(curve) != 4:
            fail(f"curves[{name!r}] must be (sizes, accuracy, low, high), got {describe(curve)}", ValueError)
        sizes, acc, low, high = (_numbers(f"curves[{name!r}]", c) for c in curve)
        _same_lengths(sizes=sizes, accuracy=acc, low=low, high=high)
        if len(sizes) < 2:
            fail(f"curves[{name!r}] needs at least two training sizes, got {len(sizes)}", ValueError)
        ax.plot(sizes, acc, "o-", color=color, label=name)
        ax.fill_between(sizes, low, high, color=color, alpha=0.15)
    ax.set_xscale("log")
    ax.set_xlabel("training sentences")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=8)
    return ax.figure


def plot_accuracy_by_group(group_labels, accuracies, lows, highs, ax=None, xlabel: str = "group"):
    """Accuracy per group (sentence length, rating strength) with its interval as an error bar."""
    acc, low, high = _numbers("accuracies", accuracies), _numbers("lows", lows), _numbers("highs", highs)
    _same_lengths(group_labels=list(group_labels), accuracies=acc, lows=low, highs=high)
    if np.any(low > acc + 1e-12) or np.any(high < acc - 1e-12):
        fail("lows and highs must bracket each accuracy (low <= accuracy <= high)", ValueError,
             "pass the bounds in the order low, high")
    ax = _axes(ax)
    x = np.arange(len(acc))
    ax.bar(x, acc, color=BOOK_COLORS[0], alpha=0.8)
    ax.errorbar(x, acc, yerr=[acc - low, high - acc], fmt="none", color="black", capsize=3, linewidth=1)
    ax.set_xticks(x, [str(g) for g in group_labels])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(max(0.0, float(low.min()) - 0.1), 1.0)
    return ax.figure
