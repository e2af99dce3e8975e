"""Chapter 2's teaching copies (the definitions written out in the notebook) pinned to PyTorch and to utils.

Each test runs the notebook cells that define a component, by cell id, and compares the result with the
PyTorch reference and with the promoted ``utils`` version. Tolerances: float64, max abs difference ≤ 1e-12
(unit roundoff 1.1e-16; no check chains more than ~10³ roundings of values of order ≤ 10); gradcheck with its own
defaults (eps=1e-6); float32 losses ≤ 1e-6 relative (a mean of 16 log-sum-exps over 7 classes: ~16 roundings of
u = 6e-8).
"""

import math
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import Optimizer

import utils.losses
import utils.optim

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "02_neural_networks.ipynb"
TEACHING_CELLS = ("c02-mlp-by-hand", "c02-activations", "c02-losses", "c02-optimizers", "c02-schedules")
TOL64 = 1e-12


@pytest.fixture(scope="module")
def nb():
    """The namespace the notebook's teaching cells define."""
    cells = {cell.get("id"): cell for cell in nbformat.read(NOTEBOOK, as_version=4).cells}
    namespace = {"torch": torch, "math": math, "nn": nn, "F": F, "Optimizer": Optimizer}
    for cell_id in TEACHING_CELLS:
        assert cell_id in cells, f"the notebook lost its teaching cell {cell_id!r}"
        exec(compile(cells[cell_id].source, f"{NOTEBOOK.name}:{cell_id}", "exec"), namespace)
    return namespace


def _mlp_params(g, d=6, hidden=9, c=4):
    return [
        torch.randn(hidden, d, generator=g, dtype=torch.float64, requires_grad=True),
        torch.randn(hidden, generator=g, dtype=torch.float64, requires_grad=True),
        torch.randn(c, hidden, generator=g, dtype=torch.float64, requires_grad=True),
        torch.randn(c, generator=g, dtype=torch.float64, requires_grad=True),
    ]


def test_hand_written_mlp_backward_equals_autograd_and_finite_differences(nb):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(10, 6, generator=g, dtype=torch.float64), torch.randint(0, 4, (10,), generator=g)
    params = _mlp_params(g)
    loss, cache = nb["mlp_forward"](x, y, *params)
    W1, b1, W2, b2 = params
    reference = F.cross_entropy(torch.tanh(x @ W1.T + b1) @ W2.T + b2, y)
    assert abs(loss.item() - reference.item()) <= TOL64
    for ours, theirs in zip(nb["mlp_backward"](cache), torch.autograd.grad(reference, params)):
        assert (ours - theirs).abs().max().item() <= TOL64

    class Hand(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *weights):
            loss, ctx.cache = nb["mlp_forward"](x, y, *weights)
            return loss

        @staticmethod
        def backward(ctx, grad_loss):
            return tuple(grad_loss * grad for grad in nb["mlp_backward"](ctx.cache))

    assert torch.autograd.gradcheck(Hand.apply, tuple(p.detach().clone().requires_grad_() for p in params))


@pytest.mark.parametrize("name,reference", [("sigmoid", torch.sigmoid), ("tanh", torch.tanh), ("relu", torch.relu), ("gelu", F.gelu)])
def test_activations_and_derivatives_equal_torch(nb, name, reference):
    x = torch.linspace(-30, 30, 2001, dtype=torch.float64)
    assert (nb[name](x) - reference(x)).abs().max().item() <= TOL64
    x_grad = x.clone().requires_grad_()
    (expected,) = torch.autograd.grad(reference(x_grad).sum(), x_grad)
    assert (nb[f"{name}_derivative"](x) - expected).abs().max().item() <= TOL64


def test_losses_equal_torch_and_utils(nb):
    g = torch.Generator().manual_seed(1)
    targets = torch.randint(0, 7, (16,), generator=g)
    for scale in (1.0, 1e3):
        logits = torch.randn(16, 7, generator=g) * scale  # float32, up to logits of thousands
        ours = nb["cross_entropy"](logits, targets)
        for other in (F.cross_entropy(logits, targets), utils.losses.cross_entropy(logits, targets)):
            assert abs(ours.item() - other.item()) <= 1e-6 * max(1.0, abs(other.item()))
        assert not torch.isfinite(nb["naive_cross_entropy"](logits, targets)) or scale == 1.0
    logits64 = torch.randn(5, 7, generator=g, dtype=torch.float64)
    assert (nb["log_softmax"](logits64) - utils.losses.log_softmax(logits64)).abs().max().item() <= TOL64
    a, b = torch.randn(4, 3, generator=g, dtype=torch.float64), torch.randn(4, 3, generator=g, dtype=torch.float64)
    assert abs(nb["mse"](a, b).item() - F.mse_loss(a, b).item()) <= TOL64
    assert abs(nb["mse"](a, b).item() - utils.losses.mse_loss(a, b).item()) <= TOL64


def test_teaching_log_softmax_keeps_precision_at_large_offsets(nb):
    """The notebook's log_softmax subtracts the maximum first, as utils.losses does: equal to it at offset +100."""
    x = torch.randn(200, 10, generator=torch.Generator().manual_seed(4)) + 100.0  # float32
    exact = F.log_softmax(x.double(), dim=-1)
    teaching_error = (nb["log_softmax"](x).double() - exact).abs().max().item()
    # tests/test_losses.py derives the float32 bound, 1.5e-6 at this spread; x − (m + log Σ) errs by up to half an
    # ulp of 100, 3.8e-6
    assert teaching_error <= 1.5e-6
    assert (nb["log_softmax"](x) - utils.losses.log_softmax(x)).abs().max().item() <= 2 * 1.5e-6


def _trained(make_optimizer, n_steps=100):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    optimizer = make_optimizer(model.parameters())
    g = torch.Generator().manual_seed(3)
    for _ in range(n_steps):
        x, y = torch.randn(16, 5, generator=g, dtype=torch.float64), torch.randint(0, 3, (16,), generator=g)
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize(
    "teaching,promoted,reference",
    [
        (lambda nb, p: nb["SGDMomentum"](p, lr=0.1), lambda p: utils.optim.SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
        (lambda nb, p: nb["SGDMomentum"](p, lr=0.05, momentum=0.9), lambda p: utils.optim.SGD(p, lr=0.05, momentum=0.9),
         lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
        (lambda nb, p: nb["AdamW"](p, lr=1e-2, weight_decay=0.0), lambda p: utils.optim.Adam(p, lr=1e-2),
         lambda p: torch.optim.Adam(p, lr=1e-2)),
        (lambda nb, p: nb["AdamW"](p, lr=1e-2, weight_decay=0.1), lambda p: utils.optim.AdamW(p, lr=1e-2, weight_decay=0.1),
         lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1)),
    ],
    ids=["gd", "momentum", "adam", "adamw"],
)  # fmt: skip
def test_teaching_optimizers_equal_utils_and_torch_over_100_steps(nb, teaching, promoted, reference):
    ours = _trained(lambda p: teaching(nb, p))
    assert isinstance(teaching(nb, [nn.Parameter(torch.zeros(1))]), Optimizer)
    assert (ours - _trained(promoted)).abs().max().item() <= TOL64
    assert (ours - _trained(reference)).abs().max().item() <= TOL64


def test_teaching_schedules_equal_utils(nb):
    for t in range(120):
        assert abs(nb["step_lr"](t, 0.3, 7, 0.5) - utils.optim.step_schedule(t, 0.3, 7, 0.5)) <= TOL64
        assert abs(nb["exponential_lr"](t, 0.3, 0.95) - utils.optim.exponential_schedule(t, 0.3, 0.95)) <= TOL64
        ours = nb["cosine_with_warmup"](t, 1e-3, 1e-5, 10, 100)
        assert abs(ours - utils.optim.cosine_schedule(t, 1e-3, 1e-5, 10, 100)) <= TOL64
