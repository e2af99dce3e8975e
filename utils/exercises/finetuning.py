"""Checkers for the exercises of chapter 8, "Fine-tuning classifiers".

Each checker takes the learner's function, runs it on inputs of its own and compares the result with a reference
computed independently (``utils.lora.LoRALinear``, itself pinned to ``peft``; a loop over the real tokens; torch's
``log_softmax``). A wrong answer raises :class:`utils.exercises.ExerciseError` saying what is wrong; a right one
prints "✓ name: correct".
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from utils.exercises import ExerciseError, check_close, check_shape, check_type

__all__ = ["check_lora_forward", "check_max_pool", "check_label_log_probs"]


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def check_lora_forward(lora_forward: Callable[..., torch.Tensor]) -> None:
    """Exercise 1: ``lora_forward(x, weight, bias, lora_A, lora_B, alpha) -> (..., d_out)``.

    ``W x + b + (alpha / r) B A x`` with ``weight (d_out, d_in)``, ``lora_A (r, d_in)``, ``lora_B (d_out, r)``.
    """
    from utils.lora import LoRALinear

    name = "lora_forward"
    g = _generator(8)
    d_in, d_out, rank, alpha = 6, 5, 3, 12.0
    base = torch.nn.Linear(d_in, d_out)
    with torch.no_grad():
        base.weight.copy_(torch.randn(d_out, d_in, generator=g))
        base.bias.copy_(torch.randn(d_out, generator=g))
    layer = LoRALinear(base, rank=rank, alpha=alpha)
    with torch.no_grad():
        layer.lora_A.copy_(torch.randn(rank, d_in, generator=g))
        layer.lora_B.copy_(torch.randn(d_out, rank, generator=g))  # non-zero: the update must show
        x = torch.randn(2, 4, d_in, generator=g)
        expected = layer(x)
        no_scaling = base(x) + x @ layer.lora_A.T @ layer.lora_B.T
        alpha_only = base(x) + alpha * (x @ layer.lora_A.T @ layer.lora_B.T)
    out = lora_forward(x.clone(), base.weight.detach().clone(), base.bias.detach().clone(),
                       layer.lora_A.detach().clone(), layer.lora_B.detach().clone(), alpha)
    check_type(name, out, torch.Tensor)
    check_shape(name, out, (2, 4, d_out))
    if torch.allclose(out, no_scaling, atol=1e-4):
        raise ExerciseError(f"{name}: the update is not scaled: multiply B A x by alpha / r")
    if torch.allclose(out, alpha_only, atol=1e-4):
        raise ExerciseError(f"{name}: the update is scaled by alpha; LoRA scales it by alpha / r (r = lora_A.shape[0])")
    check_close(name, out, expected, rtol=1e-5, atol=1e-5,
                hint="W x + b is x @ weight.T + bias; the update is x @ lora_A.T @ lora_B.T")


def check_max_pool(max_pool: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise 2: ``max_pool(hidden (B, T, d), attention_mask (B, T)) -> (B, d)``, the max over real tokens only."""
    name = "max_pool"
    g = _generator(9)
    hidden = -torch.rand(3, 6, 4, generator=g) - 0.5  # every real value negative: zero padding would win a plain max
    hidden[0, 2:] = 0.0  # what padding positions often hold
    lengths = [2, 6, 4]
    mask = torch.zeros(3, 6, dtype=torch.int64)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    expected = torch.stack([hidden[i, :n].max(dim=0).values for i, n in enumerate(lengths)])  # (3, 4)
    out = max_pool(hidden.clone(), mask.clone())
    check_type(name, out, torch.Tensor)
    check_shape(name, out, (3, 4))
    if torch.allclose(out, hidden.max(dim=1).values):
        raise ExerciseError(f"{name}: the padding positions take part: mask them out (e.g. masked_fill with -inf)")
    check_close(name, out, expected, rtol=0.0, atol=0.0, hint="the max over dim 1 of the real tokens only")


def check_label_log_probs(label_log_probs: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise 3: ``label_log_probs(logits (N, V), label_ids (K,)) -> (N, K)``, log-probabilities over all V tokens."""
    name = "label_log_probs"
    g = _generator(10)
    logits = torch.randn(5, 50, generator=g) * 3
    label_ids = torch.tensor([7, 31, 2])
    expected = torch.log_softmax(logits, dim=-1)[:, label_ids]
    out = label_log_probs(logits.clone(), label_ids.clone())
    check_type(name, out, torch.Tensor)
    check_shape(name, out, (5, 3))
    if torch.allclose(out, torch.log_softmax(logits[:, label_ids], dim=-1), atol=1e-5):
        raise ExerciseError(f"{name}: you normalised over the label words only; normalise over the whole vocabulary")
    if torch.allclose(out, logits[:, label_ids], atol=1e-5):
        raise ExerciseError(f"{name}: these are logits, not log-probabilities: apply log_softmax over the vocabulary")
    check_close(name, out, expected, rtol=1e-5, atol=1e-5, hint="log_softmax over dim -1, then pick the label columns")
