"""The chapter-5 checkers accept the solutions and reject known-wrong answers with a message that helps."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from utils.exercises import ExerciseError
from utils.exercises.transformer import (
    check_encoder_decoder_parameter_count,
    check_kv_cache_bytes,
    check_rms_norm,
    check_swiglu,
)
from utils.transformer import parameter_breakdown, parameter_count

# ---------------------------------------------------------------- solutions (as in the notebook)


def rms_norm(x, weight, eps):
    return x / torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight


def swiglu(x, w1, w2, w3):
    return (F.silu(x @ w1.T) * (x @ w3.T)) @ w2.T


def encoder_decoder_parameter_count(config):
    encoder = parameter_count(dataclasses.replace(config, causal=False, norm_position="pre", pooler=False))
    attention, mlp = (parameter_breakdown(config)[k] // config.n_layers for k in ("attention", "mlp"))
    norm = config.d_model * (2 if config.norm == "layernorm" and config.bias else 1)
    cross = 4 * config.d_model**2 + (4 * config.d_model if config.bias else 0)
    return encoder + config.n_layers * (attention + cross + mlp + 3 * norm) + norm


def kv_cache_bytes(config, seq_len, batch_size, bytes_per_value=4):
    return 2 * config.n_layers * config.n_kv_heads * config.d_head * seq_len * batch_size * bytes_per_value


def test_solutions_pass(capsys):
    check_rms_norm(rms_norm)
    check_swiglu(swiglu)
    check_encoder_decoder_parameter_count(encoder_decoder_parameter_count)
    check_kv_cache_bytes(kv_cache_bytes)
    assert capsys.readouterr().out.count("✓") >= 4


# ---------------------------------------------------------------- known-wrong answers


@pytest.mark.parametrize(
    "wrong,message",
    [
        (lambda x, w, eps: F.layer_norm(x, x.shape[-1:], w, None, eps), "does not subtract the mean"),
        (lambda x, w, eps: x / torch.sqrt(x.pow(2).mean(-1, keepdim=True)) * w, "eps goes inside"),
        (lambda x, w, eps: x / (x.pow(2).mean(-1, keepdim=True) + eps) * w, "not close enough"),
        (lambda x, w, eps: (x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps))[..., :4], "expected shape"),
    ],
)
def test_rms_norm_rejects(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_rms_norm(wrong)


@pytest.mark.parametrize(
    "wrong,message",
    [
        (lambda x, w1, w2, w3: (F.silu(x @ w3.T) * (x @ w1.T)) @ w2.T, "the gate is swapped"),
        (lambda x, w1, w2, w3: (F.gelu(x @ w1.T) * (x @ w3.T)) @ w2.T, "not close enough"),
        (lambda x, w1, w2, w3: F.silu(x @ w1.T) @ w2.T, "not close enough"),
    ],
)
def test_swiglu_rejects(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_swiglu(wrong)


def test_encoder_decoder_parameter_count_rejects():
    def without_cross_attention(config):
        d = config.d_model
        return encoder_decoder_parameter_count(config) - config.n_layers * (4 * d * d + (4 * d if config.bias else 0))

    def with_separate_head(config):
        return encoder_decoder_parameter_count(config) + config.vocab_size * config.d_model

    def decoder_only(config):
        return parameter_count(config)

    def as_float(config):
        return float(encoder_decoder_parameter_count(config))

    with pytest.raises(ExerciseError, match="cross-attention of each decoder layer"):
        check_encoder_decoder_parameter_count(without_cross_attention)
    with pytest.raises(ExerciseError, match="shared token embedding"):
        check_encoder_decoder_parameter_count(with_separate_head)
    with pytest.raises(ExerciseError, match="off by"):
        check_encoder_decoder_parameter_count(decoder_only)
    with pytest.raises(ExerciseError, match="expected a value of type int"):
        check_encoder_decoder_parameter_count(as_float)


def test_kv_cache_bytes_rejects():
    def all_heads(config, seq_len, batch_size, bytes_per_value=4):
        return 2 * config.n_layers * config.d_model * seq_len * batch_size * bytes_per_value

    def keys_only(config, seq_len, batch_size, bytes_per_value=4):
        return kv_cache_bytes(config, seq_len, batch_size, bytes_per_value) // 2

    with pytest.raises(ExerciseError, match="n_kv_heads"):
        check_kv_cache_bytes(all_heads)
    with pytest.raises(ExerciseError, match="keys AND values"):
        check_kv_cache_bytes(keys_only)
