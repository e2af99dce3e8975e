"""Attention: scaled dot-product attention, blockwise (online-softmax) attention, masks, multi-head self-attention, KV cache, positions.

Conventions used throughout (the course's shared vocabulary):

* PyTorch layouts. Queries are ``(..., T_q, d_head)``, keys ``(..., T_k, d_head)``, values
  ``(..., T_k, d_v)``; any number of leading batch dimensions (usually ``(B, n_heads)``).
* Masks are boolean and **True means "may attend"**. A mask only has to be broadcastable to
  ``(..., T_q, T_k)``; a padding mask is ``(B, 1, 1, T)`` and a causal mask ``(T, T)``.
* A fully masked row (a query that may attend to nothing, e.g. a padding query) gives an
  output row of **zeros** and attention probabilities of zeros, never NaN, so padded batches
  work and gradients stay finite.
* Rotary position embeddings (RoPE) use the "rotate-half" layout of Hugging Face
  ``transformers``' Llama: the first half of ``d_head`` pairs with the second half.

Formulas:

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V
    MultiHead(X) = Concat(head_1, ..., head_h) W_O,  head_i = Attention(X W_Q^i, X W_K^i, X W_V^i)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "scaled_dot_product_attention",
    "blockwise_attention",
    "attention_error_bound",
    "attention_weights",
    "causal_mask",
    "padding_mask",
    "repeat_kv",
    "KVCache",
    "MultiHeadSelfAttention",
    "RotaryEmbedding",
    "rotate_half",
    "apply_rotary",
    "sinusoidal_positions",
]


# ---------------------------------------------------------------------------------------------
# Masks
# ---------------------------------------------------------------------------------------------


def _check_bool_mask(mask: Tensor | None) -> None:
    """Raise TypeError unless ``mask`` is None or a boolean tensor."""
    if mask is None:
        return
    if not isinstance(mask, Tensor):
        raise TypeError(f"mask must be a torch.bool tensor (True = may attend), got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(
            f"mask must have dtype torch.bool (True = may attend), got dtype {mask.dtype}; "
            "convert a 0/1 mask with mask.bool() or an additive float mask with mask == 0"
        )


def causal_mask(seq_len: int, device: torch.device | str | None = None, past_len: int = 0) -> Tensor:
    """Boolean causal mask: query ``i`` may attend to keys ``j <= past_len + i``.

    Args:
        seq_len: number of queries T (the new tokens).
        device: where to put the mask.
        past_len: number of keys already in a KV cache before these queries (default 0).

    Returns:
        bool tensor ``(T, past_len + T)``; ``(T, T)`` lower-triangular when ``past_len == 0``.
    """
    if seq_len < 0 or past_len < 0:
        raise ValueError(f"seq_len and past_len must be >= 0, got seq_len={seq_len}, past_len={past_len}")
    rows = torch.arange(seq_len, device=device)[:, None]  # (T, 1)
    cols = torch.arange(past_len + seq_len, device=device)[None, :]  # (1, T_total)
    return cols <= rows + past_len  # (T, T_total)


def padding_mask(lengths_or_attention_mask: Tensor, seq_len: int | None = None) -> Tensor:
    """Boolean key-padding mask ``(B, 1, 1, T)``: True where the key is a real token.

    Accepts either
      * ``lengths``: integer tensor ``(B,)`` with the number of real tokens of each sequence
        (padding at the end); ``seq_len`` sets T (default ``lengths.max()``), or
      * ``attention_mask``: tensor ``(B, T)`` of 1/0 (or bool), 1 = real token, as returned by
        Hugging Face tokenizers.

    The result broadcasts against scores ``(B, n_heads, T_q, T)``: every query may attend to
    every real key.
    """
    x = lengths_or_attention_mask
    if not isinstance(x, Tensor):
        raise TypeError(f"expected a tensor of lengths (B,) or an attention_mask (B, T), got {type(x).__name__}")
    if x.dim() == 1:
        if x.dtype.is_floating_point or x.dtype == torch.bool:
            raise TypeError(f"lengths must be an integer tensor (B,), got dtype {x.dtype}")
        T = int(x.max()) if seq_len is None else seq_len
        keep = torch.arange(T, device=x.device)[None, :] < x[:, None]  # (B, T)
    elif x.dim() == 2:
        keep = x.bool() if seq_len is None else x[:, :seq_len].bool()  # (B, T)
    else:
        raise ValueError(
            f"expected lengths (B,) or attention_mask (B, T), got a tensor of shape {tuple(x.shape)}"
        )
    return keep[:, None, None, :]  # (B, 1, 1, T)


# ---------------------------------------------------------------------------------------------
# Scaled dot-product attention, from scratch
# ---------------------------------------------------------------------------------------------


def attention_weights(q: Tensor, k: Tensor, mask: Tensor | None = None, scale: float | None = None) -> Tensor:
    """Attention probabilities ``softmax(q k^T * scale)`` with a boolean mask.

    Args:
        q: queries ``(..., T_q, d_head)``.
        k: keys ``(..., T_k, d_head)``.
        mask: bool, broadcastable to ``(..., T_q, T_k)``; True = may attend.
        scale: multiplier of the scores; default ``1 / sqrt(d_head)``.

    Returns:
        probs ``(..., T_q, T_k)``, rows sum to 1, except fully masked rows which are all zeros.
    """
    _check_bool_mask(mask)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must share d_head (last dim), got q {tuple(q.shape)} and k {tuple(k.shape)}")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = (q @ k.transpose(-2, -1)) * scale  # (..., T_q, T_k)
    if mask is None:
        return torch.softmax(scores, dim=-1)
    scores = scores.masked_fill(~mask, float("-inf"))
    row_has_key = mask.any(dim=-1, keepdim=True)  # (..., T_q, 1)
    # A row with no key would be softmax(-inf, ..., -inf) = NaN: give it finite scores, then zero it.
    scores = scores.masked_fill(~row_has_key, 0.0)
    probs = torch.softmax(scores, dim=-1)  # (..., T_q, T_k)
    return probs.masked_fill(~row_has_key, 0.0)


def scaled_dot_product_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, scale: float | None = None
) -> Tensor:
    """``softmax(q k^T / sqrt(d_head)) v``, written out (the teaching version).

    Args:
        q: ``(..., T_q, d_head)``; k: ``(..., T_k, d_head)``; v: ``(..., T_k, d_v)``.
        mask: bool broadcastable to ``(..., T_q, T_k)``; True = may attend.
        scale: multiplier of the scores, default ``1 / sqrt(d_head)``.

    Returns:
        ``(..., T_q, d_v)``. A query whose mask row is all False gets a row of zeros.
        Equals ``torch.nn.functional.scaled_dot_product_attention`` with the same boolean mask.
    """
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same length T_k, got k {tuple(k.shape)} and v {tuple(v.shape)}")
    probs = attention_weights(q, k, mask=mask, scale=scale)  # (..., T_q, T_k)
    return probs @ v  # (..., T_q, d_v)


def blockwise_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, scale: float | None = None, block_size: int = 128
) -> Tensor:
    """Attention over blocks of keys with an online softmax, the recurrence of FlashAttention (Dao et al., 2022).

    The keys and values are visited ``block_size`` at a time, so at most a ``(..., T_q, block_size)`` slice of
    the scores exists at once, never the whole ``(..., T_q, T_k)`` matrix. Each query row keeps a running
    maximum ``m``, a running sum ``l`` of ``exp(s - m)`` and an unnormalised output ``o``; when a block raises
    the maximum, the old ``l`` and ``o`` are rescaled by ``exp(m_old - m_new)``::

        m_new = max(m, rowmax(S_b));  l = l * exp(m - m_new) + rowsum(exp(S_b - m_new))
        o = o * exp(m - m_new) + exp(S_b - m_new) @ V_b;               output = o / l

    Args:
        q: ``(..., T_q, d_head)``; k: ``(..., T_k, d_head)``; v: ``(..., T_k, d_v)``.
        mask: bool broadcastable to ``(..., T_q, T_k)``; True = may attend.
        scale: multiplier of the scores, default ``1 / sqrt(d_head)``.
        block_size: number of keys per block (>= 1).

    Returns:
        ``(..., T_q, d_v)``, equal to :func:`scaled_dot_product_attention` up to float rounding; a query whose
        mask row is all False gets a row of zeros.
    """
    _check_bool_mask(mask)
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"expected q (..., T_q, d_head), k (..., T_k, d_head), v (..., T_k, d_v), "
            f"got q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}"
        )
    if block_size < 1 or k.shape[-2] == 0:
        raise ValueError(f"need block_size >= 1 and at least one key, got block_size={block_size}, k {tuple(k.shape)}")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    T_k = k.shape[-2]
    if mask is not None:
        mask = mask.expand(*mask.shape[:-1], T_k)  # a (.., 1) key axis becomes (.., T_k), so it can be sliced
    m = torch.tensor(float("-inf"), dtype=q.dtype, device=q.device)  # running row maximum, broadcasts to (..., T_q, 1)
    l = torch.zeros((), dtype=q.dtype, device=q.device)  # running sum of exp(s - m), (..., T_q, 1)
    o = torch.zeros((), dtype=q.dtype, device=q.device)  # running unnormalised output, (..., T_q, d_v)
    for start in range(0, T_k, block_size):
        block = slice(start, min(start + block_size, T_k))
        s = (q @ k[..., block, :].transpose(-2, -1)) * scale  # (..., T_q, b): one block of scores
        if mask is not None:
            s = torch.where(mask[..., block], s, float("-inf"))
        m_new = torch.maximum(m, s.amax(dim=-1, keepdim=True))  # (..., T_q, 1)
        # A row with no allowed key so far has m_new = -inf; shift it by 0 so that exp(-inf) = 0, not NaN.
        shift = torch.where(torch.isinf(m_new), 0.0, m_new)
        p = torch.exp(s - shift)  # (..., T_q, b), unnormalised weights of this block
        rescale = torch.exp(m - shift)  # (..., T_q, 1): exp(m_old - m_new) <= 1; 0 while nothing was seen
        l = l * rescale + p.sum(dim=-1, keepdim=True)
        o = o * rescale + p @ v[..., block, :]  # (..., T_q, d_v)
        m = m_new
    return o / torch.where(l > 0, l, 1.0)  # fully masked rows: o = 0, so the output is 0


def attention_error_bound(q: Tensor, k: Tensor, v: Tensor, n_blocks: int = 1) -> float:
    """A first-order bound on how far two float32 evaluations of ``attention(q, k, v)`` can differ.

    Rounding model (Higham 2002, *Accuracy and Stability of Numerical Algorithms*, eqs. 3.4-3.5): a sum of ``n``
    terms computed in floating point is within ``n * eps * sum|terms|`` of the exact sum. Applied to attention:

    * a score ``q . k * scale`` (``d_head`` terms) is off by at most ``ds = d_head * eps * sum|q_i k_i| * scale``,
      and ``sum|q_i k_i| <= max||q|| * max||k||`` (Cauchy-Schwarz; any head layout, grouped-query included);
    * a weight ``exp(s - m) / sum`` then has a relative error of at most ``2 ds`` (``s`` and ``m``) plus
      ``(T_k + 2 n_blocks + 2) eps`` (the exponential, the sum, the rescalings of an online softmax, the division);
    * the output ``sum_k p_k v_k`` (``T_k`` terms, ``sum p_k = 1``) is then off by at most
      ``max|v| * (relative weight error + T_k eps)``.

    Each implementation is within this of the exact result, so two differ by at most twice it, which is
    returned. Args are ``q (..., T_q, d_head)``, ``k (..., T_k, d_head)``, ``v (..., T_k, d_v)`` and the number
    of key blocks of the online-softmax version (1 for the one-shot softmax). Returns a float (absolute).
    """
    eps = torch.finfo(torch.float32).eps
    d_head, T_k = q.shape[-1], k.shape[-2]
    scale = 1.0 / math.sqrt(d_head)
    largest_product = q.norm(dim=-1).max().item() * k.norm(dim=-1).max().item()  # >= every sum|q_i k_i|
    score_error = d_head * eps * largest_product * scale
    weight_error = 2 * score_error + (T_k + 2 * n_blocks + 2) * eps
    return 2 * v.abs().max().item() * (weight_error + T_k * eps)


def repeat_kv(x: Tensor, n_rep: int) -> Tensor:
    """Repeat each key/value head ``n_rep`` times along dim 1 (grouped-query attention).

    ``(B, n_kv_heads, T, d_head) -> (B, n_kv_heads * n_rep, T, d_head)``, the same as
    ``torch.repeat_interleave(x, n_rep, dim=1)`` and as Llama's ``repeat_kv``: query head ``h``
    uses key/value head ``h // n_rep``.
    """
    if n_rep == 1:
        return x
    B, n_kv_heads, T, d_head = x.shape
    x = x[:, :, None, :, :].expand(B, n_kv_heads, n_rep, T, d_head)  # (B, n_kv, n_rep, T, d_head)
    return x.reshape(B, n_kv_heads * n_rep, T, d_head)  # (B, n_heads, T, d_head)


# ---------------------------------------------------------------------------------------------
# Positions: sinusoidal (Vaswani et al. 2017) and rotary (Su et al. 2021, Llama's layout)
# ---------------------------------------------------------------------------------------------


def sinusoidal_positions(seq_len: int, d_model: int, base: float = 10000.0) -> Tensor:
    """Sinusoidal position encodings of "Attention Is All You Need" (Vaswani et al., 2017).

    ``PE[pos, 2i] = sin(pos / base^(2i/d_model))``, ``PE[pos, 2i+1] = cos(pos / base^(2i/d_model))``.

    Returns:
        float32 tensor ``(seq_len, d_model)``; ``d_model`` must be even.
    """
    if d_model % 2 != 0:
        raise ValueError(f"d_model must be even for sinusoidal positions, got d_model={d_model}")
    positions = torch.arange(seq_len, dtype=torch.float32)[:, None]  # (T, 1)
    inv_freq = base ** (-torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)  # (d_model/2,)
    angles = positions * inv_freq  # (T, d_model/2)
    pe = torch.empty(seq_len, d_model)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe  # (T, d_model)


def rotate_half(x: Tensor) -> Tensor:
    """``(x1, x2) -> (-x2, x1)`` on the two halves of the last dim (Llama's rotate-half layout)."""
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
    if cos.shape != sin.shape:
        raise ValueError(f"cos and sin must have the same shape, got {tuple(cos.shape)} and {tuple(sin.shape)}")
    if cos.shape[-1] != q.shape[-1]:
        raise ValueError(f"cos/sin last dim must be d_head={q.shape[-1]}, got {tuple(cos.shape)}")
    if cos.dim() >= 3:
        cos, sin = cos.unsqueeze(-3), sin.unsqueeze(-3)  # (B, 1, T, d_head)
    cos, sin = cos.to(q.dtype), sin.to(q.dtype)
    q_rot = q * cos + rotate_half(q) * sin
    k_rot = k * cos + rotate_half(k) * sin
    return q_rot, k_rot


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
        if d_head % 2 != 0:
            raise ValueError(f"d_head must be even for rotary embeddings, got d_head={d_head}")
        self.d_head = d_head
        self.max_seq_len = max_seq_len
        self.base = base
        inv_freq = 1.0 / (base ** (torch.arange(0, d_head, 2, dtype=torch.float) / d_head))  # (d_head/2,)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(cos, sin)``, each float32 ``(..., T, d_head)``, for integer ``positions`` ``(T,)`` or ``(B, T)``."""
        if positions.dtype.is_floating_point or positions.dtype == torch.bool:
            raise TypeError(f"positions must be an integer tensor (T,) or (B, T), got dtype {positions.dtype}")
        freqs = positions[..., None].float() * self.inv_freq.to(positions.device)  # (..., T, d_head/2)
        emb = torch.cat((freqs, freqs), dim=-1)  # (..., T, d_head)
        return emb.cos(), emb.sin()


# ---------------------------------------------------------------------------------------------
# KV cache and multi-head self-attention
# ---------------------------------------------------------------------------------------------


class KVCache:
    """Keys and values of the tokens seen so far, for one attention layer.

    ``k`` and ``v`` are ``(B, n_kv_heads, T_past, d_head)`` (None while empty). Keys are stored
    after RoPE and before the grouped-query repeat, as Llama does.
    """

    def __init__(self) -> None:
        self.k: Tensor | None = None
        self.v: Tensor | None = None

    @property
    def seq_len(self) -> int:
        """Number of cached positions ``T_past`` (0 when empty)."""
        return 0 if self.k is None else self.k.shape[-2]

    def update(self, k_new: Tensor, v_new: Tensor) -> tuple[Tensor, Tensor]:
        """Append ``(B, n_kv_heads, T_new, d_head)`` keys/values in place; return all ``(.., T_past + T_new, ..)``."""
        if self.k is None:
            self.k, self.v = k_new, v_new
        else:
            if k_new.shape[:2] != self.k.shape[:2] or k_new.shape[-1] != self.k.shape[-1]:
                raise ValueError(
                    f"new keys {tuple(k_new.shape)} do not match the cache {tuple(self.k.shape)} "
                    "(expected the same batch size, n_kv_heads and d_head)"
                )
            self.k = torch.cat((self.k, k_new), dim=-2)  # (B, n_kv_heads, T_past + T_new, d_head)
            self.v = torch.cat((self.v, v_new), dim=-2)
        return self.k, self.v

    def reset(self) -> None:
        """Forget every cached position."""
        self.k = self.v = None


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention with optional grouped-query attention, RoPE and a KV cache.

    ``MultiHead(X) = Concat(head_1, ..., head_h) W_O``; head ``h`` uses the contiguous slice
    ``h*d_head:(h+1)*d_head`` of the ``q_proj`` output (and of ``k_proj``/``v_proj`` for
    key/value head ``h // (n_heads // n_kv_heads)``).

    Args:
        d_model: model width.
        n_heads: number of query heads; ``d_head = d_model // n_heads``.
        n_kv_heads: number of key/value heads (default ``n_heads``; fewer is grouped-query
            attention, ``n_heads`` must be a multiple of it).
        bias: whether the four projections have biases.
        causal: if True each query attends only to itself and earlier positions.
        dropout: dropout on the attention probabilities, in training mode.

    Attributes:
        use_sdpa: True (default) runs ``torch.nn.functional.scaled_dot_product_attention``
            (fused kernels, fast); False runs the from-scratch :func:`attention_weights` for
            teaching. Both give the same output.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        n_kv_heads: int | None = None,
        bias: bool = True,
        causal: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__()
        n_kv_heads = n_heads if n_kv_heads is None else n_kv_heads
        if n_heads <= 0 or d_model % n_heads != 0:
            raise ValueError(f"d_model must be divisible by n_heads, got d_model={d_model}, n_heads={n_heads}")
        if n_kv_heads <= 0 or n_heads % n_kv_heads != 0:
            raise ValueError(
                f"n_heads must be divisible by n_kv_heads, got n_heads={n_heads}, n_kv_heads={n_kv_heads}"
            )
        self.d_model = d_model
        self.n_heads = n_heads
        self.n_kv_heads = n_kv_heads
        self.d_head = d_model // n_heads
        self.causal = causal
        self.dropout = dropout
        self.use_sdpa = True
        self.q_proj = nn.Linear(d_model, n_heads * self.d_head, bias=bias)
        self.k_proj = nn.Linear(d_model, n_kv_heads * self.d_head, bias=bias)
        self.v_proj = nn.Linear(d_model, n_kv_heads * self.d_head, bias=bias)
        self.out_proj = nn.Linear(n_heads * self.d_head, d_model, bias=bias)

    def extra_repr(self) -> str:
        return (
            f"d_model={self.d_model}, n_heads={self.n_heads}, n_kv_heads={self.n_kv_heads}, "
            f"causal={self.causal}, use_sdpa={self.use_sdpa}"
        )

    def _check_input(self, x: Tensor, mask: Tensor | None) -> None:
        if not isinstance(x, Tensor) or x.dim() != 3:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must be (batch_size, seq_len, d_model={self.d_model}), got {shape}")
        if x.shape[-1] != self.d_model:
            raise ValueError(f"x last dim must be d_model={self.d_model}, got x of shape {tuple(x.shape)}")
        _check_bool_mask(mask)

    def _combined_mask(self, mask: Tensor | None, B: int, T: int, past_len: int, device) -> Tensor | None:
        """The user mask AND the (offset) causal mask, broadcastable to ``(B, n_heads, T, T_total)``."""
        T_total = past_len + T
        if mask is not None:
            try:
                torch.broadcast_shapes(mask.shape, (B, self.n_heads, T, T_total))
            except RuntimeError:
                raise ValueError(
                    f"mask must be broadcastable to (B, n_heads, T, T_total) = {(B, self.n_heads, T, T_total)}, "
                    f"got {tuple(mask.shape)}"
                ) from None
        if self.causal and T > 1:
            causal = causal_mask(T, device=device, past_len=past_len)  # (T, T_total)
            mask = causal if mask is None else mask & causal
        return mask

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None = None,
        rope: tuple[Tensor, Tensor] | None = None,
        cache: KVCache | None = None,
    ) -> Tensor:
        """Self-attention over ``x`` ``(B, T, d_model)`` -> ``(B, T, d_model)``.

        Args:
            x: ``(B, T, d_model)``.
            mask: bool broadcastable to ``(B, n_heads, T, T_total)``, True = may attend
                (e.g. :func:`padding_mask`); combined with the causal mask when ``causal``.
            rope: ``(cos, sin)`` from :class:`RotaryEmbedding` for the positions of the T new
                tokens (with a cache: positions ``T_past .. T_past + T - 1``).
            cache: a :class:`KVCache`, updated in place with this call's keys and values;
                ``T_total = T_past + T``.
        """
        self._check_input(x, mask)
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_heads, self.d_head).transpose(1, 2)  # (B, n_heads, T, d_head)
        k = self.k_proj(x).view(B, T, self.n_kv_heads, self.d_head).transpose(1, 2)  # (B, n_kv_heads, T, d_head)
        v = self.v_proj(x).view(B, T, self.n_kv_heads, self.d_head).transpose(1, 2)  # (B, n_kv_heads, T, d_head)
        if rope is not None:
            q, k = apply_rotary(q, k, *rope)
        past_len = 0
        if cache is not None:
            past_len = cache.seq_len
            k, v = cache.update(k, v)  # (B, n_kv_heads, T_total, d_head)
        n_rep = self.n_heads // self.n_kv_heads
        k, v = repeat_kv(k, n_rep), repeat_kv(v, n_rep)  # (B, n_heads, T_total, d_head)
        if self.use_sdpa:
            out = self._attend_sdpa(q, k, v, mask, past_len)
        else:
            mask = self._combined_mask(mask, B, T, past_len, x.device)
            probs = attention_weights(q, k, mask=mask)  # (B, n_heads, T, T_total)
            probs = F.dropout(probs, p=self.dropout, training=self.training)
            out = probs @ v  # (B, n_heads, T, d_head)
        out = out.transpose(1, 2).reshape(B, T, self.n_heads * self.d_head)  # (B, T, d_model)
        return self.out_proj(out)

    def _attend_sdpa(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, past_len: int) -> Tensor:
        """The fused path: ``F.scaled_dot_product_attention`` with our mask convention."""
        B, _, T, _ = q.shape
        dropout_p = self.dropout if self.training else 0.0
        if mask is None and self.causal and past_len == 0 and T > 1:
            # is_causal aligns top-left, right only without a cache; it allows the flash kernels.
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        mask = self._combined_mask(mask, B, T, past_len, q.device)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        if mask is not None:
            # Kernels disagree on a query with no key (math: zeros; cuDNN on an H100, torch 2.11: arbitrary
            # values; older versions: NaN). Our convention is zeros, whatever the kernel.
            out = out.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)  # (B, n_heads, T, d_head)
        return out
