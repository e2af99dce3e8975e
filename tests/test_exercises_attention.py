"""Chapter 3 exercises: the solutions pass their checkers, known-wrong answers are rejected."""

import math

import pytest
import torch

from utils.exercises import ExerciseError
from utils.exercises import attention as ex


# ---------------------------------------------------------------- solutions


def masked_softmax(scores, mask):
    scores = scores.masked_fill(~mask, float("-inf"))
    row_has_key = mask.any(dim=-1, keepdim=True)
    scores = scores.masked_fill(~row_has_key, 0.0)
    probs = torch.softmax(scores, dim=-1)
    return probs.masked_fill(~row_has_key, 0.0)


def grouped_query_attention(q, k, v):
    n_rep = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(n_rep, dim=1), v.repeat_interleave(n_rep, dim=1)
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1) @ v


def rope_rotate(x, positions, base):
    d_head = x.shape[-1]
    inv_freq = base ** (-torch.arange(0, d_head, 2, dtype=torch.float32) / d_head)
    angles = positions.float()[:, None] * inv_freq
    angles = torch.cat((angles, angles), dim=-1)
    x1, x2 = x[..., : d_head // 2], x[..., d_head // 2 :]
    return x * angles.cos() + torch.cat((-x2, x1), dim=-1) * angles.sin()


def kv_cache_bytes(n_layers, batch_size, n_kv_heads, seq_len, d_head, bytes_per_element):
    return 2 * n_layers * batch_size * n_kv_heads * seq_len * d_head * bytes_per_element


@pytest.mark.parametrize(
    "checker, solution",
    [
        (ex.check_masked_softmax, masked_softmax),
        (ex.check_grouped_query_attention, grouped_query_attention),
        (ex.check_rope_rotate, rope_rotate),
        (ex.check_kv_cache_bytes, kv_cache_bytes),
    ],
)
def test_solutions_pass(checker, solution, capsys):
    checker(solution)
    assert "✓" in capsys.readouterr().out


# ---------------------------------------------------------------- known-wrong answers


def softmax_ignoring_mask(scores, mask):
    return torch.softmax(scores, dim=-1)


def softmax_nan_on_full_rows(scores, mask):
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)


def softmax_large_negative(scores, mask):
    # -1e9 instead of -inf: a fully masked row becomes uniform instead of zeros
    return torch.softmax(scores.masked_fill(~mask, -1e9), dim=-1)


def softmax_over_queries(scores, mask):
    # normalises over the wrong axis (queries instead of keys)
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-2).nan_to_num(0.0)


def gqa_tiled(q, k, v):
    # repeat() tiles the heads: query head h gets key/value head h % n_kv_heads instead of h // n_rep
    n_rep = q.shape[1] // k.shape[1]
    return grouped_query_attention(q, k.repeat(1, n_rep, 1, 1), v.repeat(1, n_rep, 1, 1))


def gqa_not_repeated(q, k, v):
    # no repeat at all: the head axes do not broadcast (6 query heads against 2 key/value heads)
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1) @ v


def gqa_first_head_only(q, k, v):
    # every query head uses key/value head 0
    return grouped_query_attention(q, k[:, :1], v[:, :1])


def gqa_unscaled(q, k, v):
    return grouped_query_attention(q * math.sqrt(q.shape[-1]), k, v)


def rope_interleaved(x, positions, base):
    d_head = x.shape[-1]
    inv_freq = base ** (-torch.arange(0, d_head, 2, dtype=torch.float32) / d_head)
    angles = positions.float()[:, None] * inv_freq  # (T, d/2)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = torch.stack((x1 * angles.cos() - x2 * angles.sin(), x1 * angles.sin() + x2 * angles.cos()), dim=-1)
    return out.flatten(-2)


def rope_fixed_base(x, positions, base):
    return rope_rotate(x, positions, 10000.0)


def rope_wrong_sign(x, positions, base):
    return rope_rotate(x, -positions, base)


def kv_cache_keys_only(n_layers, batch_size, n_kv_heads, seq_len, d_head, bytes_per_element):
    return kv_cache_bytes(n_layers, batch_size, n_kv_heads, seq_len, d_head, bytes_per_element) // 2


def kv_cache_one_layer(n_layers, batch_size, n_kv_heads, seq_len, d_head, bytes_per_element):
    return kv_cache_bytes(1, batch_size, n_kv_heads, seq_len, d_head, bytes_per_element)


def kv_cache_bits(n_layers, batch_size, n_kv_heads, seq_len, d_head, bytes_per_element):
    return 8 * kv_cache_bytes(n_layers, batch_size, n_kv_heads, seq_len, d_head, bytes_per_element)


def kv_cache_float(n_layers, batch_size, n_kv_heads, seq_len, d_head, bytes_per_element):
    return kv_cache_bytes(n_layers, batch_size, n_kv_heads, seq_len, d_head, bytes_per_element) + 0.5


def not_attempted(*args):
    raise NotImplementedError("Exercise: fill in")


@pytest.mark.parametrize(
    "checker, wrong, message",
    [
        (ex.check_masked_softmax, softmax_ignoring_mask, "masked positions"),
        (ex.check_masked_softmax, softmax_nan_on_full_rows, "NaN"),
        (ex.check_masked_softmax, softmax_large_negative, "fully masked row is all zeros"),
        (ex.check_masked_softmax, softmax_over_queries, "not close enough"),
        (ex.check_grouped_query_attention, gqa_tiled, "repeat_interleave"),
        (ex.check_grouped_query_attention, gqa_not_repeated, "raised RuntimeError"),
        (ex.check_grouped_query_attention, gqa_first_head_only, "not close enough"),
        (ex.check_grouped_query_attention, gqa_unscaled, "not close enough"),
        (ex.check_rope_rotate, rope_interleaved, "rotate-half"),
        (ex.check_rope_rotate, rope_fixed_base, "base"),
        (ex.check_rope_rotate, rope_wrong_sign, "not close enough"),
        (ex.check_kv_cache_bytes, kv_cache_keys_only, "not equal"),
        (ex.check_kv_cache_bytes, kv_cache_one_layer, "not equal"),
        (ex.check_kv_cache_bytes, kv_cache_bits, "not equal"),
        (ex.check_kv_cache_bytes, kv_cache_float, "type int"),
    ],
)
def test_wrong_answers_rejected(checker, wrong, message):
    with pytest.raises(ExerciseError, match=message):
        checker(wrong)


@pytest.mark.parametrize(
    "checker",
    [ex.check_masked_softmax, ex.check_grouped_query_attention, ex.check_rope_rotate, ex.check_kv_cache_bytes],
)
def test_stub_raises_not_implemented(checker):
    # the notebook's checker cell catches this and prints "not attempted yet"
    with pytest.raises(NotImplementedError):
        checker(not_attempted)


def test_gqa_reference_equals_torch_enable_gqa():
    # the checker's float64 loop against PyTorch's own grouped-query path, where this PyTorch has it
    import torch.nn.functional as F

    from utils.attention import attention_error_bound

    q, k, v = torch.randn(2, 6, 5, 8), torch.randn(2, 2, 7, 8), torch.randn(2, 2, 7, 4)
    try:
        expected = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    except TypeError:
        pytest.skip("this PyTorch has no enable_gqa")
    diff = (ex._reference_gqa(q, k, v) - expected.double()).abs().max().item()
    bound = attention_error_bound(q, k, v)
    assert diff <= bound, f"max abs difference {diff:.2e} > float32 bound {bound:.2e}"
