"""utils.optim pinned to torch.optim step for step (100 steps) and the schedules to torch.optim.lr_scheduler.

Tolerances. Measured: the largest parameter gap over 100 steps is 0.0 in float64 and in float32, with 1 and with
2 torch threads (ours performs the same operations in the same order). Demanded: float64 ≤ 1e-12 (unit roundoff
1.1e-16, ~100 steps of ~10 roundings each on weights of order 1: 1e-13, with a margin); float32 ≤ 1e-6 (the same
count with u = 6e-8 would allow 6e-5; 1e-6 still leaves room for a reordered sum per step). Schedules ≤ 1e-12.
"""

import math

import pytest
import torch
from torch import nn

from utils import optim as ours

N_STEPS = 100


def _model(dtype):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3)).to(dtype)


def _max_diff_over_steps(make_ours, make_ref, dtype=torch.float64, n_steps=N_STEPS):
    """Train two identical models, one per optimizer, on the same batches; the largest parameter gap seen."""
    g = torch.Generator().manual_seed(1)
    inputs = torch.randn(n_steps, 32, 6, generator=g, dtype=dtype)
    targets = torch.randint(0, 3, (n_steps, 32), generator=g)
    model_a, model_b = _model(dtype), _model(dtype)
    opt_a, opt_b = make_ours(model_a.parameters()), make_ref(model_b.parameters())
    worst = 0.0
    for x, y in zip(inputs, targets):
        for model, opt in ((model_a, opt_a), (model_b, opt_b)):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        for p, q in zip(model_a.parameters(), model_b.parameters()):
            worst = max(worst, (p - q).abs().max().item())
    return worst


CASES = {
    "gd": (lambda p: ours.SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    "momentum": (lambda p: ours.SGD(p, lr=0.05, momentum=0.9), lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    "sgd_l2": (
        lambda p: ours.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-2),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-2),
    ),
    "adam": (lambda p: ours.Adam(p, lr=1e-2), lambda p: torch.optim.Adam(p, lr=1e-2)),
    "adam_l2": (
        lambda p: ours.Adam(p, lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1),
        lambda p: torch.optim.Adam(p, lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1),
    ),
    "adamw": (
        lambda p: ours.AdamW(p, lr=1e-2, weight_decay=0.1),
        lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_step_for_step_equal_to_torch_float64(name):
    assert _max_diff_over_steps(*CASES[name]) <= 1e-12


@pytest.mark.parametrize("name", ["momentum", "adamw"])
def test_step_for_step_equal_to_torch_float32(name):
    assert _max_diff_over_steps(*CASES[name], dtype=torch.float32) <= 1e-6


def test_adamw_is_an_optimizer_with_decoupled_decay_and_state_dict():
    w = nn.Parameter(torch.ones(3, dtype=torch.float64))
    opt = ours.AdamW([w], lr=0.1, weight_decay=0.5)
    assert isinstance(opt, torch.optim.Optimizer)
    w.grad = torch.zeros(3, dtype=torch.float64)  # zero gradient: only the decay moves the weight
    opt.step()
    assert torch.allclose(w.detach(), torch.full((3,), 1 - 0.1 * 0.5, dtype=torch.float64), rtol=0, atol=1e-15)
    fresh = ours.AdamW([nn.Parameter(torch.ones(3, dtype=torch.float64))], lr=0.1, weight_decay=0.5)
    fresh.load_state_dict(opt.state_dict())
    assert fresh.state_dict()["state"][0]["step"] == 1


def test_textbook_momentum_is_torch_momentum_scaled_by_lr():
    """v ← γv + α∇L, w ← w − v  equals  torch's v ← μv + ∇L, w ← w − αv  when α is constant."""
    w_torch = nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    opt = ours.SGD([w_torch], lr=0.1, momentum=0.9)
    w_book, v_book = w_torch.detach().clone(), torch.zeros(2, dtype=torch.float64)
    for _ in range(50):
        opt.zero_grad()
        (w_torch**2).sum().backward()
        opt.step()
        v_book = 0.9 * v_book + 0.1 * (2 * w_book)
        w_book = w_book - v_book
    assert torch.allclose(w_torch.detach(), w_book, rtol=0, atol=1e-12)


def _torch_lrs(make_scheduler, lr, n_steps):
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = make_scheduler(opt)
    lrs = []
    for _ in range(n_steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return lrs


def test_step_and_exponential_schedules_equal_torch():
    lrs = _torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5), 0.3, 40)
    assert max(abs(a - ours.step_schedule(t, 0.3, 7, 0.5)) for t, a in enumerate(lrs)) <= 1e-12
    lrs = _torch_lrs(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.95), 0.3, 40)
    assert max(abs(a - ours.exponential_schedule(t, 0.3, 0.95)) for t, a in enumerate(lrs)) <= 1e-12


def test_cosine_schedule_warmup_then_cosine_annealing():
    max_lr, min_lr, warmup, end = 1e-3, 1e-4, 10, 60
    lrs = [ours.cosine_schedule(t, max_lr, min_lr, warmup, end) for t in range(80)]
    assert lrs[0] == 0.0 and lrs[5] == pytest.approx(0.5 * max_lr, abs=1e-15)
    assert lrs[warmup] == pytest.approx(max_lr, abs=1e-15) and lrs[end] == pytest.approx(min_lr, abs=1e-15)
    assert all(lr == min_lr for lr in lrs[end + 1 :])
    ref = _torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=end - warmup, eta_min=min_lr), max_lr, end - warmup + 1)
    assert max(abs(a - b) for a, b in zip(ref, lrs[warmup : end + 1])) <= 1e-12


def test_as_scheduler_sets_the_schedule_on_an_optimizer():
    def schedule(t):
        return ours.cosine_schedule(t, 0.2, 0.02, 5, 30)

    lrs = _torch_lrs(lambda o: ours.as_scheduler(o, schedule), 0.2, 40)
    assert max(abs(a - schedule(t)) for t, a in enumerate(lrs)) <= 1e-12


def test_bad_arguments_raise_with_expected_and_given():
    params = [nn.Parameter(torch.zeros(1))]
    with pytest.raises(ValueError, match=r"lr must be > 0.0, got -0.1"):
        ours.SGD(params, lr=-0.1)
    with pytest.raises(ValueError, match=r"betas must be two numbers in \[0, 1\).*got \(0.9, 1.5\)"):
        ours.AdamW(params, betas=(0.9, 1.5))
    with pytest.raises(ValueError, match=r"cosine_steps must be > warmup_steps, got cosine_steps=5, warmup_steps=10"):
        ours.cosine_schedule(0, 1.0, 0.1, 10, 5)
    with pytest.raises(ValueError, match=r"step must be >= 0, got -1"):
        ours.step_schedule(-1, 0.1, 10)
    with pytest.raises(TypeError, match=r"torch.optim.Optimizer, got \[\] \(list\)"):
        ours.as_scheduler([], lambda t: 0.1)
    assert math.isfinite(ours.exponential_schedule(3, 0.1, 0.9))
