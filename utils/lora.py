"""LoRA written from scratch (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models").

A frozen linear layer ``y = W x + b`` gets a trainable low-rank update: ``y = W x + b + (alpha / r) B A x`` with
``A`` of shape ``(r, in_features)`` and ``B`` of shape ``(out_features, r)``. ``A`` starts as ``nn.Linear``'s
Kaiming-uniform initialisation and ``B`` at zero, so the adapted model starts equal to the original one, and only
``r (in + out)`` numbers per layer are trained. The conventions (names, initialisation, scaling ``alpha / r``,
dropout on the input of the update only) are those of ``peft``'s ``LoraConfig``; ``tests/test_lora.py`` pins the
outputs and gradients to ``peft`` from the same initial weights.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor, nn

from utils.checks import check_int, check_number, fail

__all__ = ["LoRALinear", "add_lora", "lora_parameters", "merge_lora", "ATTENTION_PROJECTIONS", "FEED_FORWARD"]

ATTENTION_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")  # the linear layers of utils.attention
FEED_FORWARD = ("w1", "w2", "w3")  # those of utils.transformer's FeedForward (w1, w2) and SwiGLU (w1, w2, w3)


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus the trainable update ``(alpha / rank) * B A``: ``(..., in) -> (..., out)``."""

    def __init__(self, base: nn.Linear, rank: int = 8, alpha: float = 16.0, dropout: float = 0.0):
        super().__init__()
        if not isinstance(base, nn.Linear):
            fail(f"base must be an nn.Linear, got {type(base).__name__}", TypeError)
        rank = check_int("rank", rank, minimum=1, maximum=min(base.in_features, base.out_features))
        alpha = check_number("alpha", alpha, above=0.0)
        dropout = check_number("dropout", dropout, minimum=0.0, maximum=0.99)
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.rank, self.alpha, self.scaling = rank, alpha, alpha / rank
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, dtype=base.weight.dtype,
                                               device=base.weight.device))  # (r, in)
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, dtype=base.weight.dtype,
                                               device=base.weight.device))  # (out, r)
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # nn.Linear's (and peft's) initialisation
        self.dropout = nn.Dropout(dropout)

    @property
    def in_features(self) -> int:
        """The wrapped layer's input size, so code that reads ``layer.in_features`` works on either."""
        return self.base.in_features

    @property
    def out_features(self) -> int:
        """The wrapped layer's output size."""
        return self.base.out_features

    def forward(self, x: Tensor) -> Tensor:
        """``W x + b + scaling * B (A dropout(x))`` over the last dim of ``x``."""
        update = self.dropout(x) @ self.lora_A.T @ self.lora_B.T  # (..., in) -> (..., r) -> (..., out)
        return self.base(x) + self.scaling * update

    def merged_weight(self) -> Tensor:
        """``W + scaling * B A``, ``(out, in)``: the single matrix that replaces the pair after training."""
        return self.base.weight + self.scaling * self.lora_B @ self.lora_A


def add_lora(
    model: nn.Module,
    rank: int = 8,
    alpha: float = 16.0,
    targets: Sequence[str] = ATTENTION_PROJECTIONS,
    dropout: float = 0.0,
) -> list[str]:
    """Freeze every parameter of ``model`` and wrap each ``nn.Linear`` whose name ends in one of ``targets``.

    Returns the qualified names of the wrapped layers (e.g. ``blocks.0.attn.q_proj``). Only the LoRA matrices are
    trainable afterwards: unfreeze a classification head yourself (``head.requires_grad_(True)``).
    """
    if not isinstance(model, nn.Module):
        fail(f"model must be an nn.Module, got {type(model).__name__}", TypeError)
    if isinstance(targets, str) or not targets:
        fail(f"targets must be a non-empty list of layer names such as {ATTENTION_PROJECTIONS}, got {targets!r}",
             TypeError if isinstance(targets, str) else ValueError)
    chosen = [name for name, module in model.named_modules()
              if isinstance(module, nn.Linear) and name.split(".")[-1] in targets]
    if not chosen:
        fail(f"targets {list(targets)} match no nn.Linear of the model", ValueError,
             "print([n for n, m in model.named_modules() if isinstance(m, nn.Linear)]) to see the names")
    for p in model.parameters():
        p.requires_grad_(False)
    for name in chosen:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoRALinear(getattr(parent, child), rank, alpha, dropout))
    return chosen


def lora_parameters(model: nn.Module) -> Iterator[tuple[str, nn.Parameter]]:
    """``(name, parameter)`` for every LoRA matrix of ``model`` (``...lora_A``, ``...lora_B``)."""
    if not isinstance(model, nn.Module):
        fail(f"model must be an nn.Module, got {type(model).__name__}", TypeError)
    for name, p in model.named_parameters():
        if name.endswith(("lora_A", "lora_B")):
            yield name, p


@torch.no_grad()
def merge_lora(model: nn.Module) -> int:
    """Replace every :class:`LoRALinear` of ``model`` by one ``nn.Linear`` holding the merged weight, in place.

    The merged model computes the same function without the extra matrix products (inference costs what the original
    model cost). Returns the number of layers merged.
    """
    if not isinstance(model, nn.Module):
        fail(f"model must be an nn.Module, got {type(model).__name__}", TypeError)
    names = [name for name, module in model.named_modules() if isinstance(module, LoRALinear)]
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        lora = getattr(parent, child)
        merged = nn.Linear(lora.base.in_features, lora.base.out_features, bias=lora.base.bias is not None,
                           device=lora.base.weight.device, dtype=lora.base.weight.dtype)
        merged.weight.copy_(lora.merged_weight())
        if lora.base.bias is not None:
            merged.bias.copy_(lora.base.bias)
        setattr(parent, child, merged)
    return len(names)
