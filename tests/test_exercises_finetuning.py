"""The chapter-8 checkers accept the solutions and reject known-wrong answers with a message that helps."""

import pytest
import torch

from utils.exercises import ExerciseError
from utils.exercises.finetuning import check_label_log_probs, check_lora_forward, check_max_pool

# ---------------------------------------------------------------- solutions (as in the notebook)


def lora_forward(x, weight, bias, lora_A, lora_B, alpha):
    return x @ weight.T + bias + (alpha / lora_A.shape[0]) * (x @ lora_A.T @ lora_B.T)


def max_pool(hidden, attention_mask):
    return hidden.masked_fill(attention_mask.unsqueeze(-1) == 0, float("-inf")).max(dim=1).values


def label_log_probs(logits, label_ids):
    return logits.log_softmax(dim=-1)[:, label_ids]


def test_the_solutions_pass():
    check_lora_forward(lora_forward)
    check_max_pool(max_pool)
    check_label_log_probs(label_log_probs)


@pytest.mark.parametrize("wrong, message", [
    (lambda x, w, b, A, B, alpha: x @ w.T + b + x @ A.T @ B.T, "not scaled"),
    (lambda x, w, b, A, B, alpha: x @ w.T + b + alpha * (x @ A.T @ B.T), "alpha / r"),
    (lambda x, w, b, A, B, alpha: x @ w.T + b, "not close enough"),
    (lambda x, w, b, A, B, alpha: (x @ w.T + b).sum(-1), "shape"),
])
def test_wrong_lora_updates_are_explained(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_lora_forward(wrong)


@pytest.mark.parametrize("wrong, message", [
    (lambda h, m: h.max(dim=1).values, "padding"),
    (lambda h, m: (h * m.unsqueeze(-1)).sum(1) / m.sum(1, keepdim=True), "not close enough"),
    (lambda h, m: h[:, 0], "not close enough"),
    (lambda h, m: h.max(dim=2).values, "shape"),
])
def test_wrong_poolings_are_explained(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_max_pool(wrong)


@pytest.mark.parametrize("wrong, message", [
    (lambda logits, ids: logits[:, ids].log_softmax(-1), "label words only"),
    (lambda logits, ids: logits[:, ids], "logits"),
    (lambda logits, ids: logits.softmax(-1)[:, ids], "not close enough"),
    (lambda logits, ids: logits.log_softmax(-1), "shape"),
])
def test_wrong_label_scores_are_explained(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_label_log_probs(wrong)


def test_a_stub_that_returns_nothing_is_told_so():
    with pytest.raises(ExerciseError, match="type Tensor"):
        check_label_log_probs(lambda logits, ids: None)
