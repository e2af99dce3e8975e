"""Checkers for chapter 2, *Neural networks from first principles*.

Each checker runs the learner's function on inputs of its own and compares with a reference computed another
way (autograd, ``F.binary_cross_entropy_with_logits``, ``torch.optim.SGD``, statistics of many samples). A wrong answer raises
:class:`utils.exercises.ExerciseError` with what is wrong; a right one prints one line.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from utils.exercises import ExerciseError, check_close, check_shape

__all__ = ["check_relu_mlp_gradients", "check_bce_with_logits", "check_nesterov_step", "check_dropout"]


def _callable(name: str, fn) -> None:
    if not callable(fn):
        raise ExerciseError(f"{name}: expected a function, got {type(fn).__name__}")


def check_relu_mlp_gradients(relu_mlp_gradients: Callable) -> None:
    """Exercise 1: ``relu_mlp_gradients(x, y, W1, b1, W2, b2) -> (dW1, db1, dW2, db2)`` by hand.

    The network is ``logits = relu(x W1ᵀ + b1) W2ᵀ + b2`` with the mean cross-entropy loss over the batch;
    ``x`` ``(N, D)`` float64, ``y`` ``(N,)`` int64, ``W1`` ``(H, D)``, ``b1`` ``(H,)``, ``W2`` ``(C, H)``, ``b2`` ``(C,)``.
    Compared with autograd on inputs of the checker's own.
    """
    _callable("relu_mlp_gradients", relu_mlp_gradients)
    g = torch.Generator().manual_seed(1)
    n, d, h, c = 12, 5, 7, 4
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randint(0, c, (n,), generator=g)
    params = [
        torch.randn(h, d, generator=g, dtype=torch.float64, requires_grad=True),
        torch.randn(h, generator=g, dtype=torch.float64, requires_grad=True),
        torch.randn(c, h, generator=g, dtype=torch.float64, requires_grad=True),
        torch.randn(c, generator=g, dtype=torch.float64, requires_grad=True),
    ]
    W1, b1, W2, b2 = params
    loss = torch.nn.functional.cross_entropy(torch.relu(x @ W1.T + b1) @ W2.T + b2, y)
    expected = torch.autograd.grad(loss, params)  # reference: autograd
    given = relu_mlp_gradients(x, y, *(p.detach().clone() for p in params))
    if not isinstance(given, (tuple, list)) or len(given) != 4:
        raise ExerciseError(f"relu_mlp_gradients: expected a tuple (dW1, db1, dW2, db2), got {type(given).__name__}")
    hints = {
        "dW2": "∂L/∂logits = (softmax(logits) − one_hot(y)) / N, then dW2 = (∂L/∂logits)ᵀ A",
        "db2": "sum ∂L/∂logits over the batch",
        "dW1": "ReLU passes the gradient where its input was > 0 and blocks it elsewhere",
        "db1": "sum ∂L/∂H over the batch",
    }
    for name, given_grad, expected_grad in zip(("dW1", "db1", "dW2", "db2"), given, expected):
        check_close(name, given_grad, expected_grad, rtol=1e-7, atol=1e-10, hint=hints[name])


def check_bce_with_logits(bce_with_logits: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise 2: ``bce_with_logits(logits, targets)`` — mean binary cross-entropy from logits, finite for any logit.

    ``logits`` and ``targets`` (0 or 1) are float64 tensors of the same shape; the answer is a scalar tensor equal
    to ``F.binary_cross_entropy_with_logits``, also at logits of ±1000.
    """
    _callable("bce_with_logits", bce_with_logits)
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(6, 5, generator=g, dtype=torch.float64) * 3
    targets = torch.randint(0, 2, (6, 5), generator=g).double()
    reference = torch.nn.functional.binary_cross_entropy_with_logits
    check_close("bce_with_logits(small logits)", bce_with_logits(logits, targets), reference(logits, targets),
                rtol=1e-9, atol=1e-12)  # fmt: skip
    huge = logits * 400
    check_close(
        "bce_with_logits(logits near ±1000)",
        bce_with_logits(huge, targets),
        reference(huge, targets),
        rtol=1e-9,
        atol=1e-9,
        hint="log σ(z) = −log(1 + e^(−z)) overflows for z ≪ 0; rewrite the loss as max(z, 0) − z·y + log(1 + e^(−|z|))",
    )


def check_nesterov_step(nesterov_step: Callable) -> None:
    """Exercise 3: ``nesterov_step(w, grad, velocity, lr, momentum) -> (new_w, new_velocity)``, PyTorch's convention.

    ``v ← μ v + g``, then ``w ← w − α (g + μ v)`` (the gradient plus a look-ahead along the new velocity), with
    ``velocity`` a zero tensor before the first step. Checked over 30 steps on a quadratic against
    ``torch.optim.SGD(momentum=μ, nesterov=True)``.
    """
    _callable("nesterov_step", nesterov_step)
    scales = torch.tensor([1.0, 10.0, 0.1], dtype=torch.float64)
    lr, momentum = 0.05, 0.8
    w_ref = torch.nn.Parameter(torch.tensor([1.0, -1.0, 2.0], dtype=torch.float64))
    optimizer = torch.optim.SGD([w_ref], lr=lr, momentum=momentum, nesterov=True)
    w, velocity = w_ref.detach().clone(), torch.zeros(3, dtype=torch.float64)
    given_w, given_v, expected_w, expected_v = [], [], [], []
    for _ in range(30):
        optimizer.zero_grad()
        (scales * w_ref**2).sum().backward()
        optimizer.step()
        expected_w.append(w_ref.detach().clone())
        expected_v.append(optimizer.state[w_ref]["momentum_buffer"].clone())
        result = nesterov_step(w, 2 * scales * w, velocity, lr, momentum)  # the gradient of Σ s·w² is 2·s·w
        if not isinstance(result, tuple) or len(result) != 2:
            raise ExerciseError(f"nesterov_step: expected a tuple (new_w, new_velocity), got {type(result).__name__}")
        w, velocity = result
        check_shape("new_w", w, (3,))
        check_shape("new_velocity", velocity, (3,))
        given_w.append(torch.as_tensor(w).detach().clone())  # a copy: the answer may update w in place
        given_v.append(torch.as_tensor(velocity).detach().clone())
    stack = torch.stack
    check_close("velocity over 30 steps", stack(given_v), stack(expected_v), rtol=1e-9, atol=1e-12, hint=_NESTEROV_HINT)
    check_close("w over 30 steps", stack(given_w), stack(expected_w), rtol=1e-9, atol=1e-12, hint=_NESTEROV_HINT)


_NESTEROV_HINT = "update the velocity first (v ← μ v + g, no learning rate inside), then step w ← w − α (g + μ v)"


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
