"""LoRA from scratch (utils.lora) pinned to peft: the same outputs and gradients from the same initial weights."""

import peft
import pytest
import torch
from torch import nn

from utils.lora import ATTENTION_PROJECTIONS, FEED_FORWARD, LoRALinear, add_lora, lora_parameters, merge_lora
from utils.transformer import Transformer, preset

RANK, ALPHA = 4, 8.0


def _pair(seed=0, targets=ATTENTION_PROJECTIONS):
    """Our LoRA model and peft's on the same tiny BERT, their LoRA matrices copied from ours (B non-zero)."""
    torch.manual_seed(seed)
    ours = Transformer(preset("tiny-bert"))
    torch.manual_seed(seed)
    theirs = Transformer(preset("tiny-bert"))
    wrapped = add_lora(ours, rank=RANK, alpha=ALPHA, targets=targets)
    theirs = peft.get_peft_model(theirs, peft.LoraConfig(r=RANK, lora_alpha=ALPHA, lora_dropout=0.0,
                                                         target_modules=list(targets)))
    with torch.no_grad():
        for name, p in lora_parameters(ours):
            p.normal_(std=0.1)
            theirs.base_model.model.get_submodule(name).default.weight.copy_(p)
    return ours, theirs, wrapped


@pytest.mark.parametrize("targets, per_block", [(ATTENTION_PROJECTIONS, 4), (ATTENTION_PROJECTIONS + FEED_FORWARD, 6)],
                         ids=["attention", "attention and feed-forward"])
def test_lora_outputs_and_gradients_equal_peft(targets, per_block):
    ours, theirs, wrapped = _pair(targets=targets)
    ids = torch.randint(0, 99, (3, 9), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(3, 9, dtype=torch.int64)
    mask[1, 5:] = 0
    out_ours, out_theirs = ours(ids, attention_mask=mask), theirs(ids, attention_mask=mask)
    real = mask.bool()
    # Tolerance: peft adds the same float32 terms in another order; ~10 roundings of 6e-8 at values of order 1.
    assert (out_ours[real] - out_theirs[real]).abs().max() < 1e-5
    out_ours[real].pow(2).sum().backward()
    out_theirs[real].pow(2).sum().backward()
    theirs_params = dict(theirs.base_model.model.named_parameters())
    for name, p in lora_parameters(ours):
        reference = theirs_params[name + ".default.weight"].grad
        assert torch.allclose(p.grad, reference, rtol=1e-4, atol=1e-5), name
    assert len(wrapped) == per_block * 2  # in each of the two blocks: four projections (and the FFN's two layers)


def test_trainable_parameters_equal_peft_and_the_formula():
    ours, theirs, _ = _pair()
    trainable, _ = theirs.get_nb_trainable_parameters()
    d = preset("tiny-bert").d_model
    assert sum(p.numel() for p in ours.parameters() if p.requires_grad) == trainable == 2 * 4 * RANK * (d + d)


def test_a_fresh_adapter_leaves_the_model_unchanged_and_trains_only_lora():
    torch.manual_seed(0)
    model = Transformer(preset("tiny-bert"))
    ids = torch.randint(0, 99, (2, 6))
    before = model(ids).detach()
    add_lora(model, rank=2, alpha=4.0)
    assert torch.equal(model(ids), before)  # B starts at zero: the update is exactly zero
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {n for n, _ in lora_parameters(model)}


def test_lora_linear_is_the_formula_and_merges_into_one_matrix():
    torch.manual_seed(2)
    base = nn.Linear(6, 5)
    layer = LoRALinear(base, rank=3, alpha=6.0)
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(4, 6)
    expected = x @ base.weight.T + base.bias + 2.0 * (x @ layer.lora_A.T @ layer.lora_B.T)
    assert torch.allclose(layer(x), expected, atol=1e-6)
    model = nn.Sequential(layer)
    with torch.no_grad():
        separate = model(x)
        assert merge_lora(model) == 1
        assert isinstance(model[0], nn.Linear)
        # Folding B A into W rounds once more per entry: float32 error ~1e-7 of values of order 10.
        assert torch.allclose(model(x), separate, atol=1e-5)


def test_lora_a_is_initialised_like_peft():
    torch.manual_seed(3)
    ours = LoRALinear(nn.Linear(64, 64), rank=8)
    torch.manual_seed(3)
    layer = nn.Linear(64, 64)
    theirs = peft.get_peft_model(nn.Sequential(layer), peft.LoraConfig(r=8, lora_alpha=16, target_modules=["0"]))
    a_theirs = theirs.base_model.model[0].lora_A.default.weight
    bound = 1 / 64**0.5  # kaiming_uniform(a=sqrt(5)) on fan_in 64: U(-1/8, 1/8)
    assert ours.lora_A.abs().max() <= bound and a_theirs.abs().max() <= bound
    assert ours.lora_A.std().item() == pytest.approx(a_theirs.std().item(), rel=0.15)
    assert torch.count_nonzero(ours.lora_B) == 0 and torch.count_nonzero(theirs.base_model.model[0].lora_B.default.weight) == 0
