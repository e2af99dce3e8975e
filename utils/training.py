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

Language-model batches, masking and losses live in ``utils.lm``. Determinism: with the same seed
(``utils.env.seed_everything`` or ``TrainConfig.seed``) two runs on the CPU give the same losses; a run resumed from a
checkpoint ends with the same parameters, to the last bit, as one never stopped, when its batches come from a
function that draws from the global RNGs (as ``utils.lm.get_batch`` does by default).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import numbers
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from utils.checkpoint import latest_checkpoint, resume_checkpoint, save_checkpoint
from utils.checks import check_bool, check_callable, check_choice, check_int, check_number, check_tensor, describe, fail
from utils.env import QUICK_ENV, get_device, seed_everything
from utils.optim import as_scheduler, cosine_schedule

__all__ = [
    "History", "accuracy", "clip_grad_norm_", "tensor_loader", "train_epoch", "evaluate", "train", "TrainConfig",
    "StepHistory", "TrainState", "fit", "make_optimizer", "mean_loss",
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
    check_tensor("accuracy: logits", logits, ndim=2)
    check_tensor("accuracy: targets", targets, dtype="int", hint="class ids: convert them with .long()")
    if targets.shape != logits.shape[:1]:
        fail(f"accuracy expects logits (N, C) and targets (N,), got logits {tuple(logits.shape)} and "
             f"targets {tuple(targets.shape)}", ValueError, "one target per row of logits")
    return (logits.argmax(dim=-1) == targets).float().mean().item()


def clip_grad_norm_(parameters: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale all gradients together so their global L2 norm ``√(Σ‖g‖²)`` is at most ``max_norm``.

    Equal to ``torch.nn.utils.clip_grad_norm_``: the scale is ``min(1, max_norm / (norm + 1e-6))``. Returns the
    norm before clipping (a scalar tensor), worth logging: spikes in it announce unstable training.
    """
    check_number("clip_grad_norm_: max_norm", max_norm, above=0, hint="1.0 is the usual value")
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    elif isinstance(parameters, nn.Module):
        fail(f"clip_grad_norm_: parameters must be the model's parameters, got {describe(parameters)}", TypeError,
             "pass model.parameters()")
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    total_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    scale = torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)
    for g in grads:
        g.mul_(scale.to(g.device))
    return total_norm


def tensor_loader(inputs: torch.Tensor, targets: torch.Tensor, batch_size: int, shuffle: bool = False,
                  seed: int = 0) -> DataLoader:
    """A ``DataLoader`` over ``(inputs[i], targets[i])`` pairs; shuffled with its own generator seeded by ``seed``.

    ``inputs``: ``(N, ...)``; ``targets``: ``(N, ...)``; the same ``seed`` gives the same batches in every run.
    """
    check_tensor("tensor_loader: inputs", inputs, min_ndim=1)
    check_tensor("tensor_loader: targets", targets, min_ndim=1)
    if inputs.shape[0] != targets.shape[0]:
        fail(f"inputs and targets must have the same first dimension N, got inputs {tuple(inputs.shape)} and "
             f"targets {tuple(targets.shape)}", ValueError, "one target per input row")
    check_int("tensor_loader: batch_size", batch_size, minimum=1)
    check_bool("tensor_loader: shuffle", shuffle)
    check_int("tensor_loader: seed", seed, minimum=0)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(TensorDataset(inputs, targets), batch_size=batch_size, shuffle=shuffle, generator=generator)


def _check_epoch_args(model, loader, loss_fn, metric_fn, optimizer=None, check_optimizer=False) -> None:
    if not isinstance(model, nn.Module):
        fail(f"model must be an nn.Module, got {describe(model)}", TypeError, "the arguments start (model, loader, ...)")
    if isinstance(loader, torch.Tensor) or not isinstance(loader, Iterable):
        fail(f"loader must be an iterable of (inputs, targets) batches, got {describe(loader)}", TypeError,
             "wrap tensors in tensor_loader(inputs, targets, batch_size)")
    if check_optimizer and not isinstance(optimizer, torch.optim.Optimizer):
        fail(f"optimizer must be a torch.optim.Optimizer, got {describe(optimizer)}", TypeError,
             "e.g. torch.optim.SGD(model.parameters(), lr=0.1)")
    check_callable("loss_fn", loss_fn, hint="a function (logits, targets) -> loss, e.g. F.cross_entropy")
    if metric_fn is not None:
        check_callable("metric_fn", metric_fn, hint="a function (logits, targets) -> float, or None")


def train_epoch(model: nn.Module, loader: Iterable, optimizer: torch.optim.Optimizer, loss_fn: LossFn,
                device: torch.device | str = "cpu", scheduler=None, clip_grad_norm: float | None = None,
                metric_fn: MetricFn | None = accuracy) -> tuple[float, float]:
    """One pass over ``loader`` (batches of ``(inputs, targets)``) updating ``model``; ``scheduler.step()`` per batch.

    Returns ``(mean loss, mean metric)`` over the examples (``nan`` for the metric when ``metric_fn`` is None).
    Each batch is one step of :func:`fit`: forward, loss, backward, optional clipping, optimizer step, schedule.
    """
    _check_epoch_args(model, loader, loss_fn, metric_fn)
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
def evaluate(model: nn.Module, loader: Iterable, loss_fn: LossFn, device: torch.device | str = "cpu",
             metric_fn: MetricFn | None = accuracy) -> tuple[float, float]:
    """Mean loss and metric of ``model`` (in eval mode, no gradients) over ``loader``: ``(loss, metric)``.

    The metric is ``nan`` when ``metric_fn`` is None. The model is left in eval mode.
    """
    _check_epoch_args(model, loader, loss_fn, metric_fn)
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


def train(model: nn.Module, train_loader: Iterable, val_loader: Iterable, optimizer: torch.optim.Optimizer,
          loss_fn: LossFn, epochs: int, device: torch.device | str = "cpu", scheduler=None,
          early_stopping_patience: int | None = None, clip_grad_norm: float | None = None,
          metric_fn: MetricFn | None = accuracy, verbose: bool = False) -> History:
    """Train ``model`` for up to ``epochs`` epochs, evaluating on ``val_loader`` after each; returns a :class:`History`.

    ``loss_fn(logits, targets)`` gives a scalar loss; ``metric_fn(logits, targets)`` a float (default accuracy; None
    for regression). ``scheduler.step()`` runs after every optimizer step. ``clip_grad_norm`` clips the gradients'
    global L2 norm. With ``early_stopping_patience = p``, training stops once the validation loss has not improved
    for ``p`` epochs, and the model gets back the weights of its best epoch. The model is moved to ``device``.
    """
    _check_epoch_args(model, train_loader, loss_fn, metric_fn, optimizer, check_optimizer=True)
    _check_epoch_args(model, val_loader, loss_fn, metric_fn)
    check_int("train: epochs", epochs, minimum=1)
    if early_stopping_patience is not None:
        check_int("train: early_stopping_patience", early_stopping_patience, minimum=1, hint="or None for no early stop")
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


# ----- The step-based loop (chapter 6): one loop for every model of the book -----

StepLossFn = Callable[[nn.Module, object], tuple[torch.Tensor, int]]
PRECISIONS = ("fp32", "bf16", "fp16")
SCHEDULES = ("cosine", "constant")
# Fields that change how a run is watched or stored, never the numbers it computes: a resumed run may change them.
_RESUMABLE_CHANGES = ("resume", "progress", "checkpoint_dir", "checkpoint_every", "device")


@dataclass
class TrainConfig:
    """Everything :func:`fit` needs to know about a run besides the model, the loss and the data.

    A value of the wrong type raises ``TypeError``, one out of range ``ValueError``, naming the field, what was
    expected, what was given and what to do.
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
        self.betas = tuple(self.betas) if isinstance(self.betas, (tuple, list)) else self.betas
        for name, minimum in (("max_steps", 1), ("warmup_steps", 0), ("grad_accum_steps", 1), ("eval_every", 0),
                              ("checkpoint_every", 0)):
            check_int(f"TrainConfig.{name}", getattr(self, name), minimum=minimum)
        check_number("TrainConfig.lr", self.lr, above=0)
        for name in ("min_lr", "weight_decay"):
            check_number(f"TrainConfig.{name}", getattr(self, name), minimum=0)
        if self.schedule == "cosine" and self.min_lr > self.lr:
            fail(f"TrainConfig.min_lr must be <= lr, got min_lr={self.min_lr:g} > lr={self.lr:g}", ValueError,
                 "the cosine decays from lr to min_lr: did you swap them?")
        if self.clip_grad_norm is not None:
            check_number("TrainConfig.clip_grad_norm", self.clip_grad_norm, above=0, hint="or None for no clipping")
        check_choice("TrainConfig.precision", self.precision, PRECISIONS)
        check_choice("TrainConfig.schedule", self.schedule, SCHEDULES)
        check_bool("TrainConfig.resume", self.resume)
        if self.progress is not None:
            check_bool("TrainConfig.progress", self.progress)
        if self.schedule == "cosine" and self.warmup_steps >= self.max_steps:
            fail(f"TrainConfig.warmup_steps must be < max_steps for the cosine schedule, got warmup_steps="
                 f"{self.warmup_steps}, max_steps={self.max_steps}", ValueError, "shorten the warm-up or train longer")
        if not isinstance(self.betas, tuple) or len(self.betas) != 2 or not all(
                isinstance(b, (int, float)) and 0.0 <= b < 1.0 for b in self.betas):
            fail(f"TrainConfig.betas must be two numbers in [0, 1), got {describe(self.betas)}", ValueError,
                 "GPT-3 uses (0.9, 0.95)")
        if self.seed is not None:
            check_int("TrainConfig.seed", self.seed, minimum=0)
        if (self.resume or self.checkpoint_every) and self.checkpoint_dir is None:
            fail("TrainConfig.checkpoint_dir is None but resume or checkpoint_every asks for checkpoints", ValueError,
                 "give checkpoint_dir a folder, e.g. utils.env.cache_dir() / 'runs' / 'my_run'")


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
        check_int("tokens_per_second: skip", skip, minimum=0)
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
        fail(f"make_optimizer: model must be an nn.Module, got {describe(model)}", TypeError, "pass the model itself")
    if not isinstance(config, TrainConfig):
        fail(f"make_optimizer: config must be a TrainConfig, got {describe(config)}", TypeError,
             "TrainConfig(lr=..., weight_decay=...)")
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


def _checked_loss(result, need_grad: bool = True) -> tuple[torch.Tensor, int]:
    if not (isinstance(result, tuple) and len(result) == 2):
        fail(f"loss_fn(model, batch) must return (loss, n): a scalar loss tensor and the number of tokens or rows it "
             f"averages over; got {describe(result)}", TypeError, "end loss_fn with: return loss, targets.numel()")
    loss, n = result
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0 or (need_grad and not loss.requires_grad):
        fail(f"loss_fn's loss must be a scalar tensor with gradients (the batch's mean loss), got {describe(loss)}",
             TypeError, "return loss.mean() of a computation on the model's output")
    if isinstance(n, bool) or not isinstance(n, (numbers.Integral, torch.Tensor)) or getattr(n, "ndim", 0) != 0:
        fail(f"loss_fn's n must be an int (the tokens or rows the loss averages over), got {describe(n)}", TypeError,
             "return (loss, n) with n = targets.numel() or the number of counted targets")
    if int(n) < 0 or (int(n) == 0 and need_grad):
        fail(f"loss_fn's n (tokens or rows in the batch) must be > 0, got {int(n)}", ValueError,
             "a batch whose targets are all ignored (-100) teaches nothing: draw batches with real targets")
    return loss, int(n)


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
        fail(f"fit: model must be an nn.Module, got {describe(model)}", TypeError, "the arguments are (model, loss_fn, ...)")
    check_callable("fit: loss_fn", loss_fn, hint="a function (model, batch) -> (loss, n), e.g. causal_lm_loss")
    if isinstance(batches, torch.Tensor) or not (callable(batches) or isinstance(batches, Iterable)):
        fail(f"fit: batches must be a function that returns a batch or an iterable of batches, got {describe(batches)}",
             TypeError, "e.g. lambda: get_batch(tokens, 16, 128), or a DataLoader")
    if not isinstance(config, TrainConfig):
        fail(f"fit: config must be a TrainConfig, got {describe(config)}", TypeError, "build one: TrainConfig(max_steps=...)")
    if eval_fn is not None:
        check_callable("fit: eval_fn", eval_fn, hint="a function model -> validation loss (float), or None")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        fail(f"fit: optimizer must be a torch.optim.Optimizer or None, got {describe(optimizer)}", TypeError)
    if callable(callbacks) or not all(callable(c) for c in callbacks):
        fail(f"fit: callbacks must be a list of functions state -> None, got {describe(callbacks)}", TypeError,
             "see TrainState; one callback goes in a list: callbacks=[fn]")
    if config.resume and not callable(batches):
        fail("fit: resume=True needs batches as a function (e.g. lambda: get_batch(...)): an iterable cannot be "
             "rewound to where the interrupted run stopped, so the resumed run would not be the same run")


def fit(model: nn.Module, loss_fn: StepLossFn, batches: Callable[[], object] | Iterable, config: TrainConfig,
        eval_fn: Callable[[nn.Module], float] | None = None, optimizer: torch.optim.Optimizer | None = None,
        scheduler=None, callbacks: Sequence[Callable[[TrainState], None]] = ()) -> StepHistory:
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


@torch.no_grad()
def mean_loss(model: nn.Module, loss_fn: StepLossFn, batches: Iterable) -> float:
    """The ``n``-weighted mean of ``loss_fn(model, batch)`` over ``batches`` (moved to the model's device).

    A validation loss over a fixed list of batches: the same number every time for the same weights.
    """
    if not isinstance(model, nn.Module):
        fail(f"mean_loss: model must be an nn.Module, got {describe(model)}", TypeError,
             "the arguments are (model, loss_fn, batches)")
    check_callable("mean_loss: loss_fn", loss_fn, hint="a function (model, batch) -> (loss, n), e.g. causal_lm_loss")
    if callable(batches) or not isinstance(batches, Iterable):
        fail(f"mean_loss: batches must be a list of batches, got {describe(batches)}", TypeError,
             "draw them once, e.g. [get_batch(...) for _ in range(10)], so every evaluation sees the same ones")
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for batch in batches:
        loss, n = _checked_loss(loss_fn(model, _to_device(batch, device)), need_grad=False)
        if n == 0:  # nothing counted (every target -100): its loss is nan (0 / 0) and weighs nothing
            continue
        total += loss.item() * n
        count += n
    if count == 0:
        raise ValueError("mean_loss: batches gave no tokens or rows: pass a non-empty list of batches")
    return total / count
