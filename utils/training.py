"""The course's one training loop: train and evaluation epochs, a per-epoch history, early stopping, clipping.

Chapter 2 builds it for a small MLP; later chapters extend this loop (more options, same shape) instead of
writing another. The pieces:

- :func:`train_epoch` — one pass over a loader: forward, loss, backward, optional clipping, step, schedule;
- :func:`evaluate` — mean loss and metric over a loader without gradients;
- :func:`train` — epochs of both, a :class:`History` for plots, early stopping on the validation loss;
- :func:`clip_grad_norm_` — gradient clipping by the global L2 norm, equal to ``torch.nn.utils.clip_grad_norm_``;
- :func:`tensor_loader` — a seeded ``DataLoader`` over in-memory tensors.

Determinism: with the same seed (``utils.env.seed_everything``) and a loader from :func:`tensor_loader`, two
runs on the CPU give the same history.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

__all__ = ["History", "accuracy", "clip_grad_norm_", "tensor_loader", "train_epoch", "evaluate", "train"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
MetricFn = Callable[[torch.Tensor, torch.Tensor], float]


@dataclass
class History:
    """What :func:`train` records, one entry per epoch (lists of floats), ready to plot.

    ``train_metric``/``val_metric`` stay empty when the loop runs without a metric; ``lr`` is the learning rate
    at the end of each epoch; ``best_epoch`` (counted from 0) is the epoch with the lowest validation loss, whose
    weights the model holds at the end when early stopping is on; ``stopped_early`` says whether patience ran out.
    """

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    train_metric: list[float] = field(default_factory=list)
    val_metric: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        """Number of epochs run."""
        return len(self.train_loss)


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of rows whose arg-max ``logits`` ``(N, C)`` equals ``targets`` ``(N,)`` (int64), as a float."""
    if logits.dim() != 2 or targets.shape != logits.shape[:1]:
        raise ValueError(
            f"accuracy expects logits (N, C) and targets (N,), got logits {tuple(logits.shape)} and "
            f"targets {tuple(targets.shape)}"
        )
    return (logits.argmax(dim=-1) == targets).float().mean().item()


def clip_grad_norm_(parameters: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale all gradients together so their global L2 norm ``√(Σ‖g‖²)`` is at most ``max_norm``.

    Equal to ``torch.nn.utils.clip_grad_norm_``: the scale is ``min(1, max_norm / (norm + 1e-6))``. Returns the
    norm before clipping (a scalar tensor), worth logging: spikes in it announce unstable training.
    """
    if not isinstance(max_norm, (int, float)) or isinstance(max_norm, bool) or not max_norm > 0:
        raise ValueError(f"max_norm must be a number > 0, got {max_norm!r}")
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    total_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    scale = torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)
    for g in grads:
        g.mul_(scale.to(g.device))
    return total_norm


def tensor_loader(
    inputs: torch.Tensor, targets: torch.Tensor, batch_size: int, shuffle: bool = False, seed: int = 0
) -> DataLoader:
    """A ``DataLoader`` over ``(inputs[i], targets[i])`` pairs; shuffled with its own generator seeded by ``seed``.

    ``inputs``: ``(N, ...)``; ``targets``: ``(N, ...)``; the same ``seed`` gives the same batches in every run.
    """
    if not isinstance(inputs, torch.Tensor) or not isinstance(targets, torch.Tensor):
        raise TypeError(f"inputs and targets must be torch.Tensors, got {type(inputs).__name__} and {type(targets).__name__}")
    if inputs.shape[0] != targets.shape[0]:
        raise ValueError(
            f"inputs and targets must have the same first dimension N, got inputs {tuple(inputs.shape)} and "
            f"targets {tuple(targets.shape)}"
        )
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be an int > 0, got {batch_size!r}")
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(TensorDataset(inputs, targets), batch_size=batch_size, shuffle=shuffle, generator=generator)


def train_epoch(
    model: nn.Module,
    loader: Iterable,
    optimizer: torch.optim.Optimizer,
    loss_fn: LossFn,
    device: torch.device | str = "cpu",
    scheduler=None,
    clip_grad_norm: float | None = None,
    metric_fn: MetricFn | None = accuracy,
) -> tuple[float, float]:
    """One pass over ``loader`` (batches of ``(inputs, targets)``) updating ``model``; ``scheduler.step()`` per batch.

    Returns ``(mean loss, mean metric)`` over the examples (``nan`` for the metric when ``metric_fn`` is None).
    """
    model.train()
    total_loss, total_metric, n_seen = 0.0, 0.0, 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        logits = model(inputs)
        loss = loss_fn(logits, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_grad_norm is not None:
            clip_grad_norm_(model.parameters(), clip_grad_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        batch_size = targets.shape[0]
        total_loss += loss.item() * batch_size
        if metric_fn is not None:
            total_metric += metric_fn(logits.detach(), targets) * batch_size
        n_seen += batch_size
    return _means(total_loss, total_metric, n_seen, metric_fn)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    loss_fn: LossFn,
    device: torch.device | str = "cpu",
    metric_fn: MetricFn | None = accuracy,
) -> tuple[float, float]:
    """Mean loss and metric of ``model`` (in eval mode, no gradients) over ``loader``: ``(loss, metric)``.

    The metric is ``nan`` when ``metric_fn`` is None. The model is left in eval mode.
    """
    model.eval()
    total_loss, total_metric, n_seen = 0.0, 0.0, 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        logits = model(inputs)
        batch_size = targets.shape[0]
        total_loss += loss_fn(logits, targets).item() * batch_size
        if metric_fn is not None:
            total_metric += metric_fn(logits, targets) * batch_size
        n_seen += batch_size
    return _means(total_loss, total_metric, n_seen, metric_fn)


def _means(total_loss: float, total_metric: float, n_seen: int, metric_fn) -> tuple[float, float]:
    if n_seen == 0:
        raise ValueError("the loader gave no batches: check the dataset and the batch size")
    return total_loss / n_seen, (total_metric / n_seen if metric_fn is not None else math.nan)


def train(
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable,
    optimizer: torch.optim.Optimizer,
    loss_fn: LossFn,
    epochs: int,
    device: torch.device | str = "cpu",
    scheduler=None,
    early_stopping_patience: int | None = None,
    clip_grad_norm: float | None = None,
    metric_fn: MetricFn | None = accuracy,
    verbose: bool = False,
) -> History:
    """Train ``model`` for up to ``epochs`` epochs, evaluating on ``val_loader`` after each; returns a :class:`History`.

    ``loss_fn(logits, targets)`` gives a scalar loss; ``metric_fn(logits, targets)`` a float (default accuracy; None
    for regression). ``scheduler.step()`` runs after every optimizer step. ``clip_grad_norm`` clips the gradients'
    global L2 norm. With ``early_stopping_patience = p``, training stops once the validation loss has not improved
    for ``p`` epochs, and the model gets back the weights of its best epoch. The model is moved to ``device``.
    """
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs <= 0:
        raise ValueError(f"epochs must be an int > 0, got {epochs!r}")
    if early_stopping_patience is not None and (not isinstance(early_stopping_patience, int) or early_stopping_patience <= 0):
        raise ValueError(f"early_stopping_patience must be None or an int > 0, got {early_stopping_patience!r}")
    model.to(device)
    history = History()
    best_loss, best_state = math.inf, None
    for epoch in range(epochs):
        started = time.perf_counter()
        train_loss, train_metric = train_epoch(
            model, train_loader, optimizer, loss_fn, device, scheduler, clip_grad_norm, metric_fn
        )
        val_loss, val_metric = evaluate(model, val_loader, loss_fn, device, metric_fn)
        _record(history, train_loss, val_loss, train_metric, val_metric, optimizer, time.perf_counter() - started)
        if verbose:
            print(f"epoch {epoch + 1:3d}/{epochs}: train loss {train_loss:.4f}, val loss {val_loss:.4f}, val metric {val_metric:.4f}")
        if val_loss < best_loss:
            best_loss, history.best_epoch = val_loss, epoch
            if early_stopping_patience is not None:
                best_state = copy.deepcopy(model.state_dict())
        elif early_stopping_patience is not None and epoch - history.best_epoch >= early_stopping_patience:
            history.stopped_early = True
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


def _record(history: History, train_loss, val_loss, train_metric, val_metric, optimizer, seconds: float) -> None:
    history.train_loss.append(train_loss)
    history.val_loss.append(val_loss)
    if not math.isnan(train_metric):
        history.train_metric.append(train_metric)
        history.val_metric.append(val_metric)
    history.lr.append(optimizer.param_groups[0]["lr"])
    history.epoch_seconds.append(seconds)
