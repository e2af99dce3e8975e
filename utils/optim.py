"""Optimizers and learning-rate schedules written from their update rules (chapter 2).

Each optimizer subclasses ``torch.optim.Optimizer``, so it plugs into any training loop, learning-rate scheduler
or checkpoint (``state_dict``) exactly like the ``torch.optim`` one it mirrors; the tests check both take the same
steps. Each schedule is a plain function ``step -> learning rate`` equal to its ``torch.optim.lr_scheduler``
counterpart where one exists; :func:`as_scheduler` turns any of them into a scheduler for an optimizer.

Momentum, two ways of writing it. ``torch.optim.SGD`` (and this module) keeps ``v ← μ v + g`` and steps
``w ← w − α v``. Textbooks often write ``v ← γ v + α g`` and ``w ← w − v``. With a constant ``α`` and ``γ = μ`` the
two are the same method: the textbook velocity is ``α`` times torch's. They differ only when ``α`` changes during
training (a schedule): torch's form applies the new ``α`` to the whole velocity at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from utils.checks import check_callable, check_int, check_number, describe, fail

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "step_schedule",
    "exponential_schedule",
    "cosine_schedule",
    "as_scheduler",
]


def _checked_params(params) -> list:
    """``params`` as a non-empty list of tensors (or of parameter-group dicts), else a message that says what to do."""
    if isinstance(params, torch.Tensor):
        fail(f"params must be an iterable of tensors, got one {describe(params)}", TypeError, "wrap it in a list: [w]")
    if isinstance(params, torch.nn.Module):
        fail(f"params must be the model's parameters, got the model {type(params).__name__}", TypeError,
             "pass model.parameters()")
    if not isinstance(params, Iterable):
        fail(f"params must be an iterable of tensors, e.g. model.parameters(), got {describe(params)}", TypeError)
    params = list(params)
    if not params:
        fail("params is empty: the optimizer has nothing to update", ValueError,
             "model.parameters() is a generator that can be used once only: call it again for each optimizer")
    for item in params:
        if not isinstance(item, (torch.Tensor, dict)):
            fail(f"params must hold tensors (or parameter-group dicts), got an item {describe(item)}", TypeError,
                 "pass model.parameters(), or a list of tensors such as [w, b]")
    return params


def _check_hyperparameters(lr, weight_decay, momentum=0.0, betas=(0.9, 0.999), eps=1e-8) -> None:
    """What every optimizer here shares: ``lr > 0``, ``weight_decay ≥ 0``, ``eps ≥ 0``, momentum and betas in [0, 1)."""
    check_number("lr", lr, above=0.0, hint="a learning rate is a step size > 0, e.g. 1e-3")
    check_number("weight_decay", weight_decay, minimum=0.0, hint="0 turns weight decay off")
    check_number("momentum", momentum, minimum=0.0, hint="0 turns momentum off; 0.9 is usual")
    if momentum >= 1.0:
        fail(f"momentum must be < 1, got {momentum:g}", ValueError,
             "a momentum of 1 or more never forgets a gradient and diverges; 0.9 is usual")
    if isinstance(betas, (str, bytes)) or not isinstance(betas, Sequence) or len(betas) != 2:
        fail(f"betas must be two numbers (beta1, beta2), got {describe(betas)}", TypeError, "e.g. betas=(0.9, 0.999)")
    for beta in betas:
        check_number("betas", beta, minimum=0.0, hint="e.g. betas=(0.9, 0.999)")
        if beta >= 1.0:
            fail(f"betas must be two numbers in [0, 1), e.g. (0.9, 0.999), got {tuple(betas)!r}", ValueError,
                 "a beta of 1 never updates its average; did you write 1 - beta?")
    check_number("eps", eps, minimum=0.0, hint="a small number added to the denominator, e.g. 1e-8")


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and L2 weight decay, as ``torch.optim.SGD`` defines them.

    Per parameter ``w`` with gradient ``g``: ``g ← g + λ w`` (when ``weight_decay`` λ > 0), then
    ``v ← μ v + g`` (when ``momentum`` μ > 0, with ``v = g`` on the first step) and ``w ← w − α v``.
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0.0, weight_decay: float = 0.0):
        _check_hyperparameters(lr, weight_decay, momentum=momentum)
        super().__init__(_checked_params(params), dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None):
        """Update every parameter that has a gradient; returns ``closure()`` when given (re-evaluated loss)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for w in group["params"]:
                if w.grad is None:
                    continue
                g = w.grad
                if group["weight_decay"] != 0:
                    g = g.add(w, alpha=group["weight_decay"])
                if group["momentum"] != 0:
                    state = self.state[w]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = g.clone()
                    else:
                        state["momentum_buffer"].mul_(group["momentum"]).add_(g)
                    g = state["momentum_buffer"]
                w.add_(g, alpha=-group["lr"])
        return loss


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with optional L2 weight decay added to the gradient, as ``torch.optim.Adam``.

    With ``t`` the step count: ``m ← β₁ m + (1−β₁) g``, ``v ← β₂ v + (1−β₂) g²``,
    ``m̂ = m / (1−β₁ᵗ)``, ``v̂ = v / (1−β₂ᵗ)``, ``w ← w − α m̂ / (√v̂ + ε)``.
    """

    decoupled = False  # AdamW sets True: decay the weights directly instead of adding λw to the gradient

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        _check_hyperparameters(lr, weight_decay, betas=betas, eps=eps)
        super().__init__(_checked_params(params), dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None):
        """Update every parameter that has a gradient; returns ``closure()`` when given (re-evaluated loss)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2), eps, decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for w in group["params"]:
                if w.grad is None:
                    continue
                g = w.grad
                if decay != 0 and self.decoupled:
                    w.mul_(1 - lr * decay)  # AdamW: shrink the weights, independent of the gradient's scale
                elif decay != 0:
                    g = g.add(w, alpha=decay)  # Adam: L2 penalty, rescaled below like any gradient
                state = self.state[w]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(w)
                    state["exp_avg_sq"] = torch.zeros_like(w)
                state["step"] += 1
                m, v, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
                m.lerp_(g, 1 - beta1)  # m ← β₁ m + (1−β₁) g
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)  # v ← β₂ v + (1−β₂) g²
                bias_correction1 = 1 - beta1**t
                bias_correction2 = 1 - beta2**t
                denom = (v.sqrt() / math.sqrt(bias_correction2)).add_(eps)  # √v̂ + ε
                w.addcdiv_(m, denom, value=-lr / bias_correction1)  # w ← w − α m̂ / (√v̂ + ε)
        return loss


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay, as ``torch.optim.AdamW``.

    Before the Adam step, ``w ← w − α λ w``: the decay does not pass through Adam's per-coordinate rescaling, so
    every weight shrinks at the same rate. Default ``weight_decay`` λ = 0.01 as in PyTorch.
    """

    decoupled = True

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


def _check_step(step: int) -> None:
    check_int("step", step, minimum=0, hint="steps count from 0")


def _check_decay(lr: float, gamma: float) -> None:
    check_number("lr", lr, above=0.0, hint="the learning rate at step 0, e.g. 1e-3")
    check_number("gamma", gamma, above=0.0, maximum=1.0, hint="the factor of each decay, in (0, 1], e.g. 0.1")


def step_schedule(step: int, lr: float, step_size: int, gamma: float = 0.1) -> float:
    """Step decay ``α_t = α · γ^⌊t / step_size⌋``, equal to ``torch.optim.lr_scheduler.StepLR``."""
    _check_step(step)
    _check_decay(lr, gamma)
    check_int("step_size", step_size, minimum=1, hint="the number of steps between two decays")
    return lr * gamma ** (step // step_size)


def exponential_schedule(step: int, lr: float, gamma: float) -> float:
    """Exponential decay ``α_t = α · γ^t``, equal to ``torch.optim.lr_scheduler.ExponentialLR``."""
    _check_step(step)
    _check_decay(lr, gamma)
    return lr * gamma**step


def cosine_schedule(step: int, max_lr: float, min_lr: float, warmup_steps: int, cosine_steps: int) -> float:
    """Linear warmup then cosine decay, the schedule most large models are trained with.

    ``t < T_w``: ``α_t = t / T_w · α_max``;  ``T_w ≤ t ≤ T_c``:
    ``α_t = α_min + ½ (1 + cos(π (t − T_w) / (T_c − T_w))) (α_max − α_min)``;  ``t > T_c``: ``α_t = α_min``,
    with ``T_w = warmup_steps`` and ``T_c = cosine_steps`` (the step at which the decay ends, counted from 0).
    After warmup it equals ``torch.optim.lr_scheduler.CosineAnnealingLR(T_max=T_c − T_w, eta_min=α_min)``.
    """
    _check_cosine_args(step, max_lr, min_lr, warmup_steps, cosine_steps)
    if step < warmup_steps:
        return step / warmup_steps * max_lr
    if step > cosine_steps:
        return min_lr
    progress = (step - warmup_steps) / (cosine_steps - warmup_steps)
    return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (max_lr - min_lr)


def _check_cosine_args(step, max_lr, min_lr, warmup_steps, cosine_steps) -> None:
    _check_step(step)
    check_number("max_lr", max_lr, above=0.0, hint="the peak learning rate, reached at the end of warmup")
    check_number("min_lr", min_lr, minimum=0.0, hint="the learning rate at the end of the decay, e.g. max_lr / 10")
    if min_lr > max_lr:
        fail(f"min_lr must be <= max_lr, got max_lr={max_lr:g}, min_lr={min_lr:g}", ValueError,
             "are max_lr and min_lr swapped? the order is cosine_schedule(step, max_lr, min_lr, ...)")
    check_int("warmup_steps", warmup_steps, minimum=0, hint="0 turns warmup off")
    check_int("cosine_steps", cosine_steps, minimum=1, hint="the step at which the decay ends, counted from 0")
    if cosine_steps <= warmup_steps:
        fail(f"cosine_steps must be > warmup_steps, got cosine_steps={cosine_steps}, warmup_steps={warmup_steps}",
             ValueError, "the warmup is longer than the schedule: shorten it or lengthen the decay")


def as_scheduler(optimizer: Optimizer, schedule: Callable[[int], float]) -> LambdaLR:
    """A ``torch.optim.lr_scheduler.LambdaLR`` that sets every group's learning rate to ``schedule(step)``.

    ``schedule`` maps a step (int ≥ 0) to a learning rate, e.g.
    ``lambda t: cosine_schedule(t, 1e-3, 1e-4, 100, 1000)``; call ``scheduler.step()`` after each
    ``optimizer.step()``. Each group's ``lr`` must be non-zero (LambdaLR scales it by a factor).
    """
    if not isinstance(optimizer, Optimizer):
        fail(f"optimizer must be a torch.optim.Optimizer, got {describe(optimizer)}", TypeError,
             "make the optimizer first, e.g. SGD(model.parameters(), lr=0.1), then pass it")
    check_callable("schedule", schedule,
                   hint="a function step -> learning rate, e.g. lambda t: cosine_schedule(t, ...)")
    try:
        first = schedule(0)
    except TypeError as error:
        fail(f"schedule must take one argument, the step, and return a learning rate; schedule(0) raised: {error}",
             TypeError, "wrap it: lambda t: cosine_schedule(t, 1e-3, 1e-4, 100, 1000)")
    check_number("schedule(0)", first, minimum=0.0, hint="schedule must return a learning rate >= 0")
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    if any(lr == 0 for lr in base_lrs):
        fail(f"every parameter group of optimizer needs a non-zero lr to scale, got {base_lrs}", ValueError,
             "give the optimizer any lr > 0: the schedule replaces it")
    return LambdaLR(optimizer, [lambda t, base=base: schedule(t) / base for base in base_lrs])
