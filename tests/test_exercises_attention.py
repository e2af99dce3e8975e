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


def split_heads(x, n_heads):
    B, T, d_model = x.shape
    return x.view(B, T, n_heads, d_model // n_heads).transpose(1, 2)


def rope_rotate(x, positions, base):
    d_head = x.shape[-1]
    inv_freq = base ** (-torch.arange(0, d_head, 2, dtype=torch.float32) / d_head)
    angles = positions.float()[:, None] * inv_freq
    angles = torch.cat((angles, angles), dim=-1)
    x1, x2 = x[..., : d_head // 2], x[..., d_head // 2 :]
    return x * angles.cos() + torch.cat((-x2, x1), dim=-1) * angles.sin()


def score_matrix_bytes(batch_size, n_heads, seq_len, bytes_per_element):
    return batch_size * n_heads * seq_len**2 * bytes_per_element


@pytest.mark.parametrize(
    "checker, solution",
    [
        (ex.check_masked_softmax, masked_softmax),
        (ex.check_split_heads, split_heads),
        (ex.check_rope_rotate, rope_rotate),
        (ex.check_score_matrix_bytes, score_matrix_bytes),
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


def split_heads_without_transpose(x, n_heads):
    B, T, d_model = x.shape
    return x.reshape(B, n_heads, T, d_model // n_heads)


def split_heads_strided(x, n_heads):
    B, T, d_model = x.shape
    return x.view(B, T, d_model // n_heads, n_heads).permute(0, 3, 1, 2)


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


def score_matrix_linear(batch_size, n_heads, seq_len, bytes_per_element):
    return batch_size * n_heads * seq_len * bytes_per_element


def score_matrix_bits(batch_size, n_heads, seq_len, bytes_per_element):
    return batch_size * n_heads * seq_len**2 * bytes_per_element * 8


def score_matrix_float(batch_size, n_heads, seq_len, bytes_per_element):
    return batch_size * n_heads * math.pow(seq_len, 2) * bytes_per_element + 0.5


def not_attempted(*args):
    raise NotImplementedError("Exercise: fill in")


@pytest.mark.parametrize(
    "checker, wrong, message",
    [
        (ex.check_masked_softmax, softmax_ignoring_mask, "masked positions"),
        (ex.check_masked_softmax, softmax_nan_on_full_rows, "NaN"),
        (ex.check_masked_softmax, softmax_large_negative, "fully masked row is all zeros"),
        (ex.check_masked_softmax, softmax_over_queries, "not close enough"),
        (ex.check_split_heads, split_heads_without_transpose, "head"),
        (ex.check_split_heads, split_heads_strided, "head 0"),
        (ex.check_rope_rotate, rope_interleaved, "rotate-half"),
        (ex.check_rope_rotate, rope_fixed_base, "base"),
        (ex.check_rope_rotate, rope_wrong_sign, "not close enough"),
        (ex.check_score_matrix_bytes, score_matrix_linear, "not equal"),
        (ex.check_score_matrix_bytes, score_matrix_bits, "not equal"),
        (ex.check_score_matrix_bytes, score_matrix_float, "type int"),
    ],
)
def test_wrong_answers_rejected(checker, wrong, message):
    with pytest.raises(ExerciseError, match=message):
        checker(wrong)


@pytest.mark.parametrize(
    "checker",
    [ex.check_masked_softmax, ex.check_split_heads, ex.check_rope_rotate, ex.check_score_matrix_bytes],
)
def test_stub_raises_not_implemented(checker):
    # the notebook's checker cell catches this and prints "not attempted yet"
    with pytest.raises(NotImplementedError):
        checker(not_attempted)
