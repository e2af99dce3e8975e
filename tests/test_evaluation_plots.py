"""utils.evaluation_plots: each helper returns its figure with labelled axes, and survives the edge cases."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from utils.calibration import reliability_bins  # noqa: E402
from utils.evaluation_plots import (  # noqa: E402
    plot_accuracy_by_group,
    plot_confusion_matrix,
    plot_interval_widths,
    plot_learning_curve,
    plot_pr_curves,
    plot_reliability,
    plot_roc_curves,
)
from utils.metrics import confusion_matrix  # noqa: E402

RNG = np.random.default_rng(0)
Y = RNG.integers(0, 2, 100)
P = np.clip(Y * 0.6 + RNG.random(100) * 0.4, 0, 1)
PROBS = np.stack([1 - P, P], axis=1)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _labelled(fig):
    ax = fig.axes[0]
    return bool(ax.get_xlabel()) and bool(ax.get_ylabel())


@pytest.mark.parametrize("draw", [
    lambda ax: plot_confusion_matrix(confusion_matrix(Y, (P > 0.5).astype(int)), ["neg", "pos"], ax=ax),
    lambda ax: plot_roc_curves({"a": (Y, P), "b": (Y[:50], 1 - P[:50])}, ax=ax),
    lambda ax: plot_pr_curves({"a": (Y, P)}, ax=ax),
    lambda ax: plot_reliability({"a": reliability_bins(Y, PROBS, 10)}, ax=ax),
    lambda ax: plot_interval_widths([50, 100, 400], [0.2, 0.14, 0.07], ax=ax),
    lambda ax: plot_learning_curve({"a": ([10, 100], [0.6, 0.7], [0.5, 0.65], [0.7, 0.75])}, ax=ax),
    lambda ax: plot_accuracy_by_group(["short", "long"], [0.8, 0.7], [0.75, 0.6], [0.85, 0.8], ax=ax),
])
@pytest.mark.parametrize("own_axes", [False, True])
def test_every_helper_returns_its_figure_with_labelled_axes(draw, own_axes):
    ax = plt.subplots()[1] if own_axes else None
    fig = draw(ax)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert _labelled(fig)
    if own_axes:
        assert fig is ax.figure


def test_the_edge_cases_draw_without_error():
    tied = np.full(100, 0.5)  # one threshold only
    assert _labelled(plot_roc_curves({"tied": (Y, tied)}))
    assert _labelled(plot_pr_curves({"tied": (Y, tied)}))
    certain = np.stack([1.0 - Y, Y.astype(float)], axis=1)  # every confidence exactly 1: one bin
    assert _labelled(plot_reliability({"certain": reliability_bins(Y, certain)}))
    assert _labelled(plot_confusion_matrix(np.zeros((3, 3), int), ["a", "b", "c"]))  # nothing counted
    assert _labelled(plot_interval_widths([10], [0.0]))  # one size, a zero width


def test_the_legends_carry_the_areas_and_the_calibration_error():
    fig = plot_roc_curves({"model": (Y, P)})
    assert "AUC" in fig.axes[0].get_legend().get_texts()[0].get_text()
    fig = plot_reliability({"model": reliability_bins(Y, PROBS)})
    assert "ECE" in fig.axes[0].get_legend().get_texts()[0].get_text()
