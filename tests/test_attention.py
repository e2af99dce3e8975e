"""Tests for utils.attention: every from-scratch component pinned to its PyTorch / transformers reference.

Tolerances:

* an attention output against ``F.scaled_dot_product_attention``: :func:`utils.attention.attention_error_bound`,
  the first-order float32 rounding bound of the computation (derived in its docstring);
* composite modules (projections, attention, output projection), RoPE tables and sinusoidal encodings: TOL = 1e-5
  max abs difference. Every test runs at 1 and at 2 torch threads (the fixture below: the thread count changes the
  order of the sums), and every assertion message prints the measured difference. On the course's 2-core CPU
  every one of these differences stays below 1e-6 at both thread counts (the whole file passes with TOL = 1e-6),
  so TOL leaves a margin of 10x for other CPUs and BLAS libraries;
* float64 gradchecks use torch's defaults.
"""

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from utils.attention import (
    CrossAttention,
    KVCache,
    MultiHeadSelfAttention,
    attention_error_bound,
    blockwise_attention,
    RotaryEmbedding,
    apply_rotary,
    attention_weights,
    causal_mask,
    padding_mask,
    repeat_kv,
    rotate_half,
    scaled_dot_product_attention,
    sinusoidal_positions,
)

TOL = 1e-5  # float32 max abs difference for composite modules, measured at 1 and 2 threads (module docstring)


def max_abs(a, b):
    return (a - b).abs().max().item()


def assert_close(given, expected, tolerance, what=""):
    """Assert ``max|given - expected| <= tolerance``; the message prints the measured difference."""
    diff = max_abs(given, expected)
    assert diff <= tolerance, f"{what}: max abs difference {diff:.2e} > tolerance {tolerance:.2e}"


@pytest.fixture(autouse=True, params=[1, 2], ids=["1thread", "2threads"])
def _threads_and_seed(request):
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------- scaled dot-product attention


@pytest.mark.parametrize("lead", [(), (3,), (2, 4)])
def test_sdpa_matches_torch_without_mask(lead):
    q, k, v = torch.randn(*lead, 5, 8), torch.randn(*lead, 7, 8), torch.randn(*lead, 7, 6)
    ours = scaled_dot_product_attention(q, k, v)
    ref = F.scaled_dot_product_attention(q, k, v)
    assert ours.shape == (*lead, 5, 6)
    assert_close(ours, ref, attention_error_bound(q, k, v), "no mask")


def test_sdpa_matches_torch_with_masks_and_scale():
    q, k, v = torch.randn(2, 3, 6, 8), torch.randn(2, 3, 6, 8), torch.randn(2, 3, 6, 8)
    random_mask = torch.rand(2, 3, 6, 6) > 0.4
    random_mask[..., 0] = True  # every row keeps a key, so the reference is defined everywhere
    bound = attention_error_bound(q, k, v)  # scale 0.3 < 1/sqrt(8): the bound for the default scale covers it
    lengths = torch.tensor([6, 4])
    real = padding_mask(lengths)[:, :, 0, :].expand(2, 3, 6)  # (B, heads, T) real queries
    everyone = torch.ones(2, 3, 6, dtype=torch.bool)
    for name, mask, compared in [("causal", causal_mask(6), everyone), ("random", random_mask, everyone),
                                 ("padding", padding_mask(lengths), real)]:
        ours = scaled_dot_product_attention(q, k, v, mask=mask)
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        assert_close(ours[compared], ref[compared], bound, name)  # never padding queries
    ours = scaled_dot_product_attention(q, k, v, mask=causal_mask(6), scale=0.3)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(6), scale=0.3)
    assert_close(ours, ref, bound, "scale=0.3")
    causal_ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert_close(scaled_dot_product_attention(q, k, v, mask=causal_mask(6)), causal_ref, bound, "is_causal")


def test_attention_weights_match_the_weights_of_nn_multihead_attention():
    # nn.MultiheadAttention with identity projections returns softmax(q k^T / sqrt(d)) as its weights
    d, n_q, n_k = 8, 4, 5
    reference = nn.MultiheadAttention(d, 1, bias=False, batch_first=True)
    with torch.no_grad():
        reference.in_proj_weight.copy_(torch.eye(d).repeat(3, 1))
    q, k = torch.randn(2, n_q, d), torch.randn(2, n_k, d)
    with torch.no_grad():
        _, expected = reference(q, k, k, need_weights=True)  # (B, T_q, T_k)
    probs = attention_weights(q, k)
    assert probs.shape == (2, n_q, n_k)
    # a weight is off by at most its relative error (the bound's weight term) times 1: weights are <= 1
    assert_close(probs, expected, attention_error_bound(q, k, torch.ones(1, n_k, 1)), "weights")


def test_fully_masked_row_gives_zeros_no_nan_and_finite_grads():
    q = torch.randn(1, 3, 4, dtype=torch.float64, requires_grad=True)
    k = torch.randn(1, 5, 4, dtype=torch.float64, requires_grad=True)
    v = torch.randn(1, 5, 2, dtype=torch.float64, requires_grad=True)
    mask = torch.ones(1, 3, 5, dtype=torch.bool)
    mask[0, 1] = False  # query 1 may attend to nothing
    mask[0, 2, 3:] = False
    out = scaled_dot_product_attention(q, k, v, mask=mask)
    probs = attention_weights(q, k, mask=mask)
    assert torch.isfinite(out).all()
    assert out[0, 1].abs().max().item() == 0.0
    assert probs[0, 1].abs().max().item() == 0.0
    assert probs[0, 2, 3:].abs().max().item() == 0.0
    expected = torch.softmax(q[0, 2] @ k[0, :3].T / 2.0, dim=-1)  # row 2 over its three allowed keys; sqrt(4) = 2
    assert max_abs(probs[0, 2, :3], expected) <= 1e-12  # float64: eps 2.2e-16 times a few terms
    out.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))
    assert torch.autograd.gradcheck(lambda a, b, c: scaled_dot_product_attention(a, b, c, mask=mask), (q, k, v))


@pytest.mark.parametrize("block_size", [1, 3, 4, 7, 16, 64])
@pytest.mark.parametrize("mask_name", ["none", "causal", "padding", "random"])
def test_blockwise_attention_equals_torch_sdpa(block_size, mask_name):
    B, n_heads, T_q, T_k = 2, 3, 9, 16
    q, k, v = torch.randn(B, n_heads, T_q, 8), torch.randn(B, n_heads, T_k, 8), torch.randn(B, n_heads, T_k, 5)
    random_mask = torch.rand(B, n_heads, T_q, T_k) > 0.5
    random_mask[..., 0] = True  # every row keeps a key, so the reference is defined everywhere
    mask = {"none": None, "causal": causal_mask(T_q, past_len=T_k - T_q),  # the last T_q queries of T_k tokens
            "padding": padding_mask(torch.tensor([16, 5])), "random": random_mask}[mask_name]
    ours = blockwise_attention(q, k, v, mask=mask, block_size=block_size)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert ours.shape == (B, n_heads, T_q, 5)
    # cross-attention: the T_q queries are not padded (only the keys are), so every query is compared
    assert_close(ours, expected, attention_error_bound(q, k, v, n_blocks=math.ceil(T_k / block_size)), mask_name)


def test_blockwise_attention_fully_masked_rows_and_grouped_shapes():
    q, k, v = torch.randn(2, 4, 6, 8), torch.randn(2, 4, 10, 8), torch.randn(2, 4, 10, 3)
    mask = torch.rand(2, 4, 6, 10) > 0.3
    mask[0, 1, 2] = False  # one query may attend to nothing
    mask[1, :, :, :4] = False  # the first block (block_size 4) of sequence 1 is masked for every query
    out = blockwise_attention(q, k, v, mask=mask, block_size=4)
    assert torch.isfinite(out).all()
    assert out[0, 1, 2].abs().max().item() == 0.0
    assert_close(out, scaled_dot_product_attention(q, k, v, mask=mask),
                 attention_error_bound(q, k, v, n_blocks=3), "against the one-shot softmax")
    # a key mask with a broadcast query axis and no head axis, and one key block per key
    key_mask = torch.ones(2, 1, 10, dtype=torch.bool)
    key_mask[1, :, 7:] = False
    out = blockwise_attention(q[:, 0], k[:, 0], v[:, 0], mask=key_mask, block_size=1)
    expected = F.scaled_dot_product_attention(q[:, 0], k[:, 0], v[:, 0], attn_mask=key_mask)
    assert_close(out, expected, attention_error_bound(q, k, v, n_blocks=10), "(B, 1, T_k) key mask")


def test_blockwise_attention_bad_inputs():
    q, k, v = torch.randn(2, 4, 8), torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    with pytest.raises(ValueError, match="block_size must be >= 1"):
        blockwise_attention(q, k, v, block_size=0)
    with pytest.raises(ValueError, match=r"share d_head.*got q \(2, 4, 8\) and k \(2, 5, 6\)"):
        blockwise_attention(q, torch.randn(2, 5, 6), v)
    with pytest.raises(TypeError, match="mask must be a bool tensor"):
        blockwise_attention(q, k, v, mask=torch.ones(4, 5))


def test_attention_error_bound_grows_with_the_sizes_and_covers_float64():
    # the bound against the float64 result of the same attention: float32 stays within it
    q, k, v = torch.randn(3, 12, 16), torch.randn(3, 40, 16), torch.randn(3, 40, 8)
    exact = F.scaled_dot_product_attention(q.double(), k.double(), v.double())
    bound = attention_error_bound(q, k, v) / 2  # one implementation against the exact value
    assert_close(scaled_dot_product_attention(q, k, v).double(), exact, bound, "one-shot vs float64")
    assert_close(blockwise_attention(q, k, v, block_size=8).double(), exact,
                 attention_error_bound(q, k, v, n_blocks=5) / 2, "blockwise vs float64")
    assert attention_error_bound(q, k, 2 * v) == pytest.approx(2 * attention_error_bound(q, k, v))
    assert attention_error_bound(q, k, v, n_blocks=5) > attention_error_bound(q, k, v)


def test_sdpa_bad_inputs():
    q, k, v = torch.randn(2, 4, 8), torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    with pytest.raises(TypeError, match="mask must be a bool tensor.*float32.*mask.bool"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(4, 5))
    with pytest.raises(ValueError, match="share d_head"):
        scaled_dot_product_attention(q, torch.randn(2, 5, 6), v)
    with pytest.raises(ValueError, match="same length T_k"):
        scaled_dot_product_attention(q, k, torch.randn(2, 4, 8))


# ---------------------------------------------------------------- masks


def test_causal_mask_is_lower_triangular_and_offsets_with_a_cache():
    assert torch.equal(causal_mask(5), torch.tril(torch.ones(5, 5, dtype=torch.bool)))
    m = causal_mask(3, past_len=4)  # query i sees keys <= 4 + i
    assert m.shape == (3, 7) and m.dtype == torch.bool
    assert torch.equal(m, torch.ones(7, 7, dtype=torch.bool).tril()[4:])


def test_padding_mask_from_lengths_and_attention_mask():
    lengths = torch.tensor([3, 1, 4])
    attention_mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]])
    a, b = padding_mask(lengths), padding_mask(attention_mask)
    assert a.shape == (3, 1, 1, 4) and a.dtype == torch.bool
    assert torch.equal(a, b)
    assert padding_mask(lengths, seq_len=6).shape == (3, 1, 1, 6)
    with pytest.raises(TypeError, match="lengths must be an? int tensor.*float32.*long"):
        padding_mask(torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"attention_mask \(B, T\), got tensor \(1, 2, 3\)"):
        padding_mask(torch.ones(1, 2, 3))


# ---------------------------------------------------------------- multi-head self-attention


def mha_pair(d_model=32, n_heads=4, bias=True, causal=False):
    """Our module and an nn.MultiheadAttention with the same weights."""
    ref = nn.MultiheadAttention(d_model, n_heads, bias=bias, batch_first=True)
    ours = MultiHeadSelfAttention(d_model, n_heads, bias=bias, causal=causal)
    with torch.no_grad():
        w_q, w_k, w_v = ref.in_proj_weight.chunk(3, dim=0)  # each (d_model, d_model)
        ours.q_proj.weight.copy_(w_q)
        ours.k_proj.weight.copy_(w_k)
        ours.v_proj.weight.copy_(w_v)
        ours.out_proj.weight.copy_(ref.out_proj.weight)
        if bias:
            b_q, b_k, b_v = ref.in_proj_bias.chunk(3)
            nn.init.normal_(b_q), nn.init.normal_(b_k), nn.init.normal_(b_v)  # non-zero biases
            ref.in_proj_bias.copy_(torch.cat([b_q, b_k, b_v]))
            ours.q_proj.bias.copy_(b_q)
            ours.k_proj.bias.copy_(b_k)
            ours.v_proj.bias.copy_(b_v)
            ours.out_proj.bias.copy_(ref.out_proj.bias)
    return ours.eval(), ref.eval()


@pytest.mark.parametrize("use_sdpa", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_mhsa_matches_nn_multihead_attention(use_sdpa, bias):
    ours, ref = mha_pair(bias=bias)
    ours.use_sdpa = use_sdpa
    x = torch.randn(3, 7, 32)
    with torch.no_grad():
        expected, _ = ref(x, x, x, need_weights=False)
        assert_close(ours(x), expected, TOL, "no mask")
        # padding: nn.MultiheadAttention's key_padding_mask is True = ignore, ours True = may attend
        lengths = torch.tensor([7, 5, 2])
        keep = padding_mask(lengths)  # (B, 1, 1, T)
        expected, _ = ref(x, x, x, key_padding_mask=~keep[:, 0, 0], need_weights=False)
        real = keep[:, 0, 0]  # (B, T): compare real tokens only, never padding positions
        assert_close(ours(x, mask=keep)[real], expected[real], TOL, "padding")


@pytest.mark.parametrize("use_sdpa", [True, False])
def test_causal_mhsa_matches_nn_multihead_attention(use_sdpa):
    ours, ref = mha_pair(causal=True)
    ours.use_sdpa = use_sdpa
    x = torch.randn(2, 6, 32)
    with torch.no_grad():
        expected, _ = ref(x, x, x, attn_mask=~causal_mask(6), need_weights=False)  # True = not allowed
        assert_close(ours(x), expected, TOL, "causal")
        keep = padding_mask(torch.tensor([6, 4]))
        mask = ~(keep[:, 0, 0][:, None, :] & causal_mask(6))  # (B, T, T)
        expected, _ = ref(x, x, x, attn_mask=mask.repeat_interleave(4, dim=0), need_weights=False)
        real = keep[:, 0, 0]  # (B, T): compare real tokens only, never padding positions
        assert_close(ours(x, mask=keep)[real], expected[real], TOL, "causal + padding")


def test_fast_and_teaching_paths_agree_including_fully_masked_rows():
    attn = MultiHeadSelfAttention(32, 4, causal=True).eval()
    x = torch.randn(2, 5, 32)
    mask = torch.ones(2, 1, 5, 5, dtype=torch.bool)
    mask[1, 0, 2] = False  # query 2 of sequence 1 may attend to nothing
    with torch.no_grad():
        fast = attn(x, mask=mask)
        attn.use_sdpa = False
        slow = attn(x, mask=mask)
    assert_close(fast, slow, TOL, "fused vs teaching path")
    assert torch.isfinite(fast).all()
    # a query that sees nothing outputs out_proj(0) = out_proj.bias
    assert_close(fast[1, 2], attn.out_proj.bias, TOL, "fully masked query")


def test_grouped_query_attention_equals_explicit_repeat():
    d_model, n_heads, n_kv_heads = 48, 6, 2
    gqa = MultiHeadSelfAttention(d_model, n_heads, n_kv_heads=n_kv_heads, causal=True).eval()
    full = MultiHeadSelfAttention(d_model, n_heads, causal=True).eval()
    d_head, n_rep = gqa.d_head, n_heads // n_kv_heads
    assert gqa.k_proj.weight.shape == (n_kv_heads * d_head, d_model)
    with torch.no_grad():
        full.q_proj.load_state_dict(gqa.q_proj.state_dict())
        full.out_proj.load_state_dict(gqa.out_proj.state_dict())
        for name in ("k_proj", "v_proj"):
            src, dst = getattr(gqa, name), getattr(full, name)
            w = src.weight.view(n_kv_heads, d_head, d_model).repeat_interleave(n_rep, dim=0)  # (n_heads, d_head, d)
            dst.weight.copy_(w.reshape(n_heads * d_head, d_model))
            dst.bias.copy_(src.bias.view(n_kv_heads, d_head).repeat_interleave(n_rep, dim=0).reshape(-1))
        x = torch.randn(2, 9, d_model)
        for use_sdpa in (True, False):
            gqa.use_sdpa = full.use_sdpa = use_sdpa
            assert_close(gqa(x), full(x), TOL, "GQA vs repeated heads")
    kv = torch.randn(2, 3, 4, 5)
    assert torch.equal(repeat_kv(kv, 2), torch.repeat_interleave(kv, 2, dim=1))


# ---------------------------------------------------------------- cross-attention


def test_cross_attention_on_its_own_input_is_non_causal_self_attention():
    cross = CrossAttention(32, 4).eval()
    assert isinstance(cross, MultiHeadSelfAttention) and not cross.causal  # the same projections and head split
    self_attention = MultiHeadSelfAttention(32, 4).eval()
    self_attention.load_state_dict(cross.state_dict())  # same parameter names: q_proj, k_proj, v_proj, out_proj
    x = torch.randn(2, 6, 32)
    keep = padding_mask(torch.tensor([6, 3]))  # (B, 1, 1, T)
    real = keep[:, 0, 0]  # (B, T): compare real tokens only
    with torch.no_grad():
        for use_sdpa in (True, False):
            cross.use_sdpa = self_attention.use_sdpa = use_sdpa
            assert_close(cross(x, x, keep)[real], self_attention(x, mask=keep)[real], TOL, f"use_sdpa={use_sdpa}")


@pytest.mark.parametrize("use_sdpa", [True, False])
def test_cross_attention_fully_masked_row_gives_zeros_no_nan_and_finite_grads(use_sdpa):
    cross = CrossAttention(32, 4, n_kv_heads=2)  # grouped-query cross-attention too
    cross.use_sdpa = use_sdpa
    x, memory = torch.randn(3, 5, 32, requires_grad=True), torch.randn(3, 7, 32, requires_grad=True)
    keep = padding_mask(torch.tensor([7, 4, 0]))  # sequence 2 has no source token at all
    keep = keep.expand(3, 1, 5, 7).clone()  # (B, 1, T, S)
    keep[1, 0, 3] = False  # query 3 of sequence 1 may attend to nothing either
    out = cross(x, memory, keep)  # (B, T, d_model)
    no_key = ~keep.any(dim=-1)[:, 0]  # (B, T): the queries with no source token
    assert no_key.sum() == 5 + 1
    # a query that sees nothing gets attention output 0, so the module outputs out_proj(0) = out_proj.bias, exactly:
    # a float32 product with zeros is 0, so the tolerance is 0
    assert_close(out[no_key], cross.out_proj.bias.expand(6, 32), 0.0, "fully masked queries")
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(memory.grad).all()
    assert torch.all(memory.grad[2] == 0)  # nothing attended to the source of sequence 2
    with torch.no_grad():
        cross.use_sdpa = not use_sdpa
        other_path = cross(x, memory, keep)
    assert_close(out, other_path, TOL, "fused vs teaching path")


@pytest.mark.parametrize("use_sdpa", [True, False])
def test_kv_cache_incremental_decoding_equals_full_causal_forward(use_sdpa):
    attn = MultiHeadSelfAttention(32, 4, n_kv_heads=2, causal=True, bias=False).eval()
    attn.use_sdpa = use_sdpa
    rope = RotaryEmbedding(attn.d_head, base=10000.0)
    B, T = 2, 10
    x = torch.randn(B, T, 32)
    with torch.no_grad():
        full = attn(x, rope=rope(torch.arange(T)))
        cache = KVCache()
        pieces, start = [], 0
        for size in (4, 1, 3, 1, 1):  # a prefill, single tokens and a multi-token chunk (offset causal mask)
            positions = torch.arange(start, start + size)
            pieces.append(attn(x[:, start : start + size], rope=rope(positions), cache=cache))
            start += size
            assert cache.seq_len == start
            assert cache.k.shape == (B, 2, start, attn.d_head)
    assert_close(torch.cat(pieces, dim=1), full, TOL, "KV cache vs full forward")


def test_kv_cache_update_appends_in_place():
    cache = KVCache()
    assert cache.seq_len == 0
    k1, v1 = torch.randn(1, 2, 3, 4), torch.randn(1, 2, 3, 4)
    k_all, v_all = cache.update(k1, v1)
    k2, v2 = torch.randn(1, 2, 1, 4), torch.randn(1, 2, 1, 4)
    k_all, v_all = cache.update(k2, v2)
    assert cache.seq_len == 4 and k_all is cache.k
    assert torch.equal(k_all, torch.cat([k1, k2], dim=2)) and torch.equal(v_all, torch.cat([v1, v2], dim=2))
    with pytest.raises(ValueError, match="do not match the cache"):
        cache.update(torch.randn(2, 2, 1, 4), torch.randn(2, 2, 1, 4))
    cache.reset()
    assert cache.seq_len == 0


def test_mhsa_bad_inputs():
    with pytest.raises(ValueError, match="divisible by n_heads.*d_model=30, n_heads=4"):
        MultiHeadSelfAttention(30, 4)
    with pytest.raises(ValueError, match="divisible by n_kv_heads.*n_heads=4, n_kv_heads=3"):
        MultiHeadSelfAttention(32, 4, n_kv_heads=3)
    attn = MultiHeadSelfAttention(32, 4)
    with pytest.raises(ValueError, match=r"x must have 3 dims, got tensor \(5, 32\).*d_model=32"):
        attn(torch.randn(5, 32))
    with pytest.raises(ValueError, match=r"d_model=32, got x of shape \(2, 5, 16\)"):
        attn(torch.randn(2, 5, 16))
    with pytest.raises(TypeError, match="mask must be a bool tensor.*int64"):
        attn(torch.randn(2, 5, 32), mask=torch.ones(2, 1, 1, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(B, n_heads, T, T_total\) \(2, 4, 5, 5\), got tensor \(3, 1, 1, 5\)"):
        attn(torch.randn(2, 5, 32), mask=torch.ones(3, 1, 1, 5, dtype=torch.bool))


# ---------------------------------------------------------------- positions


def test_rope_matches_transformers_llama():
    from transformers import LlamaConfig
    from transformers.models.llama import modeling_llama as llama

    d_head, n_heads, T, base = 16, 4, 11, 10000.0
    config = LlamaConfig(hidden_size=d_head * n_heads, num_attention_heads=n_heads, num_key_value_heads=2)
    theta = config.rope_parameters["rope_theta"] if hasattr(config, "rope_parameters") else config.rope_theta
    assert theta == base
    ref_rope = llama.LlamaRotaryEmbedding(config=config)
    ours = RotaryEmbedding(d_head, base=base)
    q, k = torch.randn(2, n_heads, T, d_head), torch.randn(2, 2, T, d_head)
    position_ids = torch.stack([torch.arange(T), torch.arange(5, 5 + T)])  # (B, T)
    cos_ref, sin_ref = ref_rope(q, position_ids)  # (B, T, d_head)
    cos, sin = ours(position_ids)
    assert cos.shape == (2, T, d_head)
    assert_close(cos, cos_ref, TOL, "cos")
    assert_close(sin, sin_ref, TOL, "sin")
    q_ref, k_ref = llama.apply_rotary_pos_emb(q, k, cos_ref, sin_ref)
    q_ours, k_ours = apply_rotary(q, k, cos, sin)
    assert_close(q_ours, q_ref, TOL, "q")
    assert_close(k_ours, k_ref, TOL, "k")
    # (T,) positions broadcast over the batch
    cos1, sin1 = ours(torch.arange(T))
    q1, _ = apply_rotary(q, k, cos1, sin1)
    assert_close(q1[0], q_ref[0], TOL, "q1[0]")
    x = torch.randn(3, 8)
    assert torch.equal(rotate_half(x), llama.rotate_half(x))


def test_rope_scores_depend_only_on_relative_position():
    d_head = 32
    rope = RotaryEmbedding(d_head)
    q, k = torch.randn(d_head, dtype=torch.float64), torch.randn(d_head, dtype=torch.float64)

    def score(m, n):
        cos_m, sin_m = rope(torch.tensor([m]))
        cos_n, sin_n = rope(torch.tensor([n]))
        q_rot, _ = apply_rotary(q[None], q[None], cos_m.double(), sin_m.double())
        k_rot, _ = apply_rotary(k[None], k[None], cos_n.double(), sin_n.double())
        return (q_rot @ k_rot.T).item()

    for m, n in [(3, 1), (10, 10), (2, 7)]:
        for shift in (1, 50, 500):
            diff = abs(score(m, n) - score(m + shift, n + shift))
            assert diff <= 1e-4, f"shift {shift}: scores differ by {diff:.2e}"  # float32 tables; measured ~1e-5
    assert abs(score(3, 1) - score(1, 3)) > 1e-3  # but it does depend on the offset
    # a rotation keeps the norm
    cos, sin = rope(torch.arange(6))
    x = torch.randn(6, d_head)
    x_rot, _ = apply_rotary(x, x, cos, sin)
    assert_close(x_rot.norm(dim=-1), x.norm(dim=-1), TOL, "rotation keeps the norm")


def test_rope_bad_inputs():
    with pytest.raises(ValueError, match="even.*d_head=7"):
        RotaryEmbedding(7)
    with pytest.raises(TypeError, match="positions must be an? int tensor.*float32"):
        RotaryEmbedding(8)(torch.arange(4.0))


def test_sinusoidal_positions_formula_and_golden_values():
    pe = sinusoidal_positions(50, 16)
    assert pe.shape == (50, 16) and pe.dtype == torch.float32
    pos, i = 7, 3
    angle = pos / 10000 ** (2 * i / 16)
    assert abs(pe[pos, 2 * i].item() - math.sin(angle)) <= TOL
    assert abs(pe[pos, 2 * i + 1].item() - math.cos(angle)) <= TOL
    assert torch.equal(pe[0], torch.tensor([0.0, 1.0] * 8))
    assert abs(pe[1, 0].item() - math.sin(1.0)) <= TOL
    with pytest.raises(ValueError, match="even.*d_model=5"):
        sinusoidal_positions(4, 5)


# ---------------------------------------------------------------- the notebook's teaching copies

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "03_attention.ipynb"


def notebook_functions(*names):
    """Extract the named top-level functions from the chapter's code cells and define them (nothing else runs)."""
    import ast
    import json

    namespace = {"math": math, "torch": torch, "F": F, "nn": nn}
    found = set()
    for cell in json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "code":
            continue
        tree = ast.parse("".join(cell["source"]))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name in names and "NotImplementedError" not in ast.unparse(node):
                exec(compile(ast.Module(body=[node], type_ignores=[]), str(NOTEBOOK), "exec"), namespace)
                found.add(node.name)
    assert found == set(names), f"notebook lacks {set(names) - found}"
    return namespace


def test_notebook_teaching_copies_equal_utils_and_torch():
    nb = notebook_functions("softmax", "attention", "multi_head_self_attention", "blockwise_attention")
    scores = torch.randn(3, 4, 9) * 5
    assert_close(nb["softmax"](scores), torch.softmax(scores, dim=-1), TOL, "notebook softmax")
    q, k, v = torch.randn(2, 3, 5, 16), torch.randn(2, 3, 7, 16), torch.randn(2, 3, 7, 8)
    out = nb["attention"](q, k, v)
    bound = attention_error_bound(q, k, v)
    assert_close(out, scaled_dot_product_attention(q, k, v), bound, "notebook attention vs utils")
    assert_close(out, F.scaled_dot_product_attention(q, k, v), bound, "notebook attention vs torch")
    mhsa = MultiHeadSelfAttention(48, 6, bias=False).eval()
    x = torch.randn(2, 7, 48)
    with torch.no_grad():
        loop = nb["multi_head_self_attention"](
            x, mhsa.q_proj.weight, mhsa.k_proj.weight, mhsa.v_proj.weight, mhsa.out_proj.weight, 6
        )
        assert_close(loop, mhsa(x), TOL, "notebook loop vs module")
    q, k, v = torch.randn(2, 3, 9, 16), torch.randn(2, 3, 20, 16), torch.randn(2, 3, 20, 8)
    for block_size in (1, 6, 32):
        n_blocks = math.ceil(20 / block_size)
        for mask in (None, causal_mask(9, past_len=11), padding_mask(torch.tensor([20, 4]))):  # only keys padded
            out = nb["blockwise_attention"](q, k, v, block_size, mask=mask)
            bound = attention_error_bound(q, k, v, n_blocks)
            assert_close(out, blockwise_attention(q, k, v, mask=mask, block_size=block_size), bound, "vs utils")
            assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), bound, "vs torch")


def test_notebook_solutions_pass_the_checkers(capsys):
    from utils.exercises import attention as ex

    # the grouped-query solution calls the chapter's own attention (and softmax), so those are defined too
    nb = notebook_functions("masked_softmax", "grouped_query_attention", "rope_rotate", "kv_cache_bytes",
                            "attention", "softmax")
    ex.check_masked_softmax(nb["masked_softmax"])
    ex.check_grouped_query_attention(nb["grouped_query_attention"])
    ex.check_rope_rotate(nb["rope_rotate"])
    ex.check_kv_cache_bytes(nb["kv_cache_bytes"])
    assert capsys.readouterr().out.count("✓") >= 4


# ---------------------------------------------------------------- chapter 3 plot helpers


def test_chapter3_plot_helpers():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from utils.plotting import plot_attention_heatmap, plot_bool_mask

    fig, (ax1, ax2) = plt.subplots(1, 2)
    probs = torch.softmax(torch.randn(3, 4), dim=-1)
    image = plot_attention_heatmap(ax1, probs, ["a", "b", "c"], ["w", "x", "y", "z"], title="t")
    assert image.get_array().shape == (3, 4)
    assert [t.get_text() for t in ax1.get_xticklabels()] == ["w", "x", "y", "z"]
    image = plot_bool_mask(ax2, causal_mask(4))
    assert image.get_array().shape == (4, 4)
    with pytest.raises(ValueError, match=r"3 labels.*got 2"):
        plot_attention_heatmap(ax1, probs, ["a", "b"])
    with pytest.raises(ValueError, match=r"2-D \(T_q, T_k\), got shape \(2, 3, 4\)"):
        plot_attention_heatmap(ax1, torch.rand(2, 3, 4))
    with pytest.raises((TypeError, ValueError), match="boolean.*float32"):  # a wrong dtype: TypeError by utils.checks
        plot_bool_mask(ax2, torch.rand(4, 4))
    plt.close(fig)


# ---------------------------------------------------------------- the GPU sweep script, smoke-run on the CPU


def test_attention_cost_script_records_its_settings_and_formula_sizes(tmp_path):
    import importlib.util
    import json

    path = Path(__file__).resolve().parents[1] / "scripts" / "attention_cost.py"
    spec = importlib.util.spec_from_file_location("attention_cost", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "cost.json"
    assert script.main(["--out", str(out), "--max-log2", "8", "--repeats", "2", "--dtypes", "float32"]) == 0
    result = json.loads(out.read_text())
    settings = result["settings"]
    # the defaults are chapter 3's CPU sweep: batch 1, 8 heads, d_head 64
    assert (settings["batch_size"], settings["n_heads"], settings["d_head"]) == (1, 8, 64)
    assert settings["dtypes"] == ["float32"] and "fastest" in settings["timing"]
    assert [(r["seq_len"], r["impl"]) for r in result["rows"]] == [(128, "naive"), (128, "sdpa"), (256, "naive"),
                                                                   (256, "sdpa")]
    for row in result["rows"]:
        assert row["score_matrix_bytes"] == 1 * 8 * row["seq_len"] ** 2 * 4
        assert 0 < row["seconds"] <= row["seconds_median"]
