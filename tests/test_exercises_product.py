"""The chapter-10 checkers accept the solutions and reject known-wrong answers with a message that helps."""

import pytest
import torch
import torch.nn.functional as F

from utils.exercises import ExerciseError
from utils.exercises.product import check_distillation_loss, check_fedavg_average, check_int8_quantize

# ---------------------------------------------------------------- solutions (as in the notebook)


def distillation_loss(student_logits, teacher_logits, labels, temperature, alpha):
    soft = F.kl_div(F.log_softmax(student_logits / temperature, dim=-1), F.softmax(teacher_logits / temperature, dim=-1),
                    reduction="batchmean")
    return alpha * temperature**2 * soft + (1 - alpha) * F.cross_entropy(student_logits, labels)


def int8_quantize(weight):
    scale = weight.abs().max() / 127
    return torch.round(weight / scale).clamp(-127, 127).to(torch.int8), float(scale)


def fedavg_average(states, sizes):
    total = sum(sizes)
    return {key: sum(n / total * s[key] for n, s in zip(sizes, states)) for key in states[0]}


def test_the_solutions_pass():
    check_distillation_loss(distillation_loss)
    check_int8_quantize(int8_quantize)
    check_fedavg_average(fedavg_average)


def _kl(s, t):
    return F.kl_div(F.log_softmax(s, -1), F.softmax(t, -1), reduction="batchmean")


@pytest.mark.parametrize("wrong, message", [
    (lambda s, t, y, T, a: a * _kl(s / T, t / T) + (1 - a) * F.cross_entropy(s, y), "T\\*\\*2"),
    (lambda s, t, y, T, a: a * T**2 * _kl(t / T, s / T) + (1 - a) * F.cross_entropy(s, y), "wrong way round"),
    (lambda s, t, y, T, a: a * T**2 * F.kl_div(F.log_softmax(s / T, -1), F.softmax(t, -1), reduction="batchmean")
     + (1 - a) * F.cross_entropy(s, y), "soften"),
    (lambda s, t, y, T, a: F.cross_entropy(s, y), "not close enough"),
    (lambda s, t, y, T, a: F.cross_entropy(s, y, reduction="none"), "shape"),
])
def test_wrong_distillation_losses_are_explained(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_distillation_loss(wrong)


@pytest.mark.parametrize("wrong, message", [
    (lambda w: (torch.round(w / (w.max() / 127)).clamp(-127, 127).to(torch.int8), float(w.max() / 127)),
     "largest magnitude"),
    (lambda w: (torch.round(w / (w.abs().max() / 255)).clamp(-127, 127).to(torch.int8), float(w.abs().max() / 255)),
     "/ 255"),
    (lambda w: ((w / (w.abs().max() / 127)).to(torch.int8), float(w.abs().max() / 127)), "round"),
    (lambda w: (torch.round(w / (w.abs().max() / 127)), float(w.abs().max() / 127)), "int8"),
    (lambda w: torch.round(w), "tuple"),
])
def test_wrong_quantizations_are_explained(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_int8_quantize(wrong)


@pytest.mark.parametrize("wrong, message", [
    (lambda states, sizes: {k: sum(s[k] for s in states) / len(states) for k in states[0]}, "weighs the same"),
    (lambda states, sizes: {k: sum(n * s[k] for n, s in zip(sizes, states)) for k in states[0]}, "not close enough"),
    (lambda states, sizes: {"weight": states[0]["weight"]}, "same keys"),
    (lambda states, sizes: None, "dict"),
])
def test_wrong_averages_are_explained(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_fedavg_average(wrong)
