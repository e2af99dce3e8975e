"""Chapter 2 checkers: the solutions pass, known-wrong answers are rejected with a message that helps."""

import pytest
import torch

from utils.exercises import ExerciseError
from utils.exercises import neural_networks as ex


def test_sigmoid_derivative():
    ex.check_sigmoid_derivative(lambda x: torch.sigmoid(x) * (1 - torch.sigmoid(x)))
    with pytest.raises(ExerciseError, match="not close enough.*Hint"):
        ex.check_sigmoid_derivative(lambda x: torch.sigmoid(x) * (1 + torch.sigmoid(x)))
    with pytest.raises(ExerciseError, match=r"expected shape \(97, 3\), got \(97,\)"):
        ex.check_sigmoid_derivative(lambda x: torch.sigmoid(x[:, 0]) * (1 - torch.sigmoid(x[:, 0])))
    with pytest.raises(ExerciseError, match="expected a function"):
        ex.check_sigmoid_derivative(0.25)


def test_stable_logsumexp():
    def stable(x):
        m = x.max(dim=-1, keepdim=True).values
        return (m + (x - m).exp().sum(dim=-1, keepdim=True).log()).squeeze(-1)

    ex.check_stable_logsumexp(stable)
    with pytest.raises(ExerciseError, match="NaN or infinity.*shift by the row's maximum"):
        ex.check_stable_logsumexp(lambda x: x.exp().sum(dim=-1).log())  # naive: overflows
    with pytest.raises(ExerciseError, match="not close enough"):
        ex.check_stable_logsumexp(lambda x: x.max(dim=-1).values)  # the max alone is only an approximation


def test_momentum_step():
    def torch_convention(w, grad, velocity, lr, momentum):
        velocity = momentum * velocity + grad
        return w - lr * velocity, velocity

    def in_place(w, grad, velocity, lr, momentum):
        velocity.mul_(momentum).add_(grad)
        w.sub_(lr * velocity)
        return w, velocity

    def textbook(w, grad, velocity, lr, momentum):  # v ← γv + αg: same weights, velocity α times larger
        velocity = momentum * velocity + lr * grad
        return w - velocity, velocity

    ex.check_momentum_step(torch_convention)
    ex.check_momentum_step(in_place)
    with pytest.raises(ExerciseError, match="velocity over 30 steps: not close enough"):
        ex.check_momentum_step(textbook)
    with pytest.raises(ExerciseError, match="w over 30 steps: not close enough"):
        ex.check_momentum_step(lambda w, g, v, lr, mu: (w - lr * g, mu * v + g))  # ignores the velocity
    with pytest.raises(ExerciseError, match=r"expected a tuple \(new_w, new_velocity\), got Tensor"):
        ex.check_momentum_step(lambda w, g, v, lr, mu: w - lr * g)


def test_dropout():
    def inverted(x, p, training):
        if not training:
            return x
        keep = (torch.rand_like(x) >= p).to(x.dtype)
        return x * keep / (1 - p)

    ex.check_dropout(inverted)
    with pytest.raises(ExerciseError, match="scale of the kept elements.*1/\\(1−p\\)"):
        ex.check_dropout(lambda x, p, training: x * (torch.rand_like(x) >= p) if training else x)
    with pytest.raises(ExerciseError, match="fraction of zeros"):
        ex.check_dropout(lambda x, p, training: x * (torch.rand_like(x) >= 1 - p) / p if training else x)
    with pytest.raises(ExerciseError, match="evaluation changes nothing"):
        ex.check_dropout(lambda x, p, training: x * (1 - p))
