"""The course's one training loop: step-based, for every model of the book, and its epoch face for chapter 2.

Chapter 2 builds the loop for a small MLP; chapter 6 grows it into the loop every later chapter trains with.

The loop, :func:`fit` with a :class:`TrainConfig` (a comment on every field):

- the chapter gives ``loss_fn(model, batch) -> (loss, n)``, the mean loss of a batch and what it averages over
  (tokens for a language model, rows for a classifier), so logged losses are weighted the right way;
- batches come from a function (e.g. ``lambda: get_batch(tokens, 16, 128, "cpu")``) or an iterable (cycled);
- the loop does device placement, ``torch.autocast`` (bf16; fp16 with a ``GradScaler``, unscaled before
  clipping), gradient accumulation (each micro-loss divided by the number of micro-steps), clipping by the
  global L2 norm, the cosine schedule with warm-up, periodic evaluation, a ``tqdm`` bar, a
  :class:`StepHistory` for plots, callbacks, and checkpoints (``utils.checkpoint``) that resume exactly.

The epoch face, as chapter 2 built it:

- :func:`train_epoch` — one pass over a loader of ``(inputs, targets)``, run by :func:`fit`;
- :func:`evaluate` — mean loss and metric over a loader without gradients;
- :func:`train` — epochs of both, a :class:`History` for plots, early stopping on the validation loss;
- :func:`clip_grad_norm_` — gradient clipping by the global L2 norm, equal to ``torch.nn.utils.clip_grad_norm_``;
- :func:`tensor_loader` — a seeded ``DataLoader`` over in-memory tensors.

Determinism: with the same seed (``utils.env.seed_everything`` or ``TrainConfig.seed``) two runs on the CPU give the
same losses; a run resumed from a checkpoint ends with the same parameters, to the last bit, as one never stopped,
when its batches come from a function that draws from the global RNGs (as :func:`get_batch` does by default).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from utils.checkpoint import latest_checkpoint, resume_checkpoint, save_checkpoint
from utils.env import QUICK_ENV, get_device, seed_everything
from utils.optim import as_scheduler, cosine_schedule

__all__ = [
    "History",
    "accuracy",
    "clip_grad_norm_",
    "tensor_loader",
    "train_epoch",
    "evaluate",
    "train",
    "TrainConfig",
    "StepHistory",
    "TrainState",
    "fit",
    "make_optimizer",
    "causal_lm_loss",
    "mean_loss",
    "get_batch",
    "mask_tokens",
    "masked_lm_loss",
]

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
    Each batch is one step of :func:`fit`: forward, loss, backward, optional clipping, optimizer step, schedule.
    """
    batches = loader if hasattr(loader, "__len__") else list(loader)
    totals = {"loss": 0.0, "metric": 0.0, "rows": 0}

    def batch_loss(model: nn.Module, batch) -> tuple[torch.Tensor, int]:
        inputs, targets = batch
        logits = model(inputs)
        loss = loss_fn(logits, targets)
        rows = targets.shape[0]
        totals["loss"] += loss.item() * rows
        if metric_fn is not None:
            totals["metric"] += metric_fn(logits.detach(), targets) * rows
        totals["rows"] += rows
        return loss, rows

    if len(batches) == 0:
        raise ValueError("the loader gave no batches: check the dataset and the batch size")
    config = TrainConfig(max_steps=len(batches), schedule="constant", clip_grad_norm=clip_grad_norm,
                         device=str(device), progress=False)
    fit(model, batch_loss, batches, config, optimizer=optimizer, scheduler=scheduler)
    return _means(totals["loss"], totals["metric"], totals["rows"], metric_fn)


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


# =============================================================================================================
# The step-based loop (chapter 6): one loop for every model of the book
# =============================================================================================================

StepLossFn = Callable[[nn.Module, object], tuple[torch.Tensor, int]]
PRECISIONS = ("fp32", "bf16", "fp16")
SCHEDULES = ("cosine", "constant")
# Fields that change how a run is watched or stored, never the numbers it computes: a resumed run may change them.
_RESUMABLE_CHANGES = ("resume", "progress", "checkpoint_dir", "checkpoint_every", "device")


@dataclass
class TrainConfig:
    """Everything :func:`fit` needs to know about a run besides the model, the loss and the data.

    Invalid values raise ``ValueError`` naming the field, what was expected and what was given.
    """

    max_steps: int = 1000  # optimizer steps to run (each over grad_accum_steps micro-batches)
    lr: float = 3e-4  # peak learning rate, reached at the end of the warm-up
    min_lr: float = 3e-5  # learning rate at max_steps, the end of the cosine decay
    warmup_steps: int = 0  # steps of linear warm-up from 0 to lr (must be < max_steps)
    schedule: str = "cosine"  # "cosine" (warm-up, then cosine decay to min_lr) or "constant" (lr throughout)
    weight_decay: float = 0.1  # AdamW's decoupled weight decay, on matrices and embeddings only
    betas: tuple[float, float] = (0.9, 0.95)  # AdamW's moment decay rates (GPT-3's values)
    grad_accum_steps: int = 1  # micro-batches per optimizer step; each micro-loss is divided by this number
    clip_grad_norm: float | None = 1.0  # clip the gradients' global L2 norm to this; None: no clipping
    precision: str = "fp32"  # "fp32", "bf16" (autocast) or "fp16" (autocast + GradScaler)
    device: str | None = None  # "cpu", "cuda", "cuda:1", "mps"; None: utils.env.get_device() picks
    eval_every: int = 0  # steps between evaluations with eval_fn (and one at max_steps); 0: only at max_steps
    checkpoint_dir: str | None = None  # folder for checkpoints (one sub-folder per step); None: no checkpoints
    checkpoint_every: int = 0  # steps between checkpoints (and one at the end); 0: only at the end
    resume: bool = False  # continue from the latest checkpoint in checkpoint_dir (a fresh start if none)
    seed: int | None = None  # seeds Python, NumPy and torch when a run starts fresh; None: leaves them as they are
    progress: bool | None = None  # a tqdm bar; None: shown when a person runs it, hidden in CI and stamped runs

    def __post_init__(self) -> None:
        if self.device is not None:
            self.device = str(self.device)
        if self.checkpoint_dir is not None:
            self.checkpoint_dir = str(self.checkpoint_dir)
        self.betas = tuple(self.betas)
        _check_int("max_steps", self.max_steps, minimum=1)
        _check_int("warmup_steps", self.warmup_steps, minimum=0)
        _check_int("grad_accum_steps", self.grad_accum_steps, minimum=1)
        _check_int("eval_every", self.eval_every, minimum=0)
        _check_int("checkpoint_every", self.checkpoint_every, minimum=0)
        for name in ("lr", "min_lr", "weight_decay"):
            _check_number(name, getattr(self, name), positive=name == "lr")
        if self.clip_grad_norm is not None:
            _check_number("clip_grad_norm", self.clip_grad_norm, positive=True)
        _check_among("precision", self.precision, PRECISIONS)
        _check_among("schedule", self.schedule, SCHEDULES)
        if self.schedule == "cosine" and self.warmup_steps >= self.max_steps:
            raise ValueError(
                f"TrainConfig.warmup_steps must be < max_steps for the cosine schedule, got warmup_steps="
                f"{self.warmup_steps}, max_steps={self.max_steps}: shorten the warm-up or train longer"
            )
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"TrainConfig.betas must be two numbers in [0, 1), got {self.betas!r}")
        if self.seed is not None:
            _check_int("seed", self.seed, minimum=0)
        if (self.resume or self.checkpoint_every) and self.checkpoint_dir is None:
            raise ValueError(
                "TrainConfig.checkpoint_dir is None but resume or checkpoint_every asks for checkpoints: "
                "give checkpoint_dir a folder (e.g. utils.env.cache_dir() / 'runs' / 'my_run')"
            )


def _check_int(name: str, value, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"TrainConfig.{name} must be an int >= {minimum}, got {value!r}")


def _check_number(name: str, value, positive: bool) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        raise ValueError(f"TrainConfig.{name} must be a finite number {'> 0' if positive else '>= 0'}, got {value!r}")


def _check_among(name: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"TrainConfig.{name} must be one of {choices}, got {value!r}")


@dataclass
class StepHistory:
    """What :func:`fit` records, one entry per optimizer step (and per evaluation), ready to plot.

    ``train_loss[i]`` is the weighted mean loss of step ``step[i]``'s micro-batches (weights: the ``n`` that
    ``loss_fn`` returned), ``n_tokens[i]`` their total ``n``, ``lr[i]`` the learning rate the step used and
    ``grad_norm[i]`` the global gradient norm before clipping (``nan`` without clipping). ``val_loss[j]`` is
    ``eval_fn``'s value after step ``eval_step[j]``. ``seconds[i]`` is the step's wall time (not reproducible).
    """

    step: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    n_tokens: list[int] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    @property
    def steps(self) -> int:
        """Number of optimizer steps taken (counted over resumed runs too)."""
        return self.step[-1] if self.step else 0

    def tokens_per_second(self, skip: int = 1) -> float:
        """Training throughput ``Σ n_tokens / Σ seconds`` over the steps after the first ``skip`` (warm-up)."""
        if len(self.step) <= skip:
            raise ValueError(f"tokens_per_second needs more than skip={skip} steps, the history has {len(self.step)}")
        return sum(self.n_tokens[skip:]) / sum(self.seconds[skip:])


@dataclass
class TrainState:
    """What a callback sees after each optimizer step; ``request_stop()`` ends the run after this step."""

    step: int
    model: nn.Module
    optimizer: torch.optim.Optimizer
    config: TrainConfig
    history: StepHistory
    stop: bool = False

    def request_stop(self) -> None:
        """End the run once this step is done (it is checkpointed when ``checkpoint_dir`` is set)."""
        self.stop = True


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """``torch.optim.AdamW`` with ``config``'s lr and betas; weight decay on parameters of 2 or more dims only.

    Biases and norm weights (1-D) are not decayed, as in GPT-2 and nanoGPT: shrinking them towards 0 does not
    regularise anything useful.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"make_optimizer: model must be an nn.Module, got {type(model).__name__}")
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=config.lr, betas=config.betas)


def _make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig):
    if config.schedule == "constant":
        return None
    return as_scheduler(
        optimizer, lambda t: cosine_schedule(t, config.lr, config.min_lr, config.warmup_steps, config.max_steps)
    )


def _autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def _to_device(batch, device: torch.device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


def _cycle(batches: Iterable) -> Iterator:
    while True:
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            raise ValueError("fit: the iterable of batches gave no batches: check the dataset and the batch size")


def _checked_loss(result) -> tuple[torch.Tensor, int]:
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError(
            f"loss_fn(model, batch) must return (loss, n): a scalar loss tensor and the number of tokens or rows it "
            f"averages over; got {type(result).__name__}"
        )
    loss, n = result
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0 or not loss.requires_grad:
        what = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise TypeError(
            f"loss_fn's loss must be a scalar tensor with gradients (the batch's mean loss), got {what}; "
            "return loss.mean() of a computation on the model's output"
        )
    n = int(n)
    if n <= 0:
        raise ValueError(f"loss_fn's n (tokens or rows in the batch) must be > 0, got {n}")
    return loss, n


def _optimizer_step(model, loss_fn, next_batch, optimizer, scheduler, scaler, config, device) -> tuple[float, int, float, float]:
    """One optimizer step over ``grad_accum_steps`` micro-batches; returns (mean loss, n, lr used, grad norm)."""
    optimizer.zero_grad(set_to_none=True)
    loss_sum, n_sum = 0.0, 0
    for _ in range(config.grad_accum_steps):
        batch = _to_device(next_batch(), device)
        with _autocast(device, config.precision):
            loss, n = _checked_loss(loss_fn(model, batch))
        micro_loss = loss / config.grad_accum_steps  # the gradients add up to those of the mean over micro-batches
        (scaler.scale(micro_loss) if scaler is not None else micro_loss).backward()
        loss_sum += loss.item() * n
        n_sum += n
    if scaler is not None:
        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
    grad_norm = math.nan
    if config.clip_grad_norm is not None:
        grad_norm = clip_grad_norm_(model.parameters(), config.clip_grad_norm).item()
    lr = optimizer.param_groups[0]["lr"]
    if scaler is not None:
        scaler.step(optimizer)  # skipped when the gradients overflowed
        scaler.update()
    else:
        optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return loss_sum / n_sum, n_sum, lr, grad_norm


def _show_progress(config: TrainConfig) -> bool:
    if config.progress is not None:
        return config.progress
    return not (os.environ.get("CI") or QUICK_ENV in os.environ)  # CI, and the stamped runs, set COURSE_QUICK


def _save(config: TrainConfig, step: int, model, optimizer, scheduler, scaler, history: StepHistory) -> None:
    extra = {"train_config": dataclasses.asdict(config), "history": dataclasses.asdict(history)}
    save_checkpoint(config.checkpoint_dir, step, model, optimizer, scheduler, scaler, extra)


def _check_fit_args(model, loss_fn, batches, config, eval_fn, optimizer, callbacks) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"fit: model must be an nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"fit: loss_fn must be a function (model, batch) -> (loss, n), got {type(loss_fn).__name__}")
    if not (callable(batches) or isinstance(batches, Iterable)):
        raise TypeError(
            f"fit: batches must be a function that returns a batch (e.g. lambda: get_batch(...)) or an iterable of "
            f"batches (e.g. a DataLoader), got {type(batches).__name__}"
        )
    if not isinstance(config, TrainConfig):
        raise TypeError(f"fit: config must be a TrainConfig, got {type(config).__name__}; build one: TrainConfig(max_steps=...)")
    if eval_fn is not None and not callable(eval_fn):
        raise TypeError(f"fit: eval_fn must be a function model -> validation loss (float), got {type(eval_fn).__name__}")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"fit: optimizer must be a torch.optim.Optimizer or None, got {type(optimizer).__name__}")
    if not all(callable(c) for c in callbacks):
        raise TypeError("fit: callbacks must be functions state -> None (see TrainState)")
    if config.resume and not callable(batches):
        raise ValueError(
            "fit: resume=True needs batches as a function (e.g. lambda: get_batch(...)): an iterable cannot be "
            "rewound to where the interrupted run stopped, so the resumed run would not be the same run"
        )


def fit(
    model: nn.Module,
    loss_fn: StepLossFn,
    batches: Callable[[], object] | Iterable,
    config: TrainConfig,
    eval_fn: Callable[[nn.Module], float] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler=None,
    callbacks: Sequence[Callable[[TrainState], None]] = (),
) -> StepHistory:
    """Train ``model`` for ``config.max_steps`` optimizer steps and return its :class:`StepHistory`.

    Args:
        model: any ``nn.Module``; moved to ``config.device``.
        loss_fn: ``loss_fn(model, batch) -> (loss, n)``: the scalar mean loss of ``batch`` (already on the device)
            and the number of tokens (language models) or rows (classifiers) it averages over.
        batches: a function returning the next batch (tensors, or tuples/dicts of them), or an iterable of batches
            (cycled when it runs out). Resuming exactly needs a function that draws from the global RNGs.
        config: a :class:`TrainConfig`.
        eval_fn: ``eval_fn(model) -> float``, the validation loss, run every ``config.eval_every`` steps and at
            ``max_steps`` under ``torch.no_grad()`` with the model in eval mode.
        optimizer, scheduler: default AdamW from :func:`make_optimizer` and the config's schedule; a given optimizer
            keeps its own learning rate unless a scheduler is given too.
        callbacks: functions ``callback(state)`` run after every step (see :class:`TrainState`).

    With ``config.resume`` and a checkpoint in ``config.checkpoint_dir``, the run continues from the latest one
    (model, optimizer, schedule, scaler, RNGs and history) and ends where the uninterrupted run ends.
    """
    _check_fit_args(model, loss_fn, batches, config, eval_fn, optimizer, callbacks)
    device = get_device(config.device)
    model.to(device)
    if optimizer is None:
        optimizer = make_optimizer(model, config)
        scheduler = _make_scheduler(optimizer, config) if scheduler is None else scheduler
    scaler = torch.amp.GradScaler(device.type) if config.precision == "fp16" else None
    step, history = 0, StepHistory()
    latest = latest_checkpoint(config.checkpoint_dir) if config.resume else None
    if latest is not None:
        state = resume_checkpoint(latest, model, optimizer, scheduler, scaler, dataclasses.asdict(config),
                                  ignore=_RESUMABLE_CHANGES)
        step, history = state["step"], StepHistory(**state["extra"]["history"])
    elif config.seed is not None:
        seed_everything(config.seed)
    next_batch = batches if callable(batches) else _cycle(batches).__next__
    state = TrainState(step, model, optimizer, config, history)
    from tqdm.auto import tqdm

    with tqdm(total=config.max_steps, initial=step, disable=not _show_progress(config), unit="step") as bar:
        while step < config.max_steps and not state.stop:
            model.train()
            started = time.perf_counter()
            loss, n, lr, grad_norm = _optimizer_step(model, loss_fn, next_batch, optimizer, scheduler, scaler, config, device)
            step += 1
            for name, value in zip(("step", "train_loss", "n_tokens", "lr", "grad_norm", "seconds"),
                                   (step, loss, n, lr, grad_norm, time.perf_counter() - started)):
                getattr(history, name).append(value)
            if eval_fn is not None and ((config.eval_every and step % config.eval_every == 0) or step == config.max_steps):
                history.eval_step.append(step)
                history.val_loss.append(_evaluate_with(eval_fn, model, device, config.precision))
            state.step = step
            for callback in callbacks:
                callback(state)
            end = step == config.max_steps or state.stop
            if config.checkpoint_dir is not None and (end or (config.checkpoint_every and step % config.checkpoint_every == 0)):
                _save(config, step, model, optimizer, scheduler, scaler, history)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}")
    return history


def _evaluate_with(eval_fn, model: nn.Module, device: torch.device, precision: str) -> float:
    model.eval()
    with torch.no_grad(), _autocast(device, precision):
        value = float(eval_fn(model))
    model.train()
    return value


def causal_lm_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Next-token cross-entropy of a language model: ``batch = (inputs, targets)``, both int64 ``(B, T)``.

    ``model(inputs)`` gives logits ``(B, T, vocab_size)``; targets equal to -100 are ignored. Returns the mean
    over the counted tokens and their number, the ``loss_fn`` :func:`fit` expects.
    """
    inputs, targets = batch
    logits = model(inputs)  # (B, T, vocab_size)
    n_tokens = int((targets != -100).sum())
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-100), n_tokens


@torch.no_grad()
def mean_loss(model: nn.Module, loss_fn: StepLossFn, batches: Iterable) -> float:
    """The ``n``-weighted mean of ``loss_fn(model, batch)`` over ``batches`` (moved to the model's device).

    A validation loss over a fixed list of batches: the same number every time for the same weights.
    """
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for batch in batches:
        loss, n = loss_fn(model, _to_device(batch, device))
        total += loss.item() * int(n)
        count += int(n)
    if count == 0:
        raise ValueError("mean_loss: batches gave no tokens or rows: pass a non-empty list of batches")
    return total / count


def get_batch(
    tokens: np.ndarray | torch.Tensor,
    batch_size: int,
    seq_len: int,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random windows of a 1-D token array: ``(inputs, targets)``, int64 ``(batch_size, seq_len)``.

    ``targets`` are ``inputs`` shifted by one (``targets[:, t] == inputs[:, t + 1]``): at every position the
    model learns the next token. ``tokens`` may be a ``np.memmap`` of the tokenized corpus (only the windows are
    read). Start positions come from ``generator`` (default: torch's global RNG, saved in checkpoints). An
    unknown or unavailable ``device`` raises with the devices there are.
    """
    device = get_device(str(device))
    if not isinstance(tokens, (np.ndarray, torch.Tensor)) or tokens.ndim != 1:
        what = f"shape {tuple(tokens.shape)}" if hasattr(tokens, "shape") else type(tokens).__name__
        raise ValueError(f"get_batch: tokens must be a 1-D np.ndarray, np.memmap or tensor of token ids, got {what}")
    if tokens.dtype.is_floating_point if isinstance(tokens, torch.Tensor) else not np.issubdtype(tokens.dtype, np.integer):
        raise TypeError(f"get_batch: tokens must hold integer token ids, got dtype {tokens.dtype}")
    for name, value in (("batch_size", batch_size), ("seq_len", seq_len)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"get_batch: {name} must be an int > 0, got {value!r}")
    if len(tokens) <= seq_len:
        raise ValueError(
            f"get_batch: a window needs seq_len + 1 = {seq_len + 1} tokens but tokens has {len(tokens)}: "
            "use a shorter seq_len or more text"
        )
    starts = torch.randint(len(tokens) - seq_len, (batch_size,), generator=generator)  # (B,), last start n-T-1
    if isinstance(tokens, torch.Tensor):
        windows = tokens[starts[:, None] + torch.arange(seq_len + 1)].long()  # (B, T + 1)
    else:
        index = starts.numpy()[:, None] + np.arange(seq_len + 1)  # (B, T + 1)
        windows = torch.from_numpy(np.asarray(tokens[index]).astype(np.int64))
    return windows[:, :-1].contiguous().to(device), windows[:, 1:].contiguous().to(device)


def mask_tokens(
    input_ids: torch.Tensor,
    special_mask: torch.Tensor,
    mask_id: int,
    vocab_size: int,
    mask_prob: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking (Devlin et al. 2019): ``(inputs, labels)`` for masked language modelling, int64 like ``input_ids``.

    Each token whose ``special_mask`` is False is chosen with probability ``mask_prob``; a chosen token becomes
    ``mask_id`` 80% of the time, a random id in ``[0, vocab_size)`` 10% of the time, and stays itself 10% of
    the time (the 80/10/10 rule). ``labels`` hold the original id at chosen positions and -100 elsewhere, so
    the loss counts chosen tokens only. Special and padding tokens (``special_mask`` True) are never chosen.
    Pass the number of ordinary tokens as ``vocab_size`` to keep special tokens out of the random draws.
    """
    if input_ids.shape != special_mask.shape or special_mask.dtype != torch.bool:
        raise ValueError(
            f"mask_tokens: special_mask must be a bool tensor shaped like input_ids {tuple(input_ids.shape)}, got "
            f"{special_mask.dtype} {tuple(special_mask.shape)}"
        )
    if not 0.0 < mask_prob < 1.0:
        raise ValueError(f"mask_tokens: mask_prob must be in (0, 1), got {mask_prob!r} (BERT uses 0.15)")
    draws = torch.rand(input_ids.shape, generator=generator)  # one draw chooses, a second decides what to do
    action = torch.rand(input_ids.shape, generator=generator)
    chosen = (draws < mask_prob) & ~special_mask.cpu()
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator)
    inputs = input_ids.cpu().clone()
    inputs[chosen & (action < 0.8)] = mask_id
    replace = chosen & (action >= 0.8) & (action < 0.9)
    inputs[replace] = random_ids[replace]
    labels = torch.where(chosen, input_ids.cpu(), torch.full_like(inputs, -100))
    return inputs.to(input_ids.device), labels.to(input_ids.device)


def masked_lm_loss(encoder: nn.Module, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Cross-entropy at the masked positions of an encoder's output: ``batch = (inputs, attention_mask, labels)``.

    ``encoder`` is a ``utils.transformer.Transformer``; its hidden states ``(B, T, d_model)`` at the positions
    whose label is not -100 are scored against every token with the token-embedding matrix (the output layer
    tied to the input one, as BERT does). Returns the mean over the masked tokens and their number.
    """
    inputs, attention_mask, labels = batch
    hidden = encoder(inputs, attention_mask=attention_mask)  # (B, T, d_model)
    chosen = labels != -100  # (B, T)
    logits = hidden[chosen] @ encoder.token_emb.weight.t()  # (n_masked, vocab_size)
    n_masked = int(chosen.sum())
    if n_masked == 0:
        raise ValueError("masked_lm_loss: no token of the batch is masked (all labels are -100): use a larger batch")
    return F.cross_entropy(logits.float(), labels[chosen]), n_masked
