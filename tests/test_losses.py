"""utils.losses against torch.nn.functional and its bad-input errors.

Tolerances: float64, atol 1e-12 (unit roundoff 1.1e-16, a few dozen operations on values of order 10); float32,
bounds derived from the unit roundoff u = 2⁻²⁴ in the test that uses them.
"""

import pytest
import torch
import torch.nn.functional as F

from utils.losses import cross_entropy, log_softmax, logsumexp, mse_loss, softmax


@pytest.fixture
def logits():
    return torch.randn(8, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3


def test_logsumexp_and_log_softmax_equal_torch(logits):
    assert torch.allclose(logsumexp(logits), torch.logsumexp(logits, dim=-1), rtol=0, atol=1e-12)
    assert torch.allclose(logsumexp(logits, dim=0), torch.logsumexp(logits, dim=0), rtol=0, atol=1e-12)
    assert torch.allclose(log_softmax(logits), F.log_softmax(logits, dim=-1), rtol=0, atol=1e-12)


def test_logsumexp_stable_at_huge_logits_and_all_minus_inf():
    x = torch.tensor([[1000.0, 1000.0, -1000.0], [-torch.inf, -torch.inf, -torch.inf]])
    out = logsumexp(x)
    # float32: one ulp of 1000 is 6.1e-5, so 1e-4 allows the rounding of the final addition m + log 2
    assert torch.isfinite(out[0]) and abs(out[0].item() - (1000 + torch.log(torch.tensor(2.0)).item())) < 1e-4
    assert out[1].item() == -torch.inf
    naive = torch.log(torch.exp(x[0]).sum())
    assert torch.isinf(naive)  # the reason for the shift


U32 = 2.0**-24  # float32 unit roundoff


@pytest.mark.parametrize("offset", [100.0, 1000.0, -1000.0])
def test_log_softmax_and_softmax_keep_precision_at_large_offsets(offset):
    """Logits that share a large offset: ours and torch's equal the float64 answer within a float32 error bound.

    log-softmax = (x − m) − log Σ exp(x − m): x − m is exact (Sterbenz: x and m within a factor 2 of each other);
    the C exps and their sum add ≤ (C + 1)·u relative error to the argument of the log, hence ≤ (C + 1)·u absolute
    after it; rounding the log, the difference and the spread x − m adds u·(|log Σ| + |out| + |x − m|). The old
    order x − (m + log Σ) rounds at the scale of m instead: half an ulp of 100 is 3.8e-6, above this bound.
    softmax = exp(x − m) / Σ: relative error ≤ (C + 2)·u per probability.
    """
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1000, 10, generator=g) + offset  # float32, (N, C)
    n_classes = x.shape[-1]
    exact_log = F.log_softmax(x.double(), dim=-1)  # float64 reference of the same float32 inputs
    shifted = x.double() - x.double().amax(-1, keepdim=True)  # x − m, (N, C)
    spread = shifted.abs().max().item()
    log_sum = torch.logsumexp(shifted, dim=-1).abs().max().item()  # the largest |log Σ exp(x − m)|
    bound = U32 * ((n_classes + 1) + log_sum + exact_log.abs().max().item() + spread)
    ours_error = (log_softmax(x).double() - exact_log).abs().max().item()
    torch_error = (F.log_softmax(x, dim=-1).double() - exact_log).abs().max().item()
    shifted_late = x - logsumexp(x).unsqueeze(-1)  # the order this module used before: x − (m + log Σ)
    late_error = (shifted_late.double() - exact_log).abs().max().item()
    print(f"offset {offset:+g}: bound {bound:.1e}; ours {ours_error:.1e}, torch {torch_error:.1e}, x − (m + log Σ) {late_error:.1e}")
    assert ours_error <= bound and torch_error <= bound
    assert late_error > bound  # the test can tell the two orders apart
    assert (log_softmax(x) - F.log_softmax(x, dim=-1)).abs().max().item() <= 2 * bound

    exact_probs = torch.softmax(x.double(), dim=-1)
    relative = ((softmax(x).double() - exact_probs).abs() / exact_probs).max().item()
    print(f"softmax: max relative error {relative:.1e}, bound {(n_classes + 2) * U32:.1e}")
    assert relative <= (n_classes + 2) * U32
    assert ((softmax(x) - torch.softmax(x, dim=-1)).abs() <= 2 * (n_classes + 2) * U32 * exact_probs).all()


def test_softmax_equals_torch_sums_to_one_and_matches_log_softmax(logits):
    assert torch.allclose(softmax(logits), torch.softmax(logits, dim=-1), rtol=0, atol=1e-12)
    assert torch.allclose(softmax(logits, dim=0), torch.softmax(logits, dim=0), rtol=0, atol=1e-12)
    assert torch.allclose(softmax(logits).sum(-1), torch.ones(len(logits), dtype=torch.float64), rtol=0, atol=1e-12)
    assert torch.allclose(softmax(logits).log(), log_softmax(logits), rtol=0, atol=1e-12)
    huge = torch.tensor([[1000.0, 1000.0, -1000.0]])
    assert torch.equal(softmax(huge), torch.softmax(huge, dim=-1))  # [0.5, 0.5, 0]: no overflow
    assert torch.isnan(softmax(torch.full((1, 3), -torch.inf))).all()  # as torch.softmax: a fully masked row is NaN
    assert torch.autograd.gradcheck(lambda z: softmax(z), (logits[:3].clone().requires_grad_(),))


def test_cross_entropy_class_indices_equals_torch(logits):
    targets = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])
    assert torch.allclose(cross_entropy(logits, targets), F.cross_entropy(logits, targets), rtol=0, atol=1e-12)
    big = logits.float() * 1e4  # huge logits: still finite and equal (float32: rtol 1e-6 = 16 u, a mean of 8 terms)
    assert torch.isfinite(cross_entropy(big, targets))
    assert torch.allclose(cross_entropy(big, targets), F.cross_entropy(big, targets), rtol=1e-6, atol=1e-6)


def test_cross_entropy_soft_targets_sequences_and_ignore_index():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 7, 11, generator=g, dtype=torch.float64)  # (B, T, vocab_size)
    targets = torch.randint(0, 11, (2, 7), generator=g)
    targets[0, :3] = -100
    expected = F.cross_entropy(logits.reshape(-1, 11), targets.reshape(-1), ignore_index=-100)
    assert torch.allclose(cross_entropy(logits, targets), expected, rtol=0, atol=1e-12)
    probs = torch.softmax(torch.randn(4, 11, generator=g, dtype=torch.float64), dim=-1)
    soft_logits = torch.randn(4, 11, generator=g, dtype=torch.float64)
    assert torch.allclose(cross_entropy(soft_logits, probs), F.cross_entropy(soft_logits, probs), rtol=0, atol=1e-12)


def test_cross_entropy_gradient_equals_torch(logits):
    targets = torch.tensor([4, 3, 2, 1, 0, 4, 3, 2])
    a = logits.clone().requires_grad_()
    b = logits.clone().requires_grad_()
    cross_entropy(a, targets).backward()
    F.cross_entropy(b, targets).backward()
    assert torch.allclose(a.grad, b.grad, rtol=0, atol=1e-12)
    assert torch.autograd.gradcheck(lambda z: cross_entropy(z, targets), (logits.clone().requires_grad_(),))


def test_mse_equals_torch():
    g = torch.Generator().manual_seed(2)
    predictions, targets = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g)
    # float32: a mean of 18 squares of order 1 rounds by ≲ 18 u ≈ 1.1e-6 relative, on a value of order 1
    assert torch.allclose(mse_loss(predictions, targets), F.mse_loss(predictions, targets), rtol=1e-6, atol=1e-6)


def test_bad_inputs_name_expected_and_given(logits):
    with pytest.raises(TypeError, match=r"logits must be a float tensor, got tensor \(2, 3\) int64.*\.float\(\)"):
        cross_entropy(torch.ones(2, 3, dtype=torch.int64), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"shape without the class dimension, \(8,\), got tensor \(7,\)"):
        cross_entropy(logits, torch.zeros(7, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"torch.int64 tensor, got tensor \(8,\) int32.*\.long\(\)"):
        cross_entropy(logits, torch.zeros(8, dtype=torch.int32))
    with pytest.raises(ValueError, match=r"logits' shape \(8, 5\), got tensor \(8, 4\)"):
        cross_entropy(logits, torch.zeros(8, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"targets must be in \[0, 5\) \(n_classes=5\), got 5"):
        cross_entropy(logits, torch.full((8,), 5))
    with pytest.raises(ValueError, match=r"predictions and targets must have the same shape, got \(2, 3\) and \(3, 2"):
        mse_loss(torch.zeros(2, 3), torch.zeros(3, 2))
    with pytest.raises(TypeError, match=r"torch.Tensor, got \[1.0, 2.0\] \(list\)"):
        log_softmax([1.0, 2.0])
    with pytest.raises(TypeError, match=r"x must be a float tensor.*int64"):
        softmax(torch.ones(2, 3, dtype=torch.int64))

