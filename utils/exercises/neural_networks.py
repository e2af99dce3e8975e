"""Checkers for chapter 2, *Neural networks from first principles*.

Each checker runs the learner's function on inputs of its own and compares with a reference computed another
way (autograd, ``F.binary_cross_entropy_with_logits``, ``torch.optim.SGD``, statistics of many samples). A wrong answer raises
:class:`utils.exercises.ExerciseError` with what is wrong; a right one prints one line.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from utils.exercises import ExerciseError, _require_function, check_close, check_shape

__all__ = ["check_deep_relu_mlp_gradients", "check_bce_with_logits", "check_nesterov_step", "check_dropout"]


def _deep_relu_mlp_reference(depth: int, seed: int):
    """Inputs, labels and parameters of a ReLU MLP with ``depth`` hidden layers, and autograd's gradients."""
    g = torch.Generator().manual_seed(seed)
    n, sizes = 12, [5, 7, 6, 8, 4][: depth + 1] + [3]  # input 5, hidden widths, 3 classes
    x = torch.randn(n, sizes[0], generator=g, dtype=torch.float64)
    y = torch.randint(0, sizes[-1], (n,), generator=g)
    weights = [torch.randn(d_out, d_in, generator=g, dtype=torch.float64, requires_grad=True)
               for d_in, d_out in zip(sizes[:-1], sizes[1:])]  # fmt: skip
    biases = [torch.randn(d_out, generator=g, dtype=torch.float64, requires_grad=True) for d_out in sizes[1:]]
    h = x
    for W, b in zip(weights[:-1], biases[:-1]):
        h = torch.relu(h @ W.T + b)
    loss = torch.nn.functional.cross_entropy(h @ weights[-1].T + biases[-1], y)
    grads = torch.autograd.grad(loss, weights + biases)  # reference: autograd
    return x, y, weights, biases, list(grads[: len(weights)]), list(grads[len(weights) :])


def check_deep_relu_mlp_gradients(deep_relu_mlp_gradients: Callable) -> None:
    """Exercise 1: ``deep_relu_mlp_gradients(x, y, weights, biases) -> (weight_grads, bias_grads)`` by hand.

    The network has any number of hidden layers: ``h_0 = x``, ``h_l = relu(h_{l−1} W_lᵀ + b_l)`` for every layer
    but the last, logits ``= h_{L−1} W_Lᵀ + b_L``, and the mean cross-entropy loss over the batch. ``x`` ``(N, D)``
    float64, ``y`` ``(N,)`` int64, ``weights`` a list of ``L`` tensors ``(out, in)``, ``biases`` a list of ``L``
    tensors ``(out,)``; the answer is two lists in the same order and shapes. Compared with autograd for networks
    with 1, 2 and 4 hidden layers, on inputs of the checker's own.
    """
    _require_function("deep_relu_mlp_gradients", deep_relu_mlp_gradients, ("x", "y", "weights", "biases"))
    for depth in (1, 2, 4):
        network = _network_name(depth)
        x, y, weights, biases, expected_w, expected_b = _deep_relu_mlp_reference(depth, seed=depth)
        given = deep_relu_mlp_gradients(x, y, [w.detach().clone() for w in weights], [b.detach().clone() for b in biases])
        if not isinstance(given, (tuple, list)) or len(given) != 2:
            raise ExerciseError(
                f"deep_relu_mlp_gradients: expected a tuple (weight_grads, bias_grads), got {type(given).__name__}"
            )
        for kind, given_list, expected_list in (("weight", given[0], expected_w), ("bias", given[1], expected_b)):
            if not isinstance(given_list, (tuple, list)) or len(given_list) != len(expected_list):
                raise ExerciseError(
                    f"{network}: expected a list of {len(expected_list)} {kind} gradients (one per layer), "
                    f"got {type(given_list).__name__}" + (f" of length {len(given_list)}" if hasattr(given_list, "__len__") else "")
                )
            for layer, (given_grad, expected_grad) in enumerate(zip(given_list, expected_list), start=1):
                symbol = "W" if kind == "weight" else "b"
                check_shape(f"{network}: d{symbol}{layer}", given_grad, tuple(expected_grad.shape))
        _check_layers_close(depth, given, (expected_w, expected_b))


def _network_name(depth: int) -> str:
    return f"{depth} hidden layer{'s' if depth > 1 else ''}"


def _check_layers_close(depth: int, given, expected) -> None:
    """One line per network when every gradient is right; otherwise the first wrong one, named by its layer."""
    for kind, given_list, expected_list in zip(("W", "b"), given, expected):
        for layer, (given_grad, expected_grad) in enumerate(zip(given_list, expected_list), start=1):
            if not torch.allclose(torch.as_tensor(given_grad, dtype=torch.float64), expected_grad, rtol=1e-7, atol=1e-10):
                check_close(f"{_network_name(depth)}: d{kind}{layer}", given_grad, expected_grad, rtol=1e-7, atol=1e-10,
                            hint=_DEEP_HINT)  # fmt: skip
    flat_given = torch.cat([torch.as_tensor(t, dtype=torch.float64).flatten() for part in given for t in part])
    flat_expected = torch.cat([t.flatten() for part in expected for t in part])
    check_close(f"{_network_name(depth)}: all {len(flat_expected)} gradient entries",
                flat_given, flat_expected, rtol=1e-7, atol=1e-10)  # fmt: skip


_DEEP_HINT = (
    "start from ∂L/∂logits = (softmax(logits) − one_hot(y)) / N and walk back one layer at a time: "
    "dW_l = (∂L/∂z_l)ᵀ h_{l−1}, db_l = Σ_n ∂L/∂z_l, ∂L/∂h_{l−1} = (∂L/∂z_l) W_l, and ReLU passes the gradient "
    "only where its input z_{l−1} was > 0 (keep the forward pass's z's)"
)


def check_bce_with_logits(bce_with_logits: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise 2: ``bce_with_logits(logits, targets)`` — mean binary cross-entropy from logits, finite for any logit.

    ``logits`` and ``targets`` (0 or 1) are float64 tensors of the same shape; the answer is a scalar tensor equal
    to ``F.binary_cross_entropy_with_logits``, also at logits of ±1000.
    """
    _require_function("bce_with_logits", bce_with_logits, ("logits", "targets"))
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
    _require_function("nesterov_step", nesterov_step, ("w", "grad", "velocity", "lr", "momentum"))
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
    _require_function("dropout", dropout, ("x", "p", "training"))
    torch.manual_seed(4)
    x = torch.rand(400, 500, dtype=torch.float64) + 0.5  # strictly positive, so a zero means "dropped"
    check_close("dropout(x, p=0.3, training=False)", dropout(x, 0.3, False), x, rtol=0, atol=0, hint="evaluation changes nothing")
    out = dropout(x, 0.3, True)
    check_shape("dropout(x, p=0.3, training=True)", out, tuple(x.shape))
    dropped = (out == 0).double().mean()
    # 200,000 elements: the fraction's binomial standard error is sqrt(0.3 * 0.7 / 200000) = 0.001; 0.01 is ten of them
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
