"""Checkers for the exercises of chapter 3, "The math of attention".

Each checker takes the learner's function, runs it on inputs of its own and compares the result with a
reference computed independently (PyTorch's own operations). A wrong answer raises
:class:`utils.exercises.ExerciseError` with what is wrong; a right one prints "✓ name: correct".
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from utils.attention import attention_error_bound
from utils.exercises import ExerciseError, _require_function, check_close, check_equal, check_shape, check_type

__all__ = [
    "check_masked_softmax",
    "check_grouped_query_attention",
    "check_rope_rotate",
    "check_kv_cache_bytes",
]


def _generator(seed: int = 1234) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def check_masked_softmax(masked_softmax: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise 1: ``masked_softmax(scores, mask) -> probs``.

    ``scores`` float ``(..., T_q, T_k)``, ``mask`` bool broadcastable to it (True = may attend). Masked
    positions get probability 0, every other row sums to 1, and a fully masked row is all zeros (not NaN).
    """
    name = "masked_softmax"
    _require_function(name, masked_softmax, ("scores", "mask"))
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
    # Derived float32 tolerance, relative to each probability: the shift s - max is off by up to eps/2 |s - max|,
    # which exp turns into a relative error of that size; exp, the n-term sum and the division add (n + 2) eps/2.
    # Two implementations differ by at most twice that. Masked positions were checked to be exactly 0 above.
    spread = (scores - scores.amax(-1, keepdim=True)).abs().max().item()
    rtol = (spread + scores.shape[-1] + 2) * torch.finfo(torch.float32).eps
    check_close(f"{name} (rows sum to one, fully masked rows zero)", probs, expected, rtol=rtol, atol=0.0,
                hint="subtract the row maximum over allowed positions only, and zero rows that have no key")
    # a broadcast padding mask (B, 1, 1, T_k) must work too
    pad = torch.ones(2, 1, 1, 6, dtype=torch.bool)
    pad[1, ..., 4:] = False
    expected = torch.softmax(scores.masked_fill(~pad, float("-inf")), dim=-1)
    check_close(f"{name} with a broadcast (B, 1, 1, T) padding mask", masked_softmax(scores.clone(), pad), expected,
                rtol=rtol, atol=0.0)


def _reference_gqa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Grouped-query attention one query head at a time, in float64: head ``h`` uses key/value head ``h // n_rep``."""
    n_rep = q.shape[1] // k.shape[1]
    heads = [
        torch.softmax(q[:, h].double() @ k[:, h // n_rep].double().transpose(-2, -1) / q.shape[-1] ** 0.5, dim=-1)
        @ v[:, h // n_rep].double()
        for h in range(q.shape[1])
    ]
    return torch.stack(heads, dim=1)  # (B, n_heads, T_q, d_v)


def check_grouped_query_attention(
    grouped_query_attention: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
) -> None:
    """Exercise 2: ``grouped_query_attention(q, k, v) -> (B, n_heads, T_q, d_v)``.

    ``q`` is ``(B, n_heads, T_q, d_head)``, ``k`` ``(B, n_kv_heads, T_k, d_head)``, ``v`` ``(B, n_kv_heads, T_k,
    d_v)``; ``n_heads`` is a multiple of ``n_kv_heads`` and query head ``h`` attends with key/value head
    ``h // (n_heads // n_kv_heads)``, as Llama's ``repeat_kv``. The reference is a float64 loop over the query
    heads.
    """
    name = "grouped_query_attention"
    _require_function(name, grouped_query_attention, ("q", "k", "v"))
    g = _generator()
    for n_heads, n_kv_heads in [(6, 2), (9, 3), (4, 4), (4, 1)]:
        q = torch.randn(2, n_heads, 5, 8, generator=g)
        k, v = torch.randn(2, n_kv_heads, 7, 8, generator=g), torch.randn(2, n_kv_heads, 7, 4, generator=g)
        label = f"{name} with {n_heads} query heads, {n_kv_heads} key/value head{'s' if n_kv_heads > 1 else ''}"
        try:
            out = grouped_query_attention(q.clone(), k.clone(), v.clone())
        except NotImplementedError:  # the stub: run_exercise reports "not attempted yet"
            raise
        except RuntimeError as error:
            raise ExerciseError(
                f"{label}: your function raised {type(error).__name__}: {error}. Hint: k and v have fewer heads "
                "than q; repeat each of them for its group of query heads first"
            ) from None
        check_type(label, out, torch.Tensor)
        check_shape(label, out, (2, n_heads, 5, 4))
        # float32 vs float64: within the float32 rounding bound of one attention (utils.attention_error_bound).
        tolerance = attention_error_bound(q, k, v)
        check_close(label, out, _reference_gqa(q, k, v), rtol=0, atol=tolerance,
                    hint="query head h uses key/value head h // (n_heads // n_kv_heads): repeat each key/value "
                    "head n_rep times in a row (repeat_interleave), do not tile the heads (repeat)")


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
    _require_function(name, rope_rotate, ("x", "positions", "base"))
    g = _generator()
    x = torch.randn(2, 3, 7, 8, generator=g)
    positions = torch.tensor([0, 1, 2, 5, 9, 40, 300])
    out = rope_rotate(x.clone(), positions, 10000.0)
    check_type(name, out, torch.Tensor)
    check_shape(name, out, tuple(x.shape))
    eps, largest = torch.finfo(torch.float32).eps, x.abs().max().item()
    # at position 0: cos = 1 and sin = 0, so x * cos + rotate_half(x) * sin is x up to three roundings
    check_close(f"{name} at position 0 (no rotation)", out[..., 0, :], x[..., 0, :], rtol=0.0,
                atol=3 * eps * 2 * largest, hint="at position 0 every angle is 0, so nothing moves")
    for base, hint in [(10000.0, "pair dim i with dim i + d_head/2 (rotate-half), not with dim i + 1 (interleaved)"),
                       (500.0, "use the base argument")]:
        out = rope_rotate(x.clone(), positions, base)
        # Derived float32 tolerance against the float64 reference: the angle p * base^(-2i/d) is off by up to
        # p (2 + ln base) eps/2 (the product, the power, and the exponent's rounding times ln base), which cos and
        # sin pass on; an entry x1 cos - x2 sin adds three roundings. Entries are at most 2 max|x| in size.
        atol = 2 * largest * (positions.max().item() * (2 + math.log(base)) + 4) * eps / 2
        check_close(name if base == 10000.0 else f"{name} with base={base:g}", out,
                    _reference_rope(x, positions, base).float(), rtol=0.0, atol=atol, hint=hint)


_DTYPE_OF_SIZE = {1: torch.int8, 2: torch.float16, 4: torch.float32, 8: torch.float64}  # bytes -> a dtype that size


def check_kv_cache_bytes(kv_cache_bytes: Callable[[int, int, int, int, int, int], int]) -> None:
    """Exercise 4: ``kv_cache_bytes(n_layers, batch_size, n_kv_heads, seq_len, d_head, bytes_per_element) -> int``.

    The memory a KV cache takes when it holds ``seq_len`` positions: every layer keeps a key tensor and a value
    tensor of shape ``(batch_size, n_kv_heads, seq_len, d_head)``.
    """
    name = "kv_cache_bytes"
    _require_function(
        name, kv_cache_bytes, ("n_layers", "batch_size", "n_kv_heads", "seq_len", "d_head", "bytes_per_element")
    )
    for args in [(1, 1, 1, 128, 64, 4), (30, 1, 3, 2048, 64, 2), (12, 8, 12, 1024, 64, 4), (2, 3, 5, 7, 8, 1)]:
        n_layers, batch_size, n_kv_heads, seq_len, d_head, nbytes = args
        one_tensor = torch.empty(batch_size, n_kv_heads, seq_len, d_head, dtype=_DTYPE_OF_SIZE[nbytes], device="meta")
        expected = n_layers * 2 * one_tensor.numel() * one_tensor.element_size()  # keys and values, every layer
        given = kv_cache_bytes(*args)
        if isinstance(given, float) and given.is_integer():
            given = int(given)
        check_equal(f"{name}{args}", given, expected,
                    hint="each layer caches two tensors (keys and values) of shape (batch_size, n_kv_heads, seq_len, "
                    "d_head), each element taking bytes_per_element")
