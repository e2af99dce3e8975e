"""Positions: sinusoidal encodings (Vaswani et al. 2017) and rotary embeddings (Su et al. 2021) in Llama's layout.

Rotary position embeddings (RoPE) use the "rotate-half" layout of Hugging Face ``transformers``' Llama: the first
half of ``d_head`` pairs with the second half. :mod:`utils.attention` applies them to queries and keys.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from utils.checks import check_int, check_number, check_same_dtype_and_device, check_tensor, describe, fail

__all__ = ["sinusoidal_positions", "rotate_half", "apply_rotary", "RotaryEmbedding"]

def _check_float(name: str, x, ndim: int | None = None, min_ndim: int | None = None, hint: str = "") -> Tensor:
    return check_tensor(name, x, ndim=ndim, min_ndim=min_ndim, dtype="float", hint=hint)

# ---------------------------------------------------------------------------------------------
# Positions: sinusoidal (Vaswani et al. 2017) and rotary (Su et al. 2021, Llama's layout)
# ---------------------------------------------------------------------------------------------

def sinusoidal_positions(seq_len: int, d_model: int, base: float = 10000.0) -> Tensor:
    """Sinusoidal position encodings of "Attention Is All You Need" (Vaswani et al., 2017).

    ``PE[pos, 2i] = sin(pos / base^(2i/d_model))``, ``PE[pos, 2i+1] = cos(pos / base^(2i/d_model))``.

    Returns:
        float32 tensor ``(seq_len, d_model)``; ``d_model`` must be even.
    """
    check_int("seq_len", seq_len, minimum=0)
    check_int("d_model", d_model, minimum=2)
    if d_model % 2 != 0:
        fail(f"d_model must be even for sinusoidal positions, got d_model={d_model}", ValueError,
             "each frequency takes a (sin, cos) pair of dims")
    check_number("base", base, above=1, hint="the paper uses 10000.0")
    positions = torch.arange(seq_len, dtype=torch.float32)[:, None]  # (T, 1)
    inv_freq = base ** (-torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)  # (d_model/2,)
    angles = positions * inv_freq  # (T, d_model/2)
    pe = torch.empty(seq_len, d_model)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe  # (T, d_model)

def rotate_half(x: Tensor) -> Tensor:
    """``(x1, x2) -> (-x2, x1)`` on the halves of the last dim (Llama's rotate-half layout); ``(..., d)``, d even."""
    check_tensor("x", x, min_ndim=1)
    _check_even_last_dim("x", x)
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((-x2, x1), dim=-1)

def apply_rotary(q: Tensor, k: Tensor, cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor]:
    """Rotate queries and keys by their positions: ``x * cos + rotate_half(x) * sin``.

    Args:
        q: ``(B, n_heads, T, d_head)``; k: ``(B, n_kv_heads, T, d_head)`` (any leading dims).
        cos, sin: from :class:`RotaryEmbedding`, ``(T, d_head)`` or ``(B, T, d_head)``; a
            ``(B, T, d_head)`` pair gets a head axis inserted (as Llama's ``unsqueeze_dim=1``).

    Returns:
        ``(q_rotated, k_rotated)`` with the shapes and dtypes of ``q`` and ``k``.
    """
    _check_rotary_inputs(q, k, cos, sin)
    if cos.dim() >= 3:
        cos, sin = cos.unsqueeze(-3), sin.unsqueeze(-3)  # (B, 1, T, d_head)
    cos, sin = cos.to(q.dtype), sin.to(q.dtype)
    q_rot = q * cos + rotate_half(q) * sin
    k_rot = k * cos + rotate_half(k) * sin
    return q_rot, k_rot

def _check_even_last_dim(name: str, x: Tensor) -> None:
    if x.shape[-1] % 2 != 0:
        fail(f"{name} must have an even last dim (d_head), got {describe(x)}", ValueError,
             "rotary embeddings rotate pairs of dims (i, i + d_head/2)")

def _check_rotary_inputs(q: Tensor, k: Tensor, cos: Tensor, sin: Tensor) -> None:
    """q, k ``(..., T, d_head)`` float; cos and sin the same shape ``(T, d_head)`` or ``(B, T, d_head)``."""
    _check_float("q", q, min_ndim=2)
    _check_float("k", k, min_ndim=2)
    for name, table in (("cos", cos), ("sin", sin)):
        _check_float(name, table, hint="the (cos, sin) pair RotaryEmbedding(positions) returns")
        if table.dim() not in (2, 3):
            fail(f"{name} must be (T, d_head) or (B, T, d_head), got {describe(table)}", ValueError,
                 "the (cos, sin) pair RotaryEmbedding(positions) returns")
    if cos.shape != sin.shape:
        fail(f"cos and sin must have the same shape, got {tuple(cos.shape)} and {tuple(sin.shape)}", ValueError,
             "pass the (cos, sin) pair of one RotaryEmbedding call, in that order")
    for name, x in (("q", q), ("k", k)):
        if x.shape[-1] != cos.shape[-1]:
            fail(f"cos/sin last dim must be d_head={x.shape[-1]} of {name}, got cos {tuple(cos.shape)}", ValueError,
                 "make the RotaryEmbedding with d_head = d_model // n_heads")
        if x.shape[-2] != cos.shape[-2]:
            fail(f"cos/sin must be for the T={x.shape[-2]} positions of {name} {tuple(x.shape)}, got cos for "
                 f"{cos.shape[-2]} positions {tuple(cos.shape)}", ValueError,
                 "compute them for these tokens' positions, e.g. rotary(torch.arange(past_len, past_len + T))")
    if cos.dim() == 3 and cos.shape[0] not in (1, q.shape[0]):
        fail(f"cos/sin (B, T, d_head) must have batch size 1 or B={q.shape[0]} of q, got {tuple(cos.shape)}",
             ValueError)

class RotaryEmbedding(nn.Module):
    """Rotary position embedding tables (RoPE, Su et al. 2021) in the layout of ``transformers``' Llama.

    The pair of dims ``(i, i + d_head/2)`` of a query or key at position ``p`` is rotated by the
    angle ``p * base^(-2i/d_head)``. Because a rotation by ``p_q`` then the inverse of ``p_k``
    is a rotation by ``p_q - p_k``, the score ``q . k`` depends only on the relative position.

    Args:
        d_head: size of one head (even).
        max_seq_len: the longest sequence the model is configured for (kept for configs; the
            tables are computed from the positions, so longer positions still work).
        base: the frequency base ``theta`` (Llama: 10000.0; SmolLM2: 100000.0 — read the config).
    """

    def __init__(self, d_head: int, max_seq_len: int = 2048, base: float = 10000.0):
        super().__init__()
        check_int("d_head", d_head, minimum=2, hint="d_head = d_model // n_heads")
        if d_head % 2 != 0:
            fail(f"d_head must be even for rotary embeddings, got d_head={d_head}", ValueError,
                 "rotary embeddings rotate pairs of dims (i, i + d_head/2)")
        check_int("max_seq_len", max_seq_len, minimum=1)
        check_number("base", base, above=1, hint="Llama uses 10000.0; read rope_theta from the model's config")
        self.d_head = d_head
        self.max_seq_len = max_seq_len
        self.base = base
        inv_freq = 1.0 / (base ** (torch.arange(0, d_head, 2, dtype=torch.float) / d_head))  # (d_head/2,)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(cos, sin)``, each float32 ``(..., T, d_head)``, for integer ``positions`` ``(T,)`` or ``(B, T)``."""
        check_tensor("positions", positions, dtype="int",
                     hint="integer positions, e.g. torch.arange(T); convert others with .long()")
        if positions.dim() not in (1, 2):
            fail(f"positions must be (T,) or (B, T), got {describe(positions)}", ValueError,
                 "e.g. torch.arange(T) for one sequence")
        freqs = positions[..., None].float() * self.inv_freq.to(positions.device)  # (..., T, d_head/2)
        emb = torch.cat((freqs, freqs), dim=-1)  # (..., T, d_head)
        return emb.cos(), emb.sin()
