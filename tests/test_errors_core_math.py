"""Bad input to chapter 2's losses, optimizers and checkers, and to the book's plot helpers: a clear error, raised
in utils, that names the argument."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import utils.exercises.neural_networks as nn_checks  # noqa: E402
import utils.losses as losses  # noqa: E402
import utils.optim as optim  # noqa: E402
import utils.plotting as plotting  # noqa: E402
from bad_inputs import BadInput, assert_clear_error, case_id  # noqa: E402
from utils.exercises import ExerciseError  # noqa: E402
from utils.training import History, StepHistory  # noqa: E402

LOGITS = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))  # (B, C) = (4, 3)
LABELS = torch.tensor([0, 2, 1, 0])  # (B,) class ids


def _params():
    return [nn.Parameter(torch.zeros(2))]


def _consumed_generator():
    params = nn.Linear(2, 2).parameters()
    list(params)  # a first optimizer took them all
    return params


def _optimizer():
    return optim.SGD(_params(), lr=0.1)


def _on_axes(draw):
    """Call ``draw(ax)`` on a fresh figure and close it whatever happens."""
    fig, ax = plotting.new_figure()
    try:
        return draw(ax)
    finally:
        plt.close(fig)


def _in_figure(draw):
    """Call ``draw(fig)`` with a figure (a slip for its axes) and close it whatever happens."""
    fig, _ = plotting.new_figure()
    try:
        return draw(fig)
    finally:
        plt.close(fig)


CASES = [
    # losses: dtypes, dims, shapes and ranges
    BadInput("utils.losses.logsumexp", "integer logits", lambda: losses.logsumexp(torch.ones(2, 3, dtype=torch.long)),
             TypeError, ".float()"),
    BadInput("utils.losses.logsumexp", "a dim the tensor lacks", lambda: losses.logsumexp(LOGITS, dim=2),
             ValueError, "dim"),
    BadInput("utils.losses.log_softmax", "a list instead of a tensor", lambda: losses.log_softmax([1.0, 2.0]),
             TypeError, "x"),
    BadInput("utils.losses.log_softmax", "a float dim", lambda: losses.log_softmax(LOGITS, dim=1.0), TypeError, "dim"),
    BadInput("utils.losses.softmax", "integer scores", lambda: losses.softmax(torch.arange(3)), TypeError, "x"),
    BadInput("utils.losses.softmax", "a dim past the last", lambda: losses.softmax(LOGITS, dim=-3), ValueError, "dim"),
    BadInput("utils.losses.cross_entropy", "class labels out of range", lambda: losses.cross_entropy(
        LOGITS, torch.tensor([0, 3, 1, 0])), ValueError, "n_classes"),
    BadInput("utils.losses.cross_entropy", "a negative label that is not ignore_index", lambda: losses.cross_entropy(
        LOGITS, torch.tensor([0, -1, 1, 0])), ValueError, "targets"),
    BadInput("utils.losses.cross_entropy", "float class labels", lambda: losses.cross_entropy(LOGITS, LABELS.float()),
             ValueError, ".long()"),
    BadInput("utils.losses.cross_entropy", "int32 class labels", lambda: losses.cross_entropy(LOGITS, LABELS.int()),
             TypeError, ".long()"),
    BadInput("utils.losses.cross_entropy", "logits and targets of different batch sizes",
             lambda: losses.cross_entropy(LOGITS, LABELS[:3]), ValueError, "targets"),
    BadInput("utils.losses.cross_entropy", "the arguments swapped", lambda: losses.cross_entropy(LABELS, LOGITS),
             TypeError, "logits"),
    BadInput("utils.losses.cross_entropy", "targets as a list", lambda: losses.cross_entropy(LOGITS, [0, 2, 1, 0]),
             TypeError, "targets"),
    BadInput("utils.losses.cross_entropy", "ignore_index as None", lambda: losses.cross_entropy(
        LOGITS, LABELS, ignore_index=None), TypeError, "ignore_index"),
    BadInput("utils.losses.mse_loss", "shapes (N, 1) and (N,)", lambda: losses.mse_loss(torch.zeros(4, 1),
             torch.zeros(4)), ValueError, "predictions and targets"),
    BadInput("utils.losses.mse_loss", "integer targets", lambda: losses.mse_loss(torch.zeros(4), torch.zeros(
        4, dtype=torch.long)), TypeError, "targets"),
    # optimizers: parameters and hyperparameters
    BadInput("utils.optim.SGD", "a negative learning rate", lambda: optim.SGD(_params(), lr=-0.1), ValueError, "lr"),
    BadInput("utils.optim.SGD", "a zero learning rate", lambda: optim.SGD(_params(), lr=0), ValueError, "lr"),
    BadInput("utils.optim.SGD", "a learning rate given as text", lambda: optim.SGD(_params(), lr="0.1"),
             TypeError, "lr"),
    BadInput("utils.optim.SGD", "a momentum of 1", lambda: optim.SGD(_params(), lr=0.1, momentum=1.0),
             ValueError, "momentum"),
    BadInput("utils.optim.SGD", "a generator already consumed", lambda: optim.SGD(_consumed_generator(), lr=0.1),
             ValueError, "params"),
    BadInput("utils.optim.SGD", "the model instead of its parameters", lambda: optim.SGD(nn.Linear(2, 2), lr=0.1),
             TypeError, "parameters()"),
    BadInput("utils.optim.SGD", "one tensor instead of a list", lambda: optim.SGD(nn.Parameter(torch.zeros(2))),
             TypeError, "params"),
    BadInput("utils.optim.Adam", "a beta of 1", lambda: optim.Adam(_params(), betas=(0.9, 1.0)), ValueError, "betas"),
    BadInput("utils.optim.Adam", "one beta instead of two", lambda: optim.Adam(_params(), betas=0.9),
             TypeError, "betas"),
    BadInput("utils.optim.Adam", "a negative eps", lambda: optim.Adam(_params(), eps=-1e-8), ValueError, "eps"),
    BadInput("utils.optim.Adam", "no parameters", lambda: optim.Adam([]), ValueError, "params"),
    BadInput("utils.optim.AdamW", "a negative weight decay", lambda: optim.AdamW(_params(), weight_decay=-0.01),
             ValueError, "weight_decay"),
    BadInput("utils.optim.AdamW", "betas above 1", lambda: optim.AdamW(_params(), betas=(0.9, 1.5)),
             ValueError, "betas"),
    BadInput("utils.optim.AdamW", "a list of numbers instead of tensors", lambda: optim.AdamW([1.0, 2.0]),
             TypeError, "params"),
    BadInput("utils.optim.step_schedule", "a negative step", lambda: optim.step_schedule(-1, 0.1, 10),
             ValueError, "step"),
    BadInput("utils.optim.step_schedule", "a step size of 0", lambda: optim.step_schedule(3, 0.1, 0),
             ValueError, "step_size"),
    BadInput("utils.optim.step_schedule", "a gamma above 1 (the rate grows)", lambda: optim.step_schedule(
        3, 0.1, 10, gamma=2.0), ValueError, "gamma"),
    BadInput("utils.optim.exponential_schedule", "a float step", lambda: optim.exponential_schedule(1.5, 0.1, 0.9),
             TypeError, "step"),
    BadInput("utils.optim.exponential_schedule", "a negative learning rate", lambda: optim.exponential_schedule(
        1, -0.1, 0.9), ValueError, "lr"),
    BadInput("utils.optim.cosine_schedule", "max and min swapped", lambda: optim.cosine_schedule(5, 1e-4, 1e-3, 2, 20),
             ValueError, "swapped"),
    BadInput("utils.optim.cosine_schedule", "warm-up longer than the schedule", lambda: optim.cosine_schedule(
        0, 1e-3, 1e-4, 100, 50), ValueError, "warmup_steps"),
    BadInput("utils.optim.cosine_schedule", "a float number of warm-up steps", lambda: optim.cosine_schedule(
        0, 1e-3, 1e-4, 10.5, 50), TypeError, "warmup_steps"),
    BadInput("utils.optim.cosine_schedule", "a zero peak learning rate", lambda: optim.cosine_schedule(
        0, 0.0, 0.0, 10, 50), ValueError, "max_lr"),
    BadInput("utils.optim.as_scheduler", "the arguments swapped", lambda: optim.as_scheduler(
        lambda t: 0.1, _optimizer()), TypeError, "optimizer"),
    BadInput("utils.optim.as_scheduler", "the schedule itself, not a function of the step", lambda: optim.as_scheduler(
        _optimizer(), optim.cosine_schedule), TypeError, "schedule"),
    BadInput("utils.optim.as_scheduler", "a learning rate instead of a schedule", lambda: optim.as_scheduler(
        _optimizer(), 0.1), TypeError, "schedule"),
    # chapter 2's checkers
    BadInput("utils.exercises.neural_networks.check_deep_relu_mlp_gradients", "None (a cell that did not run)",
             lambda: nn_checks.check_deep_relu_mlp_gradients(None), ExerciseError, "deep_relu_mlp_gradients"),
    BadInput("utils.exercises.neural_networks.check_deep_relu_mlp_gradients", "a function of two arguments",
             lambda: nn_checks.check_deep_relu_mlp_gradients(lambda x, y: None), ExerciseError, "4 arguments"),
    BadInput("utils.exercises.neural_networks.check_bce_with_logits", "the result instead of the function",
             lambda: nn_checks.check_bce_with_logits(torch.tensor(0.3)), ExerciseError, "bce_with_logits"),
    BadInput("utils.exercises.neural_networks.check_nesterov_step", "a function of three arguments",
             lambda: nn_checks.check_nesterov_step(lambda w, g, v: (w, v)), ExerciseError, "nesterov_step"),
    BadInput("utils.exercises.neural_networks.check_dropout", "None", lambda: nn_checks.check_dropout(None),
             ExerciseError, "dropout"),
    # plotting: axes, lengths, names, histories
    BadInput("utils.plotting.new_figure", "an unknown width name", lambda: plotting.new_figure("wide"),
             ValueError, "width"),
    BadInput("utils.plotting.new_figure", "a width in inches", lambda: plotting.new_figure(7.0), ValueError, "width"),
    BadInput("utils.plotting.new_figure", "zero columns", lambda: plotting.new_figure(ncols=0), ValueError, "ncols"),
    BadInput("utils.plotting.log_axis", "an axis called z", lambda: _on_axes(lambda ax: plotting.log_axis(ax, "z")),
             ValueError, "which"),
    BadInput("utils.plotting.log_axis", "the figure instead of its axes",
             lambda: _in_figure(lambda fig: plotting.log_axis(fig)), TypeError, "ax"),
    BadInput("utils.plotting.log_axis", "what new_figure returned, not unpacked", lambda: plotting.log_axis(
        plotting.new_figure()), TypeError, "unpack"),
    BadInput("utils.plotting.plot_timeline", "years and values of different lengths", lambda: _on_axes(
        lambda ax: plotting.plot_timeline(ax, [2018, 2020], [1e9, 1e10, 1e11])), ValueError, "years and values"),
    BadInput("utils.plotting.plot_timeline", "one label too few", lambda: _on_axes(
        lambda ax: plotting.plot_timeline(ax, [2018, 2020], [1e9, 1e10], ["a"])), ValueError, "labels"),
    BadInput("utils.plotting.plot_timeline", "years as text", lambda: _on_axes(
        lambda ax: plotting.plot_timeline(ax, ["2018", "x"], [1e9, 1e10])), ValueError, "years"),
    BadInput("utils.plotting.tidy_labels", "the figure instead of its axes", lambda: _in_figure(
        plotting.tidy_labels), TypeError, "ax"),
    BadInput("utils.plotting.label_collisions", "a list of axes", lambda: plotting.label_collisions([]),
             TypeError, "ax"),
    BadInput("utils.plotting.plot_doubling_fit", "the (years, values) data instead of the fit", lambda: _on_axes(
        lambda ax: plotting.plot_doubling_fit(ax, ([2018, 2020], [1e9, 1e10]))), TypeError, "fit_doubling_time"),
    BadInput("utils.plotting.shade_eras", "as many boundaries as names", lambda: _on_axes(
        lambda ax: plotting.shade_eras(ax, [2017, 2020], ["early", "late"])), ValueError, "boundaries"),
    BadInput("utils.plotting.shade_eras", "boundaries in descending order", lambda: _on_axes(
        lambda ax: plotting.shade_eras(ax, [2025, 2020, 2017], ["late", "early"])), ValueError, "ascending"),
    BadInput("utils.plotting.plot_learning_curves", "a history with no metric", lambda: _on_axes(
        lambda ax: plotting.plot_learning_curves(ax, History([1.0], [1.0]), metric=True)), ValueError, "metric"),
    BadInput("utils.plotting.plot_learning_curves", "a StepHistory", lambda: _on_axes(
        lambda ax: plotting.plot_learning_curves(ax, StepHistory())), TypeError, "plot_step_history"),
    BadInput("utils.plotting.plot_learning_curves", "a list of losses", lambda: _on_axes(
        lambda ax: plotting.plot_learning_curves(ax, [1.0, 0.5])), TypeError, "history"),
    BadInput("utils.plotting.plot_mean_band", "x and runs of different lengths", lambda: _on_axes(
        lambda ax: plotting.plot_mean_band(ax, np.zeros((3, 5)), x=np.arange(3))), ValueError, "x"),
    BadInput("utils.plotting.plot_mean_band", "runs of unequal lengths", lambda: _on_axes(
        lambda ax: plotting.plot_mean_band(ax, [[1.0, 2.0], [1.0]])), ValueError, "runs"),
    BadInput("utils.plotting.plot_mean_band", "one run, 1-D", lambda: _on_axes(
        lambda ax: plotting.plot_mean_band(ax, [1.0, 2.0, 3.0])), ValueError, "runs"),
    BadInput("utils.plotting.plot_attention_heatmap", "probs with batch and head dims", lambda: _on_axes(
        lambda ax: plotting.plot_attention_heatmap(ax, torch.zeros(1, 2, 3, 3))), ValueError, "probs"),
    BadInput("utils.plotting.plot_attention_heatmap", "labels of another sequence", lambda: _on_axes(
        lambda ax: plotting.plot_attention_heatmap(ax, torch.zeros(3, 3), key_labels=["a", "b"])), ValueError,
        "key_labels"),
    BadInput("utils.plotting.plot_bool_mask", "a float mask", lambda: _on_axes(
        lambda ax: plotting.plot_bool_mask(ax, torch.ones(3, 3))), TypeError, "mask"),
    BadInput("utils.plotting.plot_bool_mask", "a 3-D mask", lambda: _on_axes(
        lambda ax: plotting.plot_bool_mask(ax, torch.ones(1, 3, 3, dtype=torch.bool))), ValueError, "mask"),
    BadInput("utils.plotting.plot_rank_frequency", "the text instead of its counts", lambda: _on_axes(
        lambda ax: plotting.plot_rank_frequency(ax, "to be or not to be")), TypeError, "counts"),
    BadInput("utils.plotting.plot_rank_frequency", "no counts", lambda: _on_axes(
        lambda ax: plotting.plot_rank_frequency(ax, {})), ValueError, "counts"),
    BadInput("utils.plotting.plot_compression_curve", "values of different lengths", lambda: _on_axes(
        lambda ax: plotting.plot_compression_curve(ax, [256, 512], {"en": [4.0]})), ValueError, "bytes_per_token"),
    BadInput("utils.plotting.plot_compression_curve", "a list instead of a dict", lambda: _on_axes(
        lambda ax: plotting.plot_compression_curve(ax, [256, 512], [4.0, 3.0])), TypeError, "bytes_per_token"),
    BadInput("utils.plotting.plot_parameter_breakdown", "no models", lambda: _on_axes(
        lambda ax: plotting.plot_parameter_breakdown(ax, {})), ValueError, "breakdowns"),
    BadInput("utils.plotting.plot_parameter_breakdown", "a zero unit", lambda: _on_axes(
        lambda ax: plotting.plot_parameter_breakdown(ax, {"m": {"a": 1}}, unit=0)), ValueError, "unit"),
    BadInput("utils.plotting.plot_depth_profile", "a list instead of a dict", lambda: _on_axes(
        lambda ax: plotting.plot_depth_profile(ax, [1.0, 2.0], "norm")), TypeError, "profiles"),
    BadInput("utils.plotting.plot_depth_profile", "no ylabel, the log flag in its place", lambda: _on_axes(
        lambda ax: plotting.plot_depth_profile(ax, {"a": [1.0]}, True)), TypeError, "ylabel"),
    BadInput("utils.plotting.plot_step_history", "a History (per epoch)", lambda: _on_axes(
        lambda ax: plotting.plot_step_history(ax, History([1.0], [1.0]))), TypeError, "plot_learning_curves"),
    BadInput("utils.plotting.plot_step_history", "an empty history", lambda: _on_axes(
        lambda ax: plotting.plot_step_history(ax, StepHistory())), ValueError, "history"),
    BadInput("utils.plotting.plot_step_history", "a float smoothing window", lambda: _on_axes(
        lambda ax: plotting.plot_step_history(ax, StepHistory(step=[0], train_loss=[1.0]), smooth=2.5)),
        TypeError, "smooth"),
    BadInput("utils.plotting.plot_scaling_fit", "n_params and losses of different lengths", lambda: _on_axes(
        lambda ax: plotting.plot_scaling_fit(ax, [1e6, 1e7, 1e8], [3.0, 2.5], 10.0, 0.07)), ValueError, "n_params"),
    BadInput("utils.plotting.plot_scaling_fit", "a zero parameter count on a log axis", lambda: _on_axes(
        lambda ax: plotting.plot_scaling_fit(ax, [0, 1e7], [3.0, 2.5], 10.0, 0.07)), ValueError, "n_params"),
    BadInput("utils.plotting.plot_next_token_distribution", "logits instead of probabilities", lambda: _on_axes(
        lambda ax: plotting.plot_next_token_distribution(ax, torch.randn(10))), ValueError, "probs"),
    BadInput("utils.plotting.plot_next_token_distribution", "top_k=0", lambda: _on_axes(
        lambda ax: plotting.plot_next_token_distribution(ax, torch.full((4,), 0.25), top_k=0)), ValueError, "top_k"),
    BadInput("utils.plotting.plot_next_token_distribution", "top_p as a percentage", lambda: _on_axes(
        lambda ax: plotting.plot_next_token_distribution(ax, torch.full((4,), 0.25), top_p=90)), ValueError, "top_p"),
]

NO_BAD_INPUT = {
    "utils.plotting.use_book_style": "no arguments",
}

DOCUMENTED = {
    "utils.losses.cross_entropy": "a batch whose targets are all ignore_index gives nan (0 / 0), as "
                                  "F.cross_entropy does (checked below against torch); kept to match the reference",
}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input_gets_a_clear_error_from_utils(case):
    assert_clear_error(case)


def test_all_ignored_targets_give_nan_as_torch_does():
    targets = torch.full((4,), -100)
    assert torch.isnan(losses.cross_entropy(LOGITS, targets))
    assert torch.isnan(torch.nn.functional.cross_entropy(LOGITS, targets))


def test_good_input_is_unchanged_by_the_checks():
    """Values that sit on the edges of what the checks accept still compute as torch does."""
    targets = torch.tensor([0, -100, 2, 1])
    expected = torch.nn.functional.cross_entropy(LOGITS, targets)
    assert torch.allclose(losses.cross_entropy(LOGITS, targets), expected, rtol=0, atol=1e-6)  # float32, 3 terms
    assert optim.cosine_schedule(0, 1e-3, 1e-3, 0, 1) == 1e-3  # no warmup, min = max: constant
    assert optim.step_schedule(np.int64(3), 0.1, 2, gamma=1.0) == 0.1  # numpy ints are ints
    optim.SGD(({"params": _params(), "lr": 0.2},), lr=0.1, momentum=0.0)  # parameter groups pass
