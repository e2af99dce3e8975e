"""Bad input to chapter 3's modules (utils.attention and its exercise checkers): a clear error, raised in utils."""

import numpy as np
import pytest
import torch

import utils.attention as attention
from utils.exercises import ExerciseError
import utils.exercises.attention as exercises_attention
from bad_inputs import BadInput, assert_clear_error, case_id

Q, K, V = torch.randn(2, 4, 6, 8), torch.randn(2, 4, 5, 8), torch.randn(2, 4, 5, 8)  # (B, n_heads, T, d_head)
ROTARY = attention.RotaryEmbedding(8)
COS, SIN = ROTARY(torch.arange(6))  # (6, 8) each: tables for 6 positions
ATTN = attention.MultiHeadSelfAttention(32, 4)  # d_model 32, 4 heads of 8
X = torch.randn(2, 5, 32)  # (B, T, d_model)
CROSS = attention.CrossAttention(32, 4)
MEMORY = torch.randn(2, 7, 32)  # (B, S, d_model): an encoder output of 7 source tokens


def _cache_with(k_new, v_new):
    """A cache that already holds (2, 2, 3, 8) keys and values, then gets ``k_new`` and ``v_new``."""
    cache = attention.KVCache()
    cache.update(torch.randn(2, 2, 3, 8), torch.randn(2, 2, 3, 8))
    return cache.update(k_new, v_new)


def _attend_with_cache(mask):
    """Five new tokens after three cached ones: a mask must cover T_total = 8 keys."""
    cache = attention.KVCache()
    ATTN(torch.randn(2, 3, 32), cache=cache)
    return ATTN(X, mask=mask, cache=cache)


CASES = [
    # scaled dot-product attention and its weights
    BadInput("utils.attention.scaled_dot_product_attention", "integer q, k, v",
             lambda: attention.scaled_dot_product_attention(*(torch.randint(0, 5, (2, 5, 8)) for _ in range(3))),
             TypeError, "q must be a float tensor"),
    BadInput("utils.attention.scaled_dot_product_attention", "a mask whose shape does not fit the scores",
             lambda: attention.scaled_dot_product_attention(Q, K, V, mask=torch.ones(6, 6, dtype=torch.bool)),
             ValueError, "mask"),
    BadInput("utils.attention.scaled_dot_product_attention", "a 0/1 float mask",
             lambda: attention.scaled_dot_product_attention(Q, K, V, mask=torch.ones(6, 5)), TypeError, "mask.bool()"),
    BadInput("utils.attention.scaled_dot_product_attention", "values for another number of keys",
             lambda: attention.scaled_dot_product_attention(Q, K, torch.randn(2, 4, 6, 8)), ValueError, "k and v"),
    BadInput("utils.attention.scaled_dot_product_attention", "keys of another d_head than the queries",
             lambda: attention.scaled_dot_product_attention(Q, K[..., :4], V), ValueError, "d_head"),
    BadInput("utils.attention.scaled_dot_product_attention", "fewer key/value heads, not repeated",
             lambda: attention.scaled_dot_product_attention(Q, K[:, :3], V[:, :3]), ValueError, "repeat_kv"),
    BadInput("utils.attention.scaled_dot_product_attention", "float64 queries with float32 keys",
             lambda: attention.scaled_dot_product_attention(Q.double(), K, V), TypeError, "q and k"),
    BadInput("utils.attention.scaled_dot_product_attention", "numpy arrays",
             lambda: attention.scaled_dot_product_attention(Q.numpy(), K.numpy(), V.numpy()), TypeError, "q"),
    BadInput("utils.attention.scaled_dot_product_attention", "a negative scale",
             lambda: attention.scaled_dot_product_attention(Q, K, V, scale=-0.5), ValueError, "scale"),
    BadInput("utils.attention.attention_weights", "one query vector without its T axis",
             lambda: attention.attention_weights(torch.randn(8), K), ValueError, "q"),
    BadInput("utils.attention.attention_weights", "a padding mask one key short",
             lambda: attention.attention_weights(Q, K, mask=torch.ones(2, 1, 1, 4, dtype=torch.bool)),
             ValueError, "mask"),
    BadInput("utils.attention.attention_weights", "the scale as text",
             lambda: attention.attention_weights(Q, K, scale="1/sqrt(d)"), TypeError, "scale"),
    BadInput("utils.attention.blockwise_attention", "a block size of zero",
             lambda: attention.blockwise_attention(Q, K, V, block_size=0), ValueError, "block_size"),
    BadInput("utils.attention.blockwise_attention", "a float block size",
             lambda: attention.blockwise_attention(Q, K, V, block_size=2.5), TypeError, "block_size"),
    BadInput("utils.attention.blockwise_attention", "no keys at all",
             lambda: attention.blockwise_attention(Q, K[..., :0, :], V[..., :0, :]), ValueError, "k"),
    BadInput("utils.attention.blockwise_attention", "an integer mask",
             lambda: attention.blockwise_attention(Q, K, V, mask=torch.ones(6, 5, dtype=torch.long)),
             TypeError, "mask"),
    BadInput("utils.attention.attention_error_bound", "zero blocks",
             lambda: attention.attention_error_bound(Q, K, V, n_blocks=0), ValueError, "n_blocks"),
    BadInput("utils.attention.attention_error_bound", "bfloat16 inputs (the bound is for float32)",
             lambda: attention.attention_error_bound(Q.bfloat16(), K.bfloat16(), V.bfloat16()), TypeError,
             "float32"),
    BadInput("utils.attention.attention_error_bound", "lists instead of tensors",
             lambda: attention.attention_error_bound(Q.tolist(), K.tolist(), V.tolist()), TypeError, "q"),
    # masks
    BadInput("utils.attention.causal_mask", "a length that is not a whole number",
             lambda: attention.causal_mask(5.5), TypeError, "seq_len"),
    BadInput("utils.attention.causal_mask", "a negative past length", lambda: attention.causal_mask(4, past_len=-1),
             ValueError, "past_len"),
    BadInput("utils.attention.causal_mask", "a device torch does not know",
             lambda: attention.causal_mask(4, device="gpu"), ValueError, "device"),
    BadInput("utils.attention.padding_mask", "float lengths", lambda: attention.padding_mask(torch.tensor([3.0, 1.0])),
             TypeError, "lengths"),
    BadInput("utils.attention.padding_mask", "a length longer than seq_len",
             lambda: attention.padding_mask(torch.tensor([3, 7]), seq_len=5), ValueError, "seq_len"),
    BadInput("utils.attention.padding_mask", "a negative length", lambda: attention.padding_mask(torch.tensor([3, -1])),
             ValueError, "lengths"),
    BadInput("utils.attention.padding_mask", "a list of lengths", lambda: attention.padding_mask([3, 1]),
             TypeError, "lengths_or_attention_mask"),
    BadInput("utils.attention.padding_mask", "a mask that is already (B, 1, 1, T)",
             lambda: attention.padding_mask(torch.ones(2, 1, 1, 5)), ValueError, "lengths_or_attention_mask"),
    BadInput("utils.attention.padding_mask", "a seq_len longer than the attention_mask",
             lambda: attention.padding_mask(torch.ones(2, 5, dtype=torch.long), seq_len=8), ValueError, "seq_len"),
    BadInput("utils.attention.padding_mask", "a float seq_len",
             lambda: attention.padding_mask(torch.tensor([3, 1]), seq_len=4.0), TypeError, "seq_len"),
    # grouped-query repeat and positions
    BadInput("utils.attention.repeat_kv", "keys without the head axis (B, T, d_head)",
             lambda: attention.repeat_kv(torch.randn(2, 5, 8), 2), ValueError, "x"),
    BadInput("utils.attention.repeat_kv", "zero repeats", lambda: attention.repeat_kv(K, 0), ValueError, "n_rep"),
    BadInput("utils.attention.repeat_kv", "n_heads / n_kv_heads as a float", lambda: attention.repeat_kv(K, 8 / 4),
             TypeError, "n_rep"),
    BadInput("utils.positions.sinusoidal_positions", "an odd d_model", lambda: attention.sinusoidal_positions(10, 5),
             ValueError, "d_model"),
    BadInput("utils.positions.sinusoidal_positions", "a length that is not a whole number",
             lambda: attention.sinusoidal_positions(10.5, 16), TypeError, "seq_len"),
    BadInput("utils.positions.sinusoidal_positions", "a base of zero",
             lambda: attention.sinusoidal_positions(10, 16, 0), ValueError, "base"),
    BadInput("utils.positions.rotate_half", "an odd last dim", lambda: attention.rotate_half(torch.randn(2, 7)),
             ValueError, "x"),
    BadInput("utils.positions.rotate_half", "a numpy array", lambda: attention.rotate_half(np.ones((2, 8))),
             TypeError, "x"),
    BadInput("utils.positions.apply_rotary", "cos/sin for 6 positions applied to 5",
             lambda: attention.apply_rotary(Q[..., :5, :], K, COS, SIN), ValueError, "positions"),
    BadInput("utils.positions.apply_rotary", "cos and sin of different lengths",
             lambda: attention.apply_rotary(Q, Q, COS, SIN[:5]), ValueError, "cos and sin"),
    BadInput("utils.positions.apply_rotary", "tables for another d_head",
             lambda: attention.apply_rotary(Q, Q, *attention.RotaryEmbedding(16)(torch.arange(6))), ValueError,
             "d_head"),
    BadInput("utils.positions.apply_rotary", "integer queries",
             lambda: attention.apply_rotary(Q.long(), Q, COS, SIN), TypeError, "q"),
    BadInput("utils.positions.apply_rotary", "per-sequence tables for another batch size",
             lambda: attention.apply_rotary(Q, Q, COS.expand(3, 6, 8), SIN.expand(3, 6, 8)), ValueError, "batch"),
    BadInput("utils.positions.RotaryEmbedding", "an odd d_head", lambda: attention.RotaryEmbedding(7), ValueError,
             "d_head"),
    BadInput("utils.positions.RotaryEmbedding", "d_head as a float (d_model / n_heads)",
             lambda: attention.RotaryEmbedding(64 / 4), TypeError, "d_head"),
    BadInput("utils.positions.RotaryEmbedding", "float positions", lambda: ROTARY(torch.arange(4.0)), TypeError,
             "positions"),
    BadInput("utils.positions.RotaryEmbedding", "positions with an extra axis",
             lambda: ROTARY(torch.arange(6).view(1, 2, 3)), ValueError, "positions"),
    BadInput("utils.positions.RotaryEmbedding", "a base below 1", lambda: attention.RotaryEmbedding(8, base=0.5),
             ValueError, "base"),
    # the KV cache and multi-head self-attention
    BadInput("utils.attention.KVCache", "keys with another number of heads",
             lambda: _cache_with(torch.randn(2, 4, 1, 8), torch.randn(2, 4, 1, 8)), ValueError, "n_kv_heads"),
    BadInput("utils.attention.KVCache", "keys of another d_head",
             lambda: _cache_with(torch.randn(2, 2, 1, 4), torch.randn(2, 2, 1, 4)), ValueError, "d_head"),
    BadInput("utils.attention.KVCache", "keys without the head axis",
             lambda: attention.KVCache().update(torch.randn(2, 3, 8), torch.randn(2, 3, 8)), ValueError, "k_new"),
    BadInput("utils.attention.KVCache", "keys and values of different lengths",
             lambda: attention.KVCache().update(torch.randn(2, 2, 3, 8), torch.randn(2, 2, 4, 8)), ValueError,
             "k_new and v_new"),
    BadInput("utils.attention.KVCache", "float64 keys into a float32 cache",
             lambda: _cache_with(torch.randn(2, 2, 1, 8).double(), torch.randn(2, 2, 1, 8).double()), TypeError,
             "dtype"),
    BadInput("utils.attention.MultiHeadSelfAttention", "d_model not divisible by n_heads",
             lambda: attention.MultiHeadSelfAttention(30, 4), ValueError, "n_heads"),
    BadInput("utils.attention.MultiHeadSelfAttention", "n_heads not divisible by n_kv_heads",
             lambda: attention.MultiHeadSelfAttention(32, 4, n_kv_heads=3), ValueError, "n_kv_heads"),
    BadInput("utils.attention.MultiHeadSelfAttention", "an input whose last dim is not d_model",
             lambda: ATTN(torch.randn(2, 5, 16)), ValueError, "d_model=32"),
    BadInput("utils.attention.MultiHeadSelfAttention", "an input without the batch axis",
             lambda: ATTN(torch.randn(5, 32)), ValueError, "x"),
    BadInput("utils.attention.MultiHeadSelfAttention", "token ids instead of vectors",
             lambda: ATTN(torch.randint(0, 32, (2, 5, 32))), TypeError, "x"),
    BadInput("utils.attention.MultiHeadSelfAttention", "a padding mask for another batch size",
             lambda: ATTN(X, mask=torch.ones(3, 1, 1, 5, dtype=torch.bool)), ValueError, "mask"),
    BadInput("utils.attention.MultiHeadSelfAttention", "a padding mask that does not count the cached tokens",
             lambda: _attend_with_cache(mask=torch.ones(2, 1, 1, 5, dtype=torch.bool)), ValueError, "T_total"),
    BadInput("utils.attention.MultiHeadSelfAttention", "a dropout above 1",
             lambda: attention.MultiHeadSelfAttention(32, 4, dropout=1.5), ValueError, "dropout"),
    BadInput("utils.attention.MultiHeadSelfAttention", "causal given as text",
             lambda: attention.MultiHeadSelfAttention(32, 4, causal="yes"), TypeError, "causal"),
    BadInput("utils.attention.MultiHeadSelfAttention", "n_heads as a float",
             lambda: attention.MultiHeadSelfAttention(32, 4.0), TypeError, "n_heads"),
    BadInput("utils.attention.MultiHeadSelfAttention", "rope as one tensor instead of (cos, sin)",
             lambda: ATTN(X, rope=COS), TypeError, "rope"),
    BadInput("utils.attention.MultiHeadSelfAttention", "rope tables for 6 positions and 5 tokens",
             lambda: ATTN(X, rope=(COS, SIN)), ValueError, "positions"),
    BadInput("utils.attention.MultiHeadSelfAttention", "a list as the cache", lambda: ATTN(X, cache=[]),
             TypeError, "cache"),
    BadInput("utils.attention.CrossAttention", "d_model not divisible by n_heads",
             lambda: attention.CrossAttention(30, 4), ValueError, "n_heads"),
    BadInput("utils.attention.CrossAttention", "memory of another width", lambda: CROSS(X, torch.randn(2, 7, 16)),
             ValueError, "memory"),
    BadInput("utils.attention.CrossAttention", "memory of another batch size", lambda: CROSS(X, torch.randn(3, 7, 32)),
             ValueError, "memory"),
    BadInput("utils.attention.CrossAttention", "memory without the batch axis", lambda: CROSS(X, MEMORY[0]),
             ValueError, "memory"),
    BadInput("utils.attention.CrossAttention", "a memory mask over the target tokens instead of the source",
             lambda: CROSS(X, MEMORY, torch.ones(2, 1, 1, 5, dtype=torch.bool)), ValueError, "mask"),
    BadInput("utils.attention.CrossAttention", "a 0/1 attention_mask as the memory mask",
             lambda: CROSS(X, MEMORY, torch.ones(2, 1, 1, 7, dtype=torch.long)), TypeError, "bool"),
    BadInput("utils.attention.CrossAttention", "decoder token ids instead of vectors",
             lambda: CROSS(torch.randint(0, 32, (2, 5, 32)), MEMORY), TypeError, "x"),
    # the exercise checkers
    BadInput("utils.exercises.attention.check_masked_softmax", "None (the defining cell did not run)",
             lambda: exercises_attention.check_masked_softmax(None), ExerciseError, "masked_softmax"),
    BadInput("utils.exercises.attention.check_masked_softmax", "the function's result instead of the function",
             lambda: exercises_attention.check_masked_softmax(torch.zeros(2, 3)), ExerciseError, "without calling it"),
    BadInput("utils.exercises.attention.check_grouped_query_attention", "None",
             lambda: exercises_attention.check_grouped_query_attention(None), ExerciseError,
             "grouped_query_attention"),
    BadInput("utils.exercises.attention.check_grouped_query_attention", "a function that forgot v",
             lambda: exercises_attention.check_grouped_query_attention(lambda q, k: q), ExerciseError,
             "must take 3 arguments"),
    BadInput("utils.exercises.attention.check_rope_rotate", "None",
             lambda: exercises_attention.check_rope_rotate(None), ExerciseError, "rope_rotate"),
    BadInput("utils.exercises.attention.check_kv_cache_bytes", "a number instead of the function",
             lambda: exercises_attention.check_kv_cache_bytes(3 * 2**20), ExerciseError, "kv_cache_bytes"),
]

NO_BAD_INPUT = {}  # every public function and class of utils.attention and utils.exercises.attention has cases

DOCUMENTED = {
    "utils.attention.scaled_dot_product_attention": "a NaN in q gives NaN in that query's output row (a NaN in k "
    "or v, in every row that attends to it); kept, since finding one would scan every tensor (a GPU sync) in each "
    "forward pass, and NaN shows the fault where it is (torch 2.13's fused CPU kernel returns zeros for such a row "
    "instead). A query whose mask row is all False gives zeros, never NaN (the module's documented convention), "
    "and no keys at all give zeros, as torch does",
    "utils.attention.MultiHeadSelfAttention": "as scaled_dot_product_attention: NaN in x propagates (not scanned, "
    "the forward pass is a hot path)",
}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input_gets_a_clear_error_from_utils(case):
    assert_clear_error(case)


def test_documented_cases_behave_as_documented():
    q = Q.clone()
    q[0, 0, 0, 0] = float("nan")
    nan_rows = attention.scaled_dot_product_attention(q, K, V).isnan().all(dim=-1)  # (B, n_heads, T_q)
    expected = torch.zeros_like(nan_rows)
    expected[0, 0, 0] = True  # only the row of the NaN query, and all of it
    assert torch.equal(nan_rows, expected)
    no_key = torch.zeros(6, 5, dtype=torch.bool)
    assert torch.equal(attention.scaled_dot_product_attention(Q, K, V, mask=no_key), torch.zeros(2, 4, 6, 8))
    empty = attention.scaled_dot_product_attention(Q, K[..., :0, :], V[..., :0, :])
    assert torch.equal(empty, torch.nn.functional.scaled_dot_product_attention(Q, K[..., :0, :], V[..., :0, :]))


def test_good_input_still_passes_the_entry_checks():
    # what the chapter and the transformer pass: a (B, T) attention_mask, rope tables, an empty cache
    mask = attention.padding_mask(torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]))
    cos, sin = ROTARY(torch.arange(5))
    out = ATTN(X, mask=mask, rope=(cos, sin), cache=attention.KVCache())
    assert out.shape == X.shape and torch.isfinite(out).all()
    assert attention.padding_mask(torch.tensor([3, 5]), seq_len=5).shape == (2, 1, 1, 5)
