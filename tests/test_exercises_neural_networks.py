"""Chapter 2 checkers: the solutions pass, known-wrong answers are rejected with a message that helps."""

import pytest
import torch

from utils.exercises import ExerciseError
from utils.exercises import neural_networks as ex


def _deep_relu_mlp_gradients(x, y, weights, biases, derivative=lambda z: (z > 0).to(z.dtype), divide=True, depth_limit=None):
    inputs, pre_activations, h = [], [], x  # per layer: its input h_{l-1} and its output z_l
    for W, b in zip(weights, biases):
        inputs.append(h)
        z = h @ W.T + b
        pre_activations.append(z)
        h = torch.relu(z)
    dz = torch.softmax(pre_activations[-1], dim=1)  # ∂L/∂logits, (N, C)
    dz[torch.arange(len(y)), y] -= 1
    if divide:
        dz = dz / len(y)
    weight_grads, bias_grads = [], []
    for layer in reversed(range(len(weights))):
        weight_grads.insert(0, dz.T @ inputs[layer])
        bias_grads.insert(0, dz.sum(0))
        if layer > 0:
            dz = (dz @ weights[layer]) * derivative(pre_activations[layer - 1])
    if depth_limit is not None:  # a wrong answer that only handles the last depth_limit layers
        weight_grads[:-depth_limit] = [torch.zeros_like(w) for w in weights[:-depth_limit]]
    return weight_grads, bias_grads


def test_deep_relu_mlp_gradients():
    ex.check_deep_relu_mlp_gradients(_deep_relu_mlp_gradients)
    with pytest.raises(ExerciseError, match="1 hidden layer: dW1: not close enough.*ReLU passes the gradient"):
        ex.check_deep_relu_mlp_gradients(lambda *a: _deep_relu_mlp_gradients(*a, derivative=lambda z: 1 - torch.tanh(z) ** 2))
    with pytest.raises(ExerciseError, match="1 hidden layer: dW1: not close enough"):
        ex.check_deep_relu_mlp_gradients(lambda *a: _deep_relu_mlp_gradients(*a, divide=False))  # sum instead of mean
    with pytest.raises(ExerciseError, match="2 hidden layers: dW1: not close enough"):
        ex.check_deep_relu_mlp_gradients(lambda *a: _deep_relu_mlp_gradients(*a, depth_limit=2))  # two-layer formulas only
    with pytest.raises(ExerciseError, match=r"expected a tuple \(weight_grads, bias_grads\)"):
        ex.check_deep_relu_mlp_gradients(lambda *a: _deep_relu_mlp_gradients(*a)[0][0])
    with pytest.raises(ExerciseError, match="2 hidden layers: expected a list of 3 weight gradients.*length 2"):
        ex.check_deep_relu_mlp_gradients(lambda *a: (_deep_relu_mlp_gradients(*a)[0][-2:], _deep_relu_mlp_gradients(*a)[1]))
    with pytest.raises(ExerciseError, match=r"dW1: expected shape \(7, 5\), got \(5, 7\)"):
        ex.check_deep_relu_mlp_gradients(lambda *a: ([g.T for g in _deep_relu_mlp_gradients(*a)[0]], _deep_relu_mlp_gradients(*a)[1]))
    with pytest.raises(ExerciseError, match="deep_relu_mlp_gradients must be a function, got 0.25"):
        ex.check_deep_relu_mlp_gradients(0.25)


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
