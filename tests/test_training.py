"""utils.training: clipping equal to torch (atol 1e-12), history, early stopping, determinism, bad inputs."""

import math

import pytest
import torch
from torch import nn

from utils.env import seed_everything
from utils.losses import cross_entropy, mse_loss
from utils.training import History, accuracy, clip_grad_norm_, evaluate, tensor_loader, train


def _blobs(n=200, seed=0):
    """Two Gaussian blobs in 2-D: an easy binary classification."""
    g = torch.Generator().manual_seed(seed)
    targets = torch.randint(0, 2, (n,), generator=g)
    inputs = torch.randn(n, 2, generator=g) + 3.0 * targets[:, None].float()
    return inputs, targets


def _run(seed=0, epochs=5, **kwargs):
    seed_everything(seed)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 2))
    x, y = _blobs()
    train_loader = tensor_loader(x[:150], y[:150], batch_size=16, shuffle=True, seed=seed)
    val_loader = tensor_loader(x[150:], y[150:], batch_size=64)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = train(model, train_loader, val_loader, optimizer, cross_entropy, epochs, "cpu", **kwargs)
    return model, history, val_loader


def test_clip_grad_norm_equals_torch():
    g = torch.Generator().manual_seed(0)
    a = [nn.Parameter(torch.zeros(5, 3, dtype=torch.float64)), nn.Parameter(torch.zeros(4, dtype=torch.float64))]
    b = [nn.Parameter(p.detach().clone()) for p in a]
    for p, q in zip(a, b):
        p.grad = torch.randn(p.shape, generator=g, dtype=torch.float64) * 10
        q.grad = p.grad.clone()
    norm_ours = clip_grad_norm_(a, max_norm=1.0)
    norm_ref = torch.nn.utils.clip_grad_norm_(b, max_norm=1.0)
    # float64: a norm of 19 numbers of size ~10 carries rounding error ~1e-15, far under 1e-12.
    assert abs(norm_ours.item() - norm_ref.item()) <= 1e-12
    assert all(torch.allclose(p.grad, q.grad, rtol=0, atol=1e-12) for p, q in zip(a, b))
    # Both scale by max_norm / (norm + 1e-6), as torch does, so the new norm is 1 / (1 + 1e-6 / norm), not exactly 1.
    total = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in a])).item()
    assert total == pytest.approx(1.0 / (1.0 + 1e-6 / norm_ref.item()), abs=1e-12)


def test_train_learns_and_records_history():
    model, history, val_loader = _run(epochs=5)
    assert isinstance(history, History) and history.epochs == 5
    assert len(history.val_loss) == len(history.train_metric) == len(history.val_metric) == len(history.lr) == 5
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.val_metric[-1] > 0.85
    loss, acc = evaluate(model, val_loader, cross_entropy)
    # The history's last validation loss is this same computation on the same model: equal to the last bit.
    assert loss == history.val_loss[-1] and acc == history.val_metric[-1]


def test_same_seed_same_history():
    _, first, _ = _run(seed=3)
    _, second, _ = _run(seed=3)
    _, other, _ = _run(seed=4)
    assert first.train_loss == second.train_loss and first.val_loss == second.val_loss
    assert first.train_loss != other.train_loss


def test_early_stopping_restores_best_weights():
    seed_everything(0)
    x = torch.randn(40, 20)
    y = torch.randint(0, 2, (40,))  # random labels: a wide model memorises them, the validation loss rises
    model = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 2))
    train_loader = tensor_loader(x[:20], y[:20], batch_size=20)
    val_loader = tensor_loader(x[20:], y[20:], batch_size=20)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    history = train(model, train_loader, val_loader, optimizer, cross_entropy, 200, early_stopping_patience=3)
    assert history.stopped_early and history.epochs == history.best_epoch + 1 + 3
    val_loss, _ = evaluate(model, val_loader, cross_entropy)
    assert val_loss == min(history.val_loss)  # the best weights restored, evaluated the same way


def test_scheduler_steps_per_batch_and_clipping_runs():
    seed_everything(0)
    model = nn.Linear(2, 1)
    x = torch.randn(64, 2)
    y = x.sum(dim=1, keepdim=True)
    loader = tensor_loader(x, y, batch_size=16)  # 4 batches per epoch
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.5)
    history = train(model, loader, loader, optimizer, mse_loss, 3, scheduler=scheduler, clip_grad_norm=0.5, metric_fn=None)
    assert history.lr == pytest.approx([0.05, 0.025, 0.0125])
    assert history.train_metric == [] and history.val_loss[-1] < history.val_loss[0]
    _, metric = evaluate(model, loader, mse_loss, metric_fn=None)
    assert math.isnan(metric)


def test_accuracy_and_bad_inputs():
    assert accuracy(torch.tensor([[0.0, 1.0], [2.0, 1.0]]), torch.tensor([1, 1])) == 0.5
    with pytest.raises(ValueError, match=r"logits \(N, C\) and targets \(N,\), got logits \(2, 2\) and targets \(3,\)"):
        accuracy(torch.zeros(2, 2), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"same first dimension N, got inputs \(4, 2\) and targets \(3,\)"):
        tensor_loader(torch.zeros(4, 2), torch.zeros(3), batch_size=2)
    with pytest.raises(ValueError, match=r"epochs must be an int > 0, got 0"):
        train(nn.Linear(1, 1), [], [], torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1), mse_loss, 0)
    with pytest.raises(ValueError, match=r"max_norm must be a number > 0, got -1"):
        clip_grad_norm_([], -1)


def test_chapter2_plot_helpers_draw_history_and_band():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from utils.plotting import plot_learning_curves, plot_mean_band

    history = History(train_loss=[1.0, 0.5, 0.2], val_loss=[1.1, 0.7, 0.8], train_metric=[0.5, 0.7, 0.9],
                      val_metric=[0.5, 0.6, 0.6], best_epoch=1)  # fmt: skip
    fig, ax = plt.subplots()
    line = plot_learning_curves(ax, history, label="mlp")
    assert list(line.get_ydata()) == [1.1, 0.7, 0.8] and line.get_label() == "mlp validation"
    assert len(ax.lines) == 3  # validation, training, best-epoch dot
    band = plot_mean_band(ax, [[1.0, 2.0], [3.0, 4.0]], label="relu")
    assert list(band.get_ydata()) == [2.0, 3.0]
    with pytest.raises(ValueError, match=r"shape \(n_runs, n_points\), got shape \(2,\)"):
        plot_mean_band(ax, [1.0, 2.0])
    with pytest.raises(ValueError, match="no metric values"):
        plot_learning_curves(ax, History(train_loss=[1.0], val_loss=[1.0]), metric=True)
    plt.close(fig)


# Test accuracy of the chapter-2 baseline, measured first: sklearn LogisticRegression(C=0.1, max_iter=500) on the
# 4,000 training digits, C chosen on the validation split (0.01: 0.892, 0.1: 0.908, 1.0: 0.908), scored on the
# 500 test digits. It is the floor any MLP trained by this loop must beat.
LOGISTIC_REGRESSION_TEST_ACCURACY = 0.892


def test_mlp_trained_by_the_loop_beats_logistic_regression_on_mnist_test():
    from sklearn.linear_model import LogisticRegression

    from utils.data import load_mnist
    from utils.optim import AdamW

    mnist = load_mnist()
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (mnist.split(s) for s in ("train", "val", "test"))
    baseline = LogisticRegression(C=0.1, max_iter=500).fit(x_train.reshape(len(x_train), -1), y_train)
    baseline_accuracy = baseline.score(x_test.reshape(len(x_test), -1), y_test)
    assert baseline_accuracy == pytest.approx(LOGISTIC_REGRESSION_TEST_ACCURACY, abs=0.006)  # 3 test images

    seed_everything(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    to_tensor = torch.from_numpy
    train_loader = tensor_loader(to_tensor(x_train), to_tensor(y_train), batch_size=64, shuffle=True)
    val_loader = tensor_loader(to_tensor(x_val), to_tensor(y_val), batch_size=500)
    optimizer = AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    train(model, train_loader, val_loader, optimizer, cross_entropy, 5)
    _, test_accuracy = evaluate(model, tensor_loader(to_tensor(x_test), to_tensor(y_test), batch_size=500), cross_entropy)
    assert test_accuracy > LOGISTIC_REGRESSION_TEST_ACCURACY, f"MLP test accuracy {test_accuracy:.3f}"


def test_train_epoch_lowers_the_loss_and_matches_evaluate():
    from utils.training import train_epoch

    seed_everything(0)
    x = torch.randn(64, 3)
    y = (x @ torch.tensor([1.0, -2.0, 0.5])).unsqueeze(-1)
    model = nn.Linear(3, 1)
    loader = tensor_loader(x, y, batch_size=16)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before, _ = evaluate(model, loader, mse_loss, metric_fn=None)
    train_loss, metric = train_epoch(model, loader, optimizer, mse_loss, metric_fn=None)
    after, _ = evaluate(model, loader, mse_loss, metric_fn=None)
    assert math.isnan(metric) and after < before and math.isfinite(train_loss)
