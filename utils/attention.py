"""Attention: scaled dot-product attention, blockwise (online-softmax) attention, masks, KV cache, multi-head self-
and cross-attention.

The positions chapter 3 teaches with it (sinusoidal, rotary) live in :mod:`utils.positions` and are importable from
here too.

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

from utils.checks import check_bool, check_int, check_number, check_same_dtype_and_device, check_tensor, describe, fail
from utils.positions import RotaryEmbedding, apply_rotary, rotate_half, sinusoidal_positions  # taught with attention

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
    "CrossAttention",
    "RotaryEmbedding",
    "rotate_half",
    "apply_rotary",
    "sinusoidal_positions",
]


# ---------------------------------------------------------------------------------------------
# Masks
# ---------------------------------------------------------------------------------------------


def _check_mask(mask: Tensor | None, scores_shape: tuple[int, ...], scores_name: str = "the scores") -> None:
    """Raise unless ``mask`` is None or a bool tensor that broadcasts to ``scores_shape`` (metadata only)."""
    if mask is None:
        return
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        check_tensor("mask", mask, hint="a bool tensor, True = may attend")
        fail(f"mask must be a bool tensor (True = may attend), got {describe(mask)}", TypeError,
             "convert a 0/1 mask with mask.bool(), an additive float mask (0 / -inf) with mask == 0")
    fits = mask.dim() <= len(scores_shape) and all(
        m in (1, s) for m, s in zip(reversed(mask.shape), reversed(scores_shape)))
    if not fits:
        fail(f"mask must broadcast to {scores_name} {tuple(scores_shape)}, got {describe(mask)}", ValueError,
             "a causal mask is (T_q, T_k), a padding mask (B, 1, 1, T_k): see causal_mask and padding_mask")


def _check_float(name: str, x, ndim: int | None = None, min_ndim: int | None = None, hint: str = "") -> Tensor:
    """``check_tensor(name, x, dtype="float", ...)``, with a fast path for good input (a forward pass calls it)."""
    if (isinstance(x, Tensor) and x.is_floating_point() and (ndim is None or x.dim() == ndim)
            and (min_ndim is None or x.dim() >= min_ndim)):
        return x
    return check_tensor(name, x, ndim=ndim, min_ndim=min_ndim, dtype="float", hint=hint)


def _check_device(device) -> torch.device | None:
    """``device`` as a ``torch.device`` (None stays None); a clear error for a name torch does not know."""
    if device is None or isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        fail(f"device must be a str such as 'cpu' or 'cuda', a torch.device or None, got {describe(device)}",
             TypeError)
    try:
        return torch.device(device)
    except RuntimeError:
        fail(f"device {device!r} is not a device torch knows", ValueError, "use 'cpu', 'cuda', 'cuda:1' or 'mps'")


def _check_qkv(q: Tensor, k: Tensor, v: Tensor | None = None, grouped: bool = False) -> tuple[int, ...] | None:
    """Check queries ``(..., T_q, d_head)``, keys ``(..., T_k, d_head)`` and values ``(..., T_k, d_v)``.

    Returns the shape of the scores ``(..., T_q, T_k)``, or None when ``grouped`` (fewer key/value heads than
    query heads are then allowed). Metadata only: types, dims, dtypes, devices, sizes.
    """
    named = [("q", q), ("k", k)] + ([("v", v)] if v is not None else [])
    for name, x in named:
        _check_float(name, x, min_ndim=2, hint="q, k, v are (..., T, d_head) float tensors")
    check_same_dtype_and_device(tuple(n for n, _ in named), tuple(x for _, x in named))
    if q.shape[-1] != k.shape[-1]:
        fail(f"q and k must share d_head (their last dim), got q {tuple(q.shape)} and k {tuple(k.shape)}",
             ValueError, "each score q . k pairs the dims of a query and a key: project both to the same d_head")
    if v is not None and k.shape[-2] != v.shape[-2]:
        fail(f"k and v must have the same length T_k (dim -2), got k {tuple(k.shape)} and v {tuple(v.shape)}",
             ValueError, "every key needs its value")
    if grouped:
        return None
    batch = _broadcast_shape([tuple(x.shape[:-2]) for _, x in named])
    if batch is None:
        fail(f"the leading (batch, head) dims of q, k{', v' if v is not None else ''} must broadcast, got "
             + ", ".join(f"{n} {tuple(x.shape)}" for n, x in named), ValueError,
             "with fewer key/value heads than query heads, repeat them first: repeat_kv(k, n_heads // n_kv_heads)")
    return (*batch, q.shape[-2], k.shape[-2])


def _broadcast_shape(shapes: list[tuple[int, ...]]) -> tuple[int, ...] | None:
    """The broadcast of ``shapes`` (NumPy's rule), or None if they do not broadcast. Plain Python: a microsecond,
    where ``torch.broadcast_shapes`` takes tens of them, in every forward pass."""
    if all(shape == shapes[0] for shape in shapes):
        return shapes[0]
    n_dims = max(map(len, shapes))
    padded = [(1,) * (n_dims - len(shape)) + shape for shape in shapes]
    result = []
    for sizes in zip(*padded):
        sizes = set(sizes) - {1}
        if len(sizes) > 1:
            return None
        result.append(sizes.pop() if sizes else 1)
    return tuple(result)


def _check_scale(scale: float | None) -> None:
    if scale is not None:
        check_number("scale", scale, above=0, hint="the default, None, is 1 / sqrt(d_head)")


def causal_mask(seq_len: int, device: torch.device | str | None = None, past_len: int = 0) -> Tensor:
    """Boolean causal mask: query ``i`` may attend to keys ``j <= past_len + i``.

    Args:
        seq_len: number of queries T (the new tokens).
        device: where to put the mask.
        past_len: number of keys already in a KV cache before these queries (default 0).

    Returns:
        bool tensor ``(T, past_len + T)``; ``(T, T)`` lower-triangular when ``past_len == 0``.
    """
    check_int("seq_len", seq_len, minimum=0)
    check_int("past_len", past_len, minimum=0, hint="the number of positions already in the KV cache")
    device = _check_device(device)
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
    x = check_tensor("lengths_or_attention_mask", lengths_or_attention_mask,
                     hint="lengths (B,) or an attention_mask (B, T); convert a list with torch.tensor(...)")
    if seq_len is not None:
        check_int("seq_len", seq_len, minimum=0)
    if x.dim() == 1:
        check_tensor("lengths", x, dtype="int", hint="lengths (B,) count tokens: convert them with .long()")
        T = int(x.max()) if seq_len is None else seq_len
        _check_lengths(x, T, seq_len is not None)
        keep = torch.arange(T, device=x.device)[None, :] < x[:, None]  # (B, T)
    elif x.dim() == 2:
        if x.is_complex():
            fail(f"attention_mask must hold 1/0 or True/False, got {describe(x)}", TypeError)
        if seq_len is not None and seq_len > x.shape[1]:
            fail(f"seq_len={seq_len} is longer than the attention_mask, got {describe(x)}", ValueError,
                 "seq_len can only cut an attention_mask (B, T) short; pad the mask itself to make it longer")
        keep = x.bool() if seq_len is None else x[:, :seq_len].bool()  # (B, T)
    else:
        fail(f"lengths_or_attention_mask must be lengths (B,) or an attention_mask (B, T), got {describe(x)}",
             ValueError, "a mask already (B, 1, 1, T) can go to the attention as it is")
    return keep[:, None, None, :]  # (B, 1, 1, T)


def _check_lengths(lengths: Tensor, seq_len: int, seq_len_given: bool) -> None:
    """Lengths must lie in ``[0, seq_len]``: one minimum and one maximum, read once."""
    if lengths.numel() == 0:
        return
    low, high = int(lengths.min()), int(lengths.max())
    if low < 0:
        fail(f"lengths must be >= 0, got {low}", ValueError, "a length counts the real tokens of a sequence")
    if seq_len_given and high > seq_len:
        fail(f"lengths must be <= seq_len={seq_len}, got a length of {high}", ValueError,
             "those tokens would be dropped silently: pass a seq_len at least lengths.max(), or None")


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
    scores_shape = _check_qkv(q, k)
    _check_mask(mask, scores_shape)
    _check_scale(scale)
    return _attention_weights(q, k, mask, scale)


def _attention_weights(q: Tensor, k: Tensor, mask: Tensor | None, scale: float | None) -> Tensor:
    """:func:`attention_weights` on inputs already checked."""
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
    scores_shape = _check_qkv(q, k, v)
    _check_mask(mask, scores_shape)
    _check_scale(scale)
    probs = _attention_weights(q, k, mask, scale)  # (..., T_q, T_k)
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
    scores_shape = _check_qkv(q, k, v)
    _check_mask(mask, scores_shape)
    _check_scale(scale)
    check_int("block_size", block_size, minimum=1, hint="the number of keys visited at a time")
    if k.shape[-2] == 0:
        fail(f"k must hold at least one key, got {describe(k)}", ValueError, "attention over no keys is undefined")
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
    _check_qkv(q, k, v, grouped=True)
    if q.dtype not in (torch.float32, torch.float64):
        fail(f"q, k, v must be float32 (or float64) for a float32 bound, got {describe(q)}", TypeError,
             "the bound models float32 rounding; a float16 or bfloat16 one would be far too small")
    check_int("n_blocks", n_blocks, minimum=1, hint="1 for the one-shot softmax, ceil(T_k / block_size) blockwise")
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
    check_tensor("x", x, ndim=4, hint="keys or values (B, n_kv_heads, T, d_head)")
    check_int("n_rep", n_rep, minimum=1, hint="n_heads // n_kv_heads")
    if n_rep == 1:
        return x
    B, n_kv_heads, T, d_head = x.shape
    x = x[:, :, None, :, :].expand(B, n_kv_heads, n_rep, T, d_head)  # (B, n_kv, n_rep, T, d_head)
    return x.reshape(B, n_kv_heads * n_rep, T, d_head)  # (B, n_heads, T, d_head)


# ---------------------------------------------------------------------------------------------
# KV cache, multi-head self-attention and cross-attention
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
        self._check_new(k_new, v_new)
        if self.k is None:
            self.k, self.v = k_new, v_new
        else:
            self.k = torch.cat((self.k, k_new), dim=-2)  # (B, n_kv_heads, T_past + T_new, d_head)
            self.v = torch.cat((self.v, v_new), dim=-2)
        return self.k, self.v

    def _check_new(self, k_new: Tensor, v_new: Tensor) -> None:
        for name, x in (("k_new", k_new), ("v_new", v_new)):
            _check_float(name, x, ndim=4, hint="(B, n_kv_heads, T_new, d_head), before repeat_kv")
        if k_new.shape[:3] != v_new.shape[:3]:
            fail(f"k_new and v_new must share (B, n_kv_heads, T_new), got {tuple(k_new.shape)} and "
                 f"{tuple(v_new.shape)}", ValueError, "pass the keys and the values of the same tokens")
        if self.k is None:
            return
        for name, new, old in (("k_new", k_new, self.k), ("v_new", v_new, self.v)):
            if new.shape[:2] != old.shape[:2] or new.shape[-1] != old.shape[-1]:
                fail(f"{name} {tuple(new.shape)} do not match the cache {tuple(old.shape)}: expected the same "
                     "batch size, n_kv_heads and d_head", ValueError,
                     "one KVCache per layer; call reset() before a new batch")
            if new.dtype != old.dtype or new.device != old.device:
                fail(f"{name} must have the cache's dtype and device, got {describe(new)} for a cache of "
                     f"{describe(old)}", TypeError, "call reset() before switching dtype or device")

    def reset(self) -> None:
        """Forget every cached position."""
        self.k = self.v = None


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


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
        check_int("d_model", d_model, minimum=1)
        check_int("n_heads", n_heads, minimum=1)
        n_kv_heads = n_heads if n_kv_heads is None else check_int("n_kv_heads", n_kv_heads, minimum=1)
        if d_model % n_heads != 0:
            fail(f"d_model must be divisible by n_heads, got d_model={d_model}, n_heads={n_heads}", ValueError,
                 f"each head gets d_model / n_heads dims: choose n_heads among {_divisors(d_model)}")
        if n_heads % n_kv_heads != 0:
            fail(f"n_heads must be divisible by n_kv_heads, got n_heads={n_heads}, n_kv_heads={n_kv_heads}",
                 ValueError, f"each key/value head serves n_heads / n_kv_heads query heads: choose n_kv_heads "
                 f"among {_divisors(n_heads)}")
        check_bool("bias", bias)
        check_bool("causal", causal)
        check_number("dropout", dropout, minimum=0, maximum=1, hint="a probability in [0, 1), e.g. 0.1")
        if dropout == 1:
            fail("dropout must be < 1, got 1 (every attention weight would be dropped)", ValueError)
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

    def _check_input(self, x: Tensor, mask: Tensor | None, rope, cache: KVCache | None) -> int:
        """Check the arguments of :meth:`forward` (metadata only); return ``past_len``, the cached length."""
        _check_float("x", x, ndim=3, hint=f"x is (batch_size, seq_len, d_model={self.d_model})")
        if x.shape[-1] != self.d_model:
            fail(f"x must end in d_model={self.d_model}, got x of shape {tuple(x.shape)}", ValueError,
                 "the attention was built for another width: MultiHeadSelfAttention(d_model, ...)")
        if cache is not None and not isinstance(cache, KVCache):
            fail(f"cache must be a KVCache or None, got {describe(cache)}", TypeError, "make one with KVCache()")
        past_len = 0 if cache is None else cache.seq_len
        if rope is not None and not (isinstance(rope, (tuple, list)) and len(rope) == 2):
            fail(f"rope must be the pair (cos, sin) from RotaryEmbedding, got {describe(rope)}", TypeError,
                 "pass rope=rotary(positions), both tables")
        B, T, _ = x.shape
        _check_mask(mask, (B, self.n_heads, T, past_len + T), "(B, n_heads, T, T_total)")
        return past_len

    def _combined_mask(self, mask: Tensor | None, B: int, T: int, past_len: int, device) -> Tensor | None:
        """The user mask AND the (offset) causal mask, broadcastable to ``(B, n_heads, T, T_total)``."""
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
        past_len = self._check_input(x, mask, rope, cache)
        q = self._split_heads(self.q_proj, x, self.n_heads)  # (B, n_heads, T, d_head)
        k = self._split_heads(self.k_proj, x, self.n_kv_heads)  # (B, n_kv_heads, T, d_head)
        v = self._split_heads(self.v_proj, x, self.n_kv_heads)  # (B, n_kv_heads, T, d_head)
        if rope is not None:
            q, k = apply_rotary(q, k, *rope)
        if cache is not None:
            k, v = cache.update(k, v)  # (B, n_kv_heads, T_total, d_head)
        return self._attend(q, k, v, mask, past_len)

    def _split_heads(self, proj: nn.Linear, x: Tensor, n_heads: int) -> Tensor:
        """Project ``x`` ``(B, T, d_model)`` with ``proj`` and split it into heads: ``(B, n_heads, T, d_head)``."""
        B, T, _ = x.shape
        return proj(x).view(B, T, n_heads, self.d_head).transpose(1, 2)  # (B, n_heads, T, d_head)

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, past_len: int) -> Tensor:
        """Heads ``q`` ``(B, n_heads, T, d_head)`` attend to ``k``, ``v`` ``(B, n_kv_heads, T_k, d_head)``; the
        heads are concatenated and projected by ``W_O``: ``(B, T, d_model)``."""
        B, _, T, _ = q.shape
        n_rep = self.n_heads // self.n_kv_heads
        k, v = repeat_kv(k, n_rep), repeat_kv(v, n_rep)  # (B, n_heads, T_k, d_head)
        if self.use_sdpa:
            out = self._attend_sdpa(q, k, v, mask, past_len)
        else:
            mask = self._combined_mask(mask, B, T, past_len, q.device)
            probs = _attention_weights(q, k, mask, None)  # (B, n_heads, T, T_k)
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


class CrossAttention(MultiHeadSelfAttention):
    """Multi-head attention whose queries come from the decoder ``x`` and keys/values from the encoder output
    ``memory``: ``softmax(x W_Q (m W_K)^T / sqrt(d_head)) m W_V``, then ``W_O``.

    :class:`MultiHeadSelfAttention`'s projections, head split and attention (``use_sdpa`` or from scratch), never
    causal, without RoPE or cache (``memory`` holds the source positions); a query with no source token gives zeros.
    """

    def __init__(self, d_model: int, n_heads: int, n_kv_heads: int | None = None, bias: bool = True,
                 dropout: float = 0.0):
        super().__init__(d_model, n_heads, n_kv_heads=n_kv_heads, bias=bias, causal=False, dropout=dropout)

    def forward(self, x: Tensor, memory: Tensor, memory_mask: Tensor | None = None) -> Tensor:
        """``x`` ``(B, T, d_model)`` attends to ``memory`` ``(B, S, d_model)`` -> ``(B, T, d_model)``; ``memory_mask``
        is bool broadcastable to ``(B, n_heads, T, S)``, True = may attend (``padding_mask(src_attention_mask)``)."""
        self._check_input(x, None, None, None)
        _check_float("memory", memory, ndim=3, hint=f"the encoder output (batch_size, S, d_model={self.d_model})")
        if memory.shape[0] != x.shape[0] or memory.shape[-1] != self.d_model:
            fail(f"memory must be (batch_size={x.shape[0]}, S, d_model={self.d_model}) for x of shape "
                 f"{tuple(x.shape)}, got {describe(memory)}", ValueError, "pass the encoder output of the same batch")
        _check_mask(memory_mask, (x.shape[0], self.n_heads, x.shape[1], memory.shape[1]), "(B, n_heads, T, S)")
        q = self._split_heads(self.q_proj, x, self.n_heads)  # (B, n_heads, T, d_head)
        k = self._split_heads(self.k_proj, memory, self.n_kv_heads)  # (B, n_kv_heads, S, d_head)
        v = self._split_heads(self.v_proj, memory, self.n_kv_heads)  # (B, n_kv_heads, S, d_head)
        return self._attend(q, k, v, memory_mask, past_len=0)
