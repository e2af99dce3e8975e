"""Chapter 2 checkers: the solutions pass, known-wrong answers are rejected with a message that helps."""

import pytest
import torch

from utils.exercises import ExerciseError
from utils.exercises import neural_networks as ex


def _relu_mlp_gradients(x, y, W1, b1, W2, b2, derivative=lambda H, A: (H > 0).to(H.dtype), divide=True):
    H = x @ W1.T + b1  # (N, hidden)
    A = torch.relu(H)
    Z = A @ W2.T + b2  # (N, C)
    dZ = torch.softmax(Z, dim=1)
    dZ[torch.arange(len(y)), y] -= 1
    if divide:
        dZ = dZ / len(y)
    dH = (dZ @ W2) * derivative(H, A)
    return dH.T @ x, dH.sum(0), dZ.T @ A, dZ.sum(0)


def test_relu_mlp_gradients():
    ex.check_relu_mlp_gradients(_relu_mlp_gradients)
    with pytest.raises(ExerciseError, match="dW1: not close enough.*ReLU passes the gradient"):
        ex.check_relu_mlp_gradients(lambda *a: _relu_mlp_gradients(*a, derivative=lambda H, A: 1 - A**2))  # tanh's
    with pytest.raises(ExerciseError, match="dW1: not close enough"):
        ex.check_relu_mlp_gradients(lambda *a: _relu_mlp_gradients(*a, divide=False))  # sum instead of mean
    with pytest.raises(ExerciseError, match=r"expected a tuple \(dW1, db1, dW2, db2\)"):
        ex.check_relu_mlp_gradients(lambda *a: _relu_mlp_gradients(*a)[0])
    with pytest.raises(ExerciseError, match="expected a function"):
        ex.check_relu_mlp_gradients(0.25)


def test_bce_with_logits():
    def stable(z, y):
        return (z.clamp_min(0) - z * y + torch.log1p(torch.exp(-z.abs()))).mean()

    def naive(z, y):
        p = 1 / (1 + torch.exp(-z))
        return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()

    ex.check_bce_with_logits(stable)
    with pytest.raises(ExerciseError, match=r"logits near ±1000\): your answer contains NaN or infinity.*max\(z, 0\)"):
        ex.check_bce_with_logits(naive)
    with pytest.raises(ExerciseError, match="small logits.*not close enough"):
        ex.check_bce_with_logits(lambda z, y: (z.clamp_min(0) - z * y).mean())  # forgot the log term


def test_nesterov_step():
    def torch_convention(w, grad, velocity, lr, momentum):
        velocity = momentum * velocity + grad
        return w - lr * (grad + momentum * velocity), velocity

    def in_place(w, grad, velocity, lr, momentum):
        velocity.mul_(momentum).add_(grad)
        w.sub_(lr * (grad + momentum * velocity))
        return w, velocity

    def plain_momentum(w, grad, velocity, lr, momentum):
        velocity = momentum * velocity + grad
        return w - lr * velocity, velocity

    def textbook(w, grad, velocity, lr, momentum):  # learning rate inside the velocity
        velocity = momentum * velocity + lr * grad
        return w - (lr * grad + momentum * velocity), velocity

    ex.check_nesterov_step(torch_convention)
    ex.check_nesterov_step(in_place)
    with pytest.raises(ExerciseError, match="over 30 steps: not close enough.*w − α \\(g \\+ μ v\\)"):
        ex.check_nesterov_step(plain_momentum)
    with pytest.raises(ExerciseError, match="velocity over 30 steps: not close enough"):
        ex.check_nesterov_step(textbook)
    with pytest.raises(ExerciseError, match=r"expected a tuple \(new_w, new_velocity\), got Tensor"):
        ex.check_nesterov_step(lambda w, g, v, lr, mu: w - lr * g)


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
