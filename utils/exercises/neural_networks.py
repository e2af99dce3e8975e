"""Checkers for chapter 2, *Neural networks from first principles*.

Each checker runs the learner's function on inputs of its own and compares with a reference computed another
way (autograd, ``torch.logsumexp``, ``torch.optim.SGD``, statistics of many samples). A wrong answer raises
:class:`utils.exercises.ExerciseError` with what is wrong; a right one prints one line.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from utils.exercises import ExerciseError, check_close, check_shape

__all__ = ["check_sigmoid_derivative", "check_stable_logsumexp", "check_momentum_step", "check_dropout"]


def _callable(name: str, fn) -> None:
    if not callable(fn):
        raise ExerciseError(f"{name}: expected a function, got {type(fn).__name__}")


def check_sigmoid_derivative(sigmoid_derivative: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Exercise 1: ``sigmoid_derivative(x)`` returns dσ/dx elementwise for a float64 tensor ``x`` of any shape."""
    _callable("sigmoid_derivative", sigmoid_derivative)
    x = torch.linspace(-12, 12, 97, dtype=torch.float64).reshape(97, 1).expand(97, 3).clone()
    x.requires_grad_(True)
    (expected,) = torch.autograd.grad(torch.sigmoid(x).sum(), x)  # reference: autograd, not the formula
    given = sigmoid_derivative(x.detach())
    check_shape("sigmoid_derivative(x)", given, tuple(x.shape))
    check_close(
        "sigmoid_derivative(x)",
        given,
        expected,
        rtol=1e-6,
        atol=1e-12,
        hint="the derivative can be written with σ(x) itself; it is largest (1/4) at x = 0",
    )


def check_stable_logsumexp(logsumexp: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Exercise 2: ``logsumexp(x)`` returns log Σ exp(x) over the last dimension, finite even for logits near ±1000."""
    _callable("logsumexp", logsumexp)
    g = torch.Generator().manual_seed(2)
    ordinary = torch.randn(5, 7, generator=g, dtype=torch.float64)
    check_close("logsumexp(small logits)", logsumexp(ordinary), torch.logsumexp(ordinary, dim=-1), rtol=1e-9, atol=1e-12)
    huge = ordinary * 400 + torch.tensor([[1000.0], [-1000.0], [0.0], [700.0], [-700.0]], dtype=torch.float64)
    check_close(
        "logsumexp(logits near ±1000)",
        logsumexp(huge),
        torch.logsumexp(huge, dim=-1),
        rtol=1e-9,
        atol=1e-9,
        hint="exp(1000) overflows; shift by the row's maximum m first: log Σ exp(x) = m + log Σ exp(x − m)",
    )


def check_momentum_step(momentum_step: Callable) -> None:
    """Exercise 3: ``momentum_step(w, grad, velocity, lr, momentum) -> (new_w, new_velocity)``, PyTorch's convention.

    ``v ← μ v + g`` then ``w ← w − α v``, with ``velocity`` a zero tensor before the first step. Checked over 30
    steps on a quadratic against ``torch.optim.SGD(momentum=μ)``.
    """
    _callable("momentum_step", momentum_step)
    scales = torch.tensor([1.0, 10.0, 0.1], dtype=torch.float64)
    lr, momentum = 0.05, 0.8
    w_ref = torch.nn.Parameter(torch.tensor([1.0, -1.0, 2.0], dtype=torch.float64))
    optimizer = torch.optim.SGD([w_ref], lr=lr, momentum=momentum)
    w, velocity = w_ref.detach().clone(), torch.zeros(3, dtype=torch.float64)
    given_w, given_v, expected_w, expected_v = [], [], [], []
    for _ in range(30):
        optimizer.zero_grad()
        (scales * w_ref**2).sum().backward()
        optimizer.step()
        expected_w.append(w_ref.detach().clone())
        expected_v.append(optimizer.state[w_ref]["momentum_buffer"].clone())
        result = momentum_step(w, 2 * scales * w, velocity, lr, momentum)  # the gradient of Σ s·w² is 2·s·w
        if not isinstance(result, tuple) or len(result) != 2:
            raise ExerciseError(f"momentum_step: expected a tuple (new_w, new_velocity), got {type(result).__name__}")
        w, velocity = result
        check_shape("new_w", w, (3,))
        check_shape("new_velocity", velocity, (3,))
        given_w.append(torch.as_tensor(w).detach().clone())  # a copy: the answer may update w in place
        given_v.append(torch.as_tensor(velocity).detach().clone())
    stack = torch.stack
    check_close("w over 30 steps", stack(given_w), stack(expected_w), rtol=1e-9, atol=1e-12, hint=_MOMENTUM_HINT)
    check_close("velocity over 30 steps", stack(given_v), stack(expected_v), rtol=1e-9, atol=1e-12, hint=_MOMENTUM_HINT)


_MOMENTUM_HINT = "update the velocity first (v ← μ v + g, no learning rate inside), then step w ← w − α v"


def check_dropout(dropout: Callable) -> None:
    """Exercise 4: ``dropout(x, p, training)`` — inverted dropout: in training, zero each element with probability
    ``p`` and scale the survivors by ``1/(1−p)``; in evaluation, return ``x`` unchanged."""
    _callable("dropout", dropout)
    torch.manual_seed(4)
    x = torch.rand(400, 500, dtype=torch.float64) + 0.5  # strictly positive, so a zero means "dropped"
    check_close("dropout(x, p=0.3, training=False)", dropout(x, 0.3, False), x, rtol=0, atol=0, hint="evaluation changes nothing")
    out = dropout(x, 0.3, True)
    check_shape("dropout(x, p=0.3, training=True)", out, tuple(x.shape))
    dropped = (out == 0).double().mean()
    check_close("fraction of zeros", dropped.item(), 0.3, rtol=0, atol=0.01, hint="each element is zeroed with probability p")
    kept = out != 0
    ratio = (out[kept] / x[kept]).double()
    check_close(
        "scale of the kept elements",
        ratio,
        torch.full_like(ratio, 1 / 0.7),
        rtol=1e-9,
        atol=0,
        hint="scale survivors by 1/(1−p) so the expected value of each element is unchanged",
    )
