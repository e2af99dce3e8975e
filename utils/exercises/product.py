"""Checkers for the exercises of chapter 10, "From model to product".

Each checker takes the learner's function, runs it on inputs of its own and compares the result with a reference
computed independently (``utils.compression.distillation_loss``; int8 rounding written out element by element; a
weighted mean of the state dicts computed key by key). A wrong answer raises :class:`utils.exercises.ExerciseError`
saying what is wrong; a right one prints "✓ name: correct".
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from utils.exercises import ExerciseError, check_close, check_shape, check_type

__all__ = ["check_distillation_loss", "check_int8_quantize", "check_fedavg_average"]


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def check_distillation_loss(distillation_loss: Callable[..., torch.Tensor]) -> None:
    """Exercise 1: ``distillation_loss(student_logits, teacher_logits, labels, temperature, alpha) -> scalar``.

    ``alpha * T**2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(student, labels)``, the
    KL averaged over the batch (``reduction="batchmean"``).
    """
    from utils.compression import distillation_loss as reference

    name = "distillation_loss"
    g = _generator(11)
    student, teacher = torch.randn(6, 3, generator=g) * 2, torch.randn(6, 3, generator=g) * 2
    labels = torch.tensor([0, 2, 1, 1, 0, 2])
    temperature, alpha = 3.0, 0.7
    out = distillation_loss(student.clone(), teacher.clone(), labels.clone(), temperature, alpha)
    check_type(name, out, torch.Tensor)
    check_shape(name, out, ())
    expected = reference(student, teacher, labels, temperature, alpha)
    log_s, p_t = F.log_softmax(student / temperature, -1), F.softmax(teacher / temperature, -1)
    kl = F.kl_div(log_s, p_t, reduction="batchmean")
    hard = F.cross_entropy(student, labels)
    if torch.allclose(out, alpha * kl + (1 - alpha) * hard, atol=1e-5):
        raise ExerciseError(f"{name}: the soft term is not multiplied by T**2: without it its gradients shrink like "
                            f"1 / T**2")
    reverse = F.kl_div(F.log_softmax(teacher / temperature, -1), F.softmax(student / temperature, -1),
                       reduction="batchmean")
    if torch.allclose(out, alpha * temperature**2 * reverse + (1 - alpha) * hard, atol=1e-5):
        raise ExerciseError(f"{name}: the KL divergence is the wrong way round: it is KL(teacher || student), the "
                            f"teacher's probabilities weigh the student's log-probabilities")
    unsoftened = F.kl_div(F.log_softmax(student / temperature, -1), F.softmax(teacher, -1), reduction="batchmean")
    if torch.allclose(out, alpha * temperature**2 * unsoftened + (1 - alpha) * hard, atol=1e-5):
        raise ExerciseError(f"{name}: soften the teacher's logits too: softmax(teacher_logits / T)")
    check_close(name, out, expected, rtol=1e-5, atol=1e-6,
                hint="F.kl_div(log_softmax(s / T), softmax(t / T), reduction='batchmean') * T**2, mixed with CE")


def check_int8_quantize(quantize: Callable[[torch.Tensor], tuple]) -> None:
    """Exercise 2: ``quantize(weight) -> (q, scale)``: symmetric per-tensor int8, ``q`` int8, ``weight ≈ q * scale``.

    ``scale = max|weight| / 127`` and ``q = round(weight / scale)`` in ``[-127, 127]``.
    """
    name = "int8_quantize"
    g = _generator(12)
    weight = torch.randn(16, 24, generator=g) * 0.05
    weight[3, 5] = -0.4  # the largest magnitude is negative: a scale from the max alone would miss it
    result = quantize(weight.clone())
    check_type(name, result, tuple)
    if len(result) != 2:
        raise ExerciseError(f"{name}: return two things, (q, scale); got {len(result)}")
    q, scale = result
    check_type(f"{name}: q", q, torch.Tensor)
    check_shape(f"{name}: q", q, tuple(weight.shape))
    if q.dtype != torch.int8:
        raise ExerciseError(f"{name}: q must be int8 (1 byte per weight), got {q.dtype}: convert with .to(torch.int8)")
    scale = float(scale)
    expected_scale = float(weight.abs().max()) / 127
    if abs(scale - float(weight.max()) / 127) < 1e-9:
        raise ExerciseError(f"{name}: the scale comes from the largest value; use the largest magnitude, |w|.max()")
    if abs(scale - float(weight.abs().max()) / 255) < 1e-9:
        raise ExerciseError(f"{name}: symmetric int8 uses [-127, 127]: scale = max|w| / 127, not / 255")
    if abs(scale - expected_scale) > 1e-6 * expected_scale:
        raise ExerciseError(f"{name}: scale is {scale / expected_scale:.3g}× the expected one: scale = max|w| / 127")
    expected_q = torch.tensor([[max(-127, min(127, round(float(w) / expected_scale))) for w in row]
                               for row in weight.tolist()], dtype=torch.int8)  # element by element
    error = (q.float() * scale - weight).abs().max().item()
    if error > expected_scale / 2 + 1e-7:
        raise ExerciseError(f"{name}: some weights are off by {error:.3g} > scale / 2 = {expected_scale / 2:.3g}: "
                            f"round to the nearest integer (torch.round), do not truncate")
    mismatched = int((q != expected_q).sum())
    if mismatched:
        raise ExerciseError(f"{name}: {mismatched} of {q.numel()} values differ from round(w / scale)")
    print(f"✓ {name}: correct")


def check_fedavg_average(average: Callable[[list, list], dict]) -> None:
    """Exercise 3: ``average(states, sizes) -> state``: FedAvg's mean of state dicts, client ``k`` weighing ``n_k / n``."""
    name = "fedavg_average"
    g = _generator(13)
    states = [{"weight": torch.randn(2, 3, generator=g), "bias": torch.randn(2, generator=g)} for _ in range(3)]
    sizes = [10, 30, 160]
    out = average([{k: v.clone() for k, v in s.items()} for s in states], list(sizes))
    check_type(name, out, dict)
    if set(out) != {"weight", "bias"}:
        raise ExerciseError(f"{name}: return a state dict with the same keys {sorted(states[0])}, got {sorted(out)}")
    total = sum(sizes)
    given, expected = [], []
    for key in ("weight", "bias"):
        weighted = torch.zeros_like(states[0][key])
        for size, state in zip(sizes, states):
            weighted += size / total * state[key]
        plain = sum(s[key] for s in states) / len(states)
        check_type(f"{name}[{key!r}]", out[key], torch.Tensor)
        check_shape(f"{name}[{key!r}]", out[key], tuple(weighted.shape))
        if torch.allclose(out[key].float(), plain, atol=1e-6):
            raise ExerciseError(f"{name}: every client weighs the same; weigh client k by n_k / n (its share of the "
                                f"examples)")
        given.append(out[key].reshape(-1))
        expected.append(weighted.reshape(-1))
    check_close(name, torch.cat(given), torch.cat(expected), rtol=1e-5, atol=1e-6,
                hint="sum over clients of sizes[k] / sum(sizes) * states[k][key]")
