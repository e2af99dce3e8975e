"""The chapter-7 checkers accept the solutions and reject known-wrong answers with a message that helps."""

import pytest
import torch

from utils.exercises import ExerciseError
from utils.exercises.gpu import check_attention_matrix_bytes, check_matmul_flops_per_token, check_max_batch_size
from utils.perf import memory_budget, step_peak_bytes, training_flops_per_token
from utils.transformer import TransformerLM

# ---------------------------------------------------------------- solutions (as in the notebook)


def matmul_flops_per_token(config, seq_len):
    with torch.device("meta"):
        model = TransformerLM(config)
    matrices = sum(p.numel() for name, p in model.named_parameters() if p.dim() == 2 and "pos_emb" not in name)
    return 6 * matrices + 12 * config.n_layers * config.d_model * seq_len


def attention_matrix_bytes(config, batch_size, seq_len):
    return config.n_layers * 2 * batch_size * config.n_heads * seq_len * seq_len * 4


def max_batch_size(config, seq_len, memory_bytes, precision):
    batch_size = 0
    while step_peak_bytes(memory_budget(config, batch_size + 1, seq_len, precision)) <= memory_bytes:
        batch_size += 1
    return batch_size


def test_solutions_pass(capsys):
    check_matmul_flops_per_token(matmul_flops_per_token)
    check_attention_matrix_bytes(attention_matrix_bytes)
    check_max_batch_size(max_batch_size)
    assert capsys.readouterr().out.count("correct") >= 3


@pytest.mark.parametrize("wrong, message", [
    (lambda c, t: training_flops_per_token(c, t), "output layer"),
    (lambda c, t: matmul_flops_per_token(c, t) // 3, "not close"),
    (lambda c, t: float(matmul_flops_per_token(c, t)), "type int"),
])
def test_wrong_flops_fail(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_matmul_flops_per_token(wrong)


@pytest.mark.parametrize("wrong, message", [
    (lambda c, b, t: attention_matrix_bytes(c, b, t) // 2, "half"),
    (lambda c, b, t: attention_matrix_bytes(c, b, t) // 2 * 4, "not close"),  # bytes of float64, twice as many
])
def test_wrong_attention_bytes_fail(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_attention_matrix_bytes(wrong)


def test_wrong_batch_sizes_fail():
    with pytest.raises(ExerciseError, match="do not fit"):
        check_max_batch_size(lambda c, t, m, p: max_batch_size(c, t, m, p) + 1)
    with pytest.raises(ExerciseError, match="not equal"):
        check_max_batch_size(lambda c, t, m, p: max(max_batch_size(c, t, m, p) - 1, 0) or 1)
