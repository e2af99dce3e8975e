"""Checkers for the exercises of chapter 3, "The math of attention".

Each checker takes the learner's function, runs it on inputs of its own and compares the result with a
reference computed independently (PyTorch's own operations). A wrong answer raises
:class:`utils.exercises.ExerciseError` with what is wrong; a right one prints "✓ name: correct".
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from utils.exercises import ExerciseError, check_close, check_equal, check_shape, check_type

__all__ = ["check_masked_softmax", "check_split_heads", "check_rope_rotate", "check_score_matrix_bytes"]


def _generator(seed: int = 1234) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def check_masked_softmax(masked_softmax: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise 1: ``masked_softmax(scores, mask) -> probs``.

    ``scores`` float ``(..., T_q, T_k)``, ``mask`` bool broadcastable to it (True = may attend). Masked
    positions get probability 0, every other row sums to 1, and a fully masked row is all zeros (not NaN).
    """
    name = "masked_softmax"
    g = _generator()
    scores = torch.randn(2, 3, 5, 6, generator=g) * 4
    mask = torch.rand(2, 3, 5, 6, generator=g) > 0.3
    mask[..., 0] = True
    mask[0, 1, 2] = False  # one query may attend to nothing
    mask[1, 2, 4] = False
    probs = masked_softmax(scores.clone(), mask)
    check_type(name, probs, torch.Tensor)
    check_shape(name, probs, tuple(scores.shape))
    if not torch.isfinite(probs).all():
        raise ExerciseError(
            f"{name}: your output has NaN or infinity (expected zeros for a fully masked row); "
            "softmax over a row of -inf is 0/0"
        )
    if (probs[~mask] != 0).any():
        raise ExerciseError(f"{name}: masked positions (mask False) must get probability 0 "
                            f"(a fully masked row is all zeros), the largest is {probs[~mask].abs().max().item():.3g}")
    expected = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1).nan_to_num(0.0)
    check_close(f"{name} (rows sum to one, fully masked rows zero)", probs, expected, rtol=1e-5, atol=1e-6,
                hint="subtract the row maximum over allowed positions only, and zero rows that have no key")
    # a broadcast padding mask (B, 1, 1, T_k) must work too
    pad = torch.ones(2, 1, 1, 6, dtype=torch.bool)
    pad[1, ..., 4:] = False
    expected = torch.softmax(scores.masked_fill(~pad, float("-inf")), dim=-1)
    check_close(f"{name} with a broadcast (B, 1, 1, T) padding mask", masked_softmax(scores.clone(), pad), expected,
                rtol=1e-5, atol=1e-6)


def check_split_heads(split_heads: Callable[[torch.Tensor, int], torch.Tensor]) -> None:
    """Exercise 2: ``split_heads(x, n_heads)``: ``(B, T, d_model) -> (B, n_heads, T, d_head)``.

    Head ``h`` is the contiguous slice ``x[..., h*d_head:(h+1)*d_head]``, as in ``nn.MultiheadAttention``.
    """
    name = "split_heads"
    B, T, n_heads, d_head = 2, 5, 3, 4
    x = torch.randn(B, T, n_heads * d_head, generator=_generator())
    heads = split_heads(x, n_heads)
    check_type(name, heads, torch.Tensor)
    check_shape(name, heads, (B, n_heads, T, d_head))
    for h in range(n_heads):
        expected = x[..., h * d_head:(h + 1) * d_head]  # (B, T, d_head)
        check_close(f"{name} head {h}", heads[:, h], expected, rtol=0, atol=0,
                    hint="view as (B, T, n_heads, d_head) first, then swap the T and n_heads axes")


def _reference_rope(x: torch.Tensor, positions: torch.Tensor, base: float) -> torch.Tensor:
    """RoPE in the rotate-half layout, written with explicit 2-D rotations of the pairs (i, i + d/2)."""
    d_head = x.shape[-1]
    half = d_head // 2
    theta = positions.double()[:, None] * base ** (-2 * torch.arange(half, dtype=torch.float64) / d_head)  # (T, d/2)
    x1, x2 = x[..., :half].double(), x[..., half:].double()
    return torch.cat((x1 * theta.cos() - x2 * theta.sin(), x1 * theta.sin() + x2 * theta.cos()), dim=-1)


def check_rope_rotate(rope_rotate: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> None:
    """Exercise 3: ``rope_rotate(x, positions, base)`` rotates ``x`` ``(..., T, d_head)`` by RoPE.

    Rotate-half layout of Llama: dims ``i`` and ``i + d_head/2`` form a pair rotated by the angle
    ``positions[t] * base^(-2i/d_head)``.
    """
    name = "rope_rotate"
    g = _generator()
    x = torch.randn(2, 3, 7, 8, generator=g)
    positions = torch.tensor([0, 1, 2, 5, 9, 40, 300])
    out = rope_rotate(x.clone(), positions, 10000.0)
    check_type(name, out, torch.Tensor)
    check_shape(name, out, tuple(x.shape))
    check_close(f"{name} at position 0 (no rotation)", out[..., 0, :], x[..., 0, :], rtol=1e-5, atol=1e-5,
                hint="at position 0 every angle is 0, so nothing moves")
    expected = _reference_rope(x, positions, 10000.0).float()
    check_close(name, out, expected, rtol=1e-4, atol=1e-5,
                hint="pair dim i with dim i + d_head/2 (rotate-half), not with dim i + 1 (interleaved)")
    out = rope_rotate(x.clone(), positions, 500.0)
    check_close(f"{name} with base=500", out, _reference_rope(x, positions, 500.0).float(), rtol=1e-4, atol=1e-5,
                hint="use the base argument")


def check_score_matrix_bytes(score_matrix_bytes: Callable[[int, int, int, int], int]) -> None:
    """Exercise 4: ``score_matrix_bytes(batch_size, n_heads, seq_len, bytes_per_element) -> int``.

    The memory one materialised attention score matrix takes.
    """
    name = "score_matrix_bytes"
    for args in [(1, 1, 128, 4), (8, 12, 512, 4), (2, 32, 4096, 2), (3, 5, 7, 8)]:
        batch_size, n_heads, seq_len, nbytes = args
        expected = batch_size * n_heads * seq_len * seq_len * nbytes
        given = score_matrix_bytes(*args)
        if isinstance(given, float) and given.is_integer():
            given = int(given)
        check_equal(f"{name}{args}", given, expected,
                    hint="one score per (batch, head, query, key); every element takes bytes_per_element")
