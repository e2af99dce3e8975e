"""Checkers for the exercises of chapter 7, "Training on a GPU".

Each checker runs the learner's function on configs of its own and compares the result with something computed
independently: torch's ``FlopCounterMode`` on a real forward and backward pass, the bytes autograd actually saves,
and a search over batch sizes with the chapter's memory budget. A wrong answer raises
:class:`utils.exercises.ExerciseError` saying what is wrong; a right one prints "✓ name: correct".
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from utils.exercises import ExerciseError, check_close, check_equal, check_type
from utils.perf import memory_budget, saved_activation_bytes, step_peak_bytes, training_flops_per_token
from utils.transformer import TransformerLM, preset

__all__ = ["check_matmul_flops_per_token", "check_attention_matrix_bytes", "check_max_batch_size"]

_CONFIGS = (
    dict(n_layers=2, d_model=32, n_heads=4, d_ff=64, max_seq_len=32, vocab_size=99),
    dict(n_layers=3, d_model=48, n_heads=6, d_ff=100, max_seq_len=40, vocab_size=300, bias=False),
)


def _check_function(name: str, answer) -> None:
    if not callable(answer):
        raise ExerciseError(f"{name}: expected your function (the def above), got {type(answer).__name__}")


def _model(changes: dict, use_sdpa: bool) -> TransformerLM:
    torch.manual_seed(0)
    model = TransformerLM(preset("tiny-gpt2", **changes))
    for block in model.transformer.blocks:
        block.attn.use_sdpa = use_sdpa
    return model


def _counted_flops(changes: dict, seq_len: int) -> float:
    """FLOPs per token of every matrix product of a forward and backward pass, as FlopCounterMode counts them."""
    model = _model(changes, use_sdpa=False)  # written-out attention: its products are counted
    ids = torch.randint(model.config.vocab_size, (2, seq_len), generator=torch.Generator().manual_seed(1))
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(ids).flatten(0, 1), ids.flatten()).backward()
    return counter.get_total_flops() / ids.numel()


def check_matmul_flops_per_token(matmul_flops_per_token: Callable[..., int]) -> None:
    """Exercise 1: ``matmul_flops_per_token(config, seq_len) -> int``, every matrix product of a training step."""
    name = "matmul_flops_per_token"
    _check_function(name, matmul_flops_per_token)
    for changes in _CONFIGS:
        config = preset("tiny-gpt2", **changes)
        seq_len = config.max_seq_len - 8
        given = matmul_flops_per_token(config, seq_len)
        check_type(name, given, int)
        if given == training_flops_per_token(config, seq_len):
            raise ExerciseError(f"{name}: that is 6N + 12 L d T, which leaves the output layer out; add its product")
        check_close(name, float(given), _counted_flops(changes, seq_len), rtol=0.0, atol=0.5,
                    hint="count 2 FLOPs per multiply-add, 3 times (forward, input gradient, weight gradient), for "
                         "every weight matrix (biases and norms are not matrix products) and for q k^T and p v")


def check_attention_matrix_bytes(attention_matrix_bytes: Callable[..., int]) -> None:
    """Exercise 2: ``attention_matrix_bytes(config, batch_size, seq_len) -> int``, float32.

    The bytes the from-scratch attention keeps for the backward pass beyond what SDPA keeps, over all layers.
    """
    name = "attention_matrix_bytes"
    _check_function(name, attention_matrix_bytes)
    for changes, batch_size in ((_CONFIGS[0], 3), (_CONFIGS[1], 2)):
        config = preset("tiny-gpt2", **changes)
        seq_len = config.max_seq_len
        given = attention_matrix_bytes(config, batch_size, seq_len)
        check_type(name, given, int)
        ids = torch.randint(config.vocab_size, (batch_size, seq_len), generator=torch.Generator().manual_seed(2))
        saved = {}
        for use_sdpa in (True, False):
            model = _model(changes, use_sdpa)
            saved[use_sdpa] = saved_activation_bytes(lambda: F.cross_entropy(model(ids).flatten(0, 1), ids.flatten()),
                                                     model)
        measured = saved[False] - saved[True]
        if abs(2 * given / measured - 1) < 0.05:
            raise ExerciseError(f"{name}: about half of what is kept: the softmax output and its masked copy are "
                                "two (B, n_heads, T, T) tensors per layer")
        # rtol 5%: the causal mask and SDPA's log-sum-exp are a few percent of the difference at these sizes
        check_close(name, float(given), float(measured), rtol=0.05,
                    hint="per layer, (B, n_heads, T, T) float32 tensors of attention probabilities")


def check_max_batch_size(max_batch_size: Callable[..., int]) -> None:
    """Exercise 3: ``max_batch_size(config, seq_len, memory_bytes, precision) -> int`` by the chapter's budget."""
    name = "max_batch_size"
    _check_function(name, max_batch_size)
    gpt2 = preset("gpt2")
    for memory_gib, precision in ((80, "bf16"), (24, "bf16"), (80, "fp32"), (2, "bf16")):
        memory = memory_gib * 2**30
        given = max_batch_size(gpt2, 1024, memory, precision)
        check_type(name, given, int)
        fits = lambda b: step_peak_bytes(memory_budget(gpt2, b, 1024, precision)) <= memory  # noqa: E731
        expected = 0
        while fits(expected + 1):
            expected += 1
        if given == expected + 1:
            raise ExerciseError(f"{name}: {given} sequences do not fit in {memory_gib} GiB: return the largest that "
                                "does")
        check_equal(f"{name} ({memory_gib} GiB, {precision})", given, expected,
                    hint="the peak is step_peak_bytes(memory_budget(config, batch_size, seq_len, precision)); 0 when "
                         "not even one sequence fits")
