"""utils.losses against torch.nn.functional (float64: atol 1e-12; float32: atol 1e-6) and its bad-input errors."""

import pytest
import torch
import torch.nn.functional as F

from utils.losses import cross_entropy, log_softmax, logsumexp, mse_loss


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
    assert torch.isfinite(out[0]) and abs(out[0].item() - (1000 + torch.log(torch.tensor(2.0)).item())) < 1e-4
    assert out[1].item() == -torch.inf
    naive = torch.log(torch.exp(x[0]).sum())
    assert torch.isinf(naive)  # the reason for the shift


def test_cross_entropy_class_indices_equals_torch(logits):
    targets = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])
    assert torch.allclose(cross_entropy(logits, targets), F.cross_entropy(logits, targets), rtol=0, atol=1e-12)
    big = logits.float() * 1e4  # huge logits: still finite and equal (float32, atol 1e-6 relative to the scale)
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
    assert torch.allclose(mse_loss(predictions, targets), F.mse_loss(predictions, targets), rtol=0, atol=1e-6)


def test_bad_inputs_name_expected_and_given(logits):
    with pytest.raises(TypeError, match=r"floating dtype.*got torch.int64"):
        cross_entropy(torch.ones(2, 3, dtype=torch.int64), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"shape \(8,\).*got \(7,\)"):
        cross_entropy(logits, torch.zeros(7, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"torch.int64, got torch.int32"):
        cross_entropy(logits, torch.zeros(8, dtype=torch.int32))
    with pytest.raises(ValueError, match=r"logits' shape \(8, 5\), got \(8, 4\)"):
        cross_entropy(logits, torch.zeros(8, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"predictions \(2, 3\), targets \(3, 2\)"):
        mse_loss(torch.zeros(2, 3), torch.zeros(3, 2))
    with pytest.raises(TypeError, match=r"torch.Tensor, got list"):
        log_softmax([1.0, 2.0])
