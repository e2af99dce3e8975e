"""Chapter 10's privacy tools: FedAvg reaches the centralised optimum, the attack's AUC, DP-SGD reports epsilon."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from utils.privacy import (
    DPResult,
    FedAvgResult,
    average_states,
    cross_entropy_loss,
    dp_train,
    fedavg,
    local_train,
    membership_auc,
    per_example_losses,
)


def _mse(model, batch):
    inputs, targets = batch
    return F.mse_loss(model(inputs), targets), len(targets)


def _regression_clients():
    """Three clients whose inputs sit in different places (non-identical data), one linear truth plus noise."""
    g = torch.Generator().manual_seed(0)
    truth = torch.tensor([[1.0, -2.0, 0.5]])
    clients = []
    for k, n in enumerate((30, 50, 80)):
        x = torch.randn(n, 3, generator=g) + k
        clients.append((x, x @ truth.T + 0.3 + 0.1 * torch.randn(n, 1, generator=g)))
    return clients


def test_fedavg_reaches_the_least_squares_optimum_of_the_pooled_data():
    clients = _regression_clients()
    x, y = torch.cat([c[0] for c in clients]), torch.cat([c[1] for c in clients])
    optimum = torch.linalg.lstsq(torch.cat([x, torch.ones(len(x), 1)], 1), y).solution.ravel()
    torch.manual_seed(0)
    result = fedavg(torch.nn.Linear(3, 1), clients, _mse, rounds=300, local_steps=1, lr=0.05)
    found = torch.cat([result.model.weight.ravel(), result.model.bias]).detach()
    assert isinstance(result, FedAvgResult)
    assert (found - optimum).abs().max() < 1e-3  # one full-batch step per round: gradient descent on the pool
    drifting = fedavg(torch.nn.Linear(3, 1), clients, _mse, rounds=150, local_steps=5, lr=0.02).model
    found = torch.cat([drifting.weight.ravel(), drifting.bias]).detach()
    assert (found - optimum).abs().max() < 2e-2  # five local steps: close, the clients pull apart a little


def test_fedavg_logistic_regression_matches_centralised_training():
    g = torch.Generator().manual_seed(1)
    clients = []
    for shift in (-1.0, 0.0, 2.0):  # each client sees a different region of the inputs
        x = torch.randn(200, 2, generator=g) + shift
        clients.append((x, (x[:, 0] - 0.5 * x[:, 1] > 0.3).long()))
    x, y = torch.cat([c[0] for c in clients]), torch.cat([c[1] for c in clients])
    central = LogisticRegression(C=1e6, max_iter=5000).fit(x.numpy(), y.numpy())
    result = fedavg(torch.nn.Linear(2, 2), clients, cross_entropy_loss, rounds=200, local_steps=1, lr=0.5,
                    eval_fn=lambda m: float((m(x).argmax(1) == y).float().mean()))
    assert len(result.metric) == 200
    assert result.metric[-1] >= central.score(x.numpy(), y.numpy()) - 0.01


def test_average_states_weighs_by_size_and_keeps_integer_buffers():
    a = {"w": torch.tensor([0.0, 2.0]), "steps": torch.tensor(3)}
    b = {"w": torch.tensor([4.0, 2.0]), "steps": torch.tensor(9)}
    out = average_states([a, b], [3, 1])
    assert torch.equal(out["w"], torch.tensor([1.0, 2.0])) and int(out["steps"]) == 3


def test_local_train_lowers_the_loss():
    x, y = _regression_clients()[0]
    model = torch.nn.Linear(3, 1)
    history = local_train(model, (x, y), _mse, steps=50, lr=0.05, batch_size=8, optimizer="adamw")
    assert np.mean(history.train_loss[-5:]) < 0.5 * np.mean(history.train_loss[:5])


def test_membership_auc_equals_sklearn_and_is_half_when_nothing_leaks():
    rng = np.random.default_rng(0)
    members, others = rng.exponential(0.5, 300), rng.exponential(1.0, 200)
    members[:10] = others[:10]  # ties count one half
    expected = roc_auc_score(np.r_[np.ones(300), np.zeros(200)], -np.r_[members, others])
    assert membership_auc(members, others) == pytest.approx(expected, abs=1e-12)
    same = rng.exponential(1.0, 4000)
    assert membership_auc(same[:2000], same[2000:]) == pytest.approx(0.5, abs=0.03)


def test_per_example_losses_are_minus_log_probabilities():
    probs = np.array([[0.9, 0.1], [0.25, 0.75]])
    assert per_example_losses(probs, np.array([0, 0])) == pytest.approx([-np.log(0.9), -np.log(0.25)])


def test_dp_sgd_runs_and_more_noise_gives_a_smaller_epsilon():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1000, 5, generator=g)
    y = (x[:, 0] > 0).long()
    results = {}
    for noise in (0.0, 0.8, 2.0):
        torch.manual_seed(0)
        model = torch.nn.Linear(5, 2)
        results[noise] = dp_train(model, (x, y), noise, max_grad_norm=1.0, batch_size=50, epochs=2, lr=0.5)
    assert all(isinstance(r, DPResult) and r.steps == 40 for r in results.values())
    assert results[0.0].epsilon == float("inf")
    assert np.isfinite(results[0.8].epsilon) and results[2.0].epsilon < results[0.8].epsilon
    with torch.no_grad():
        accuracy = (results[0.8].model(x).argmax(1) == y).float().mean().item()
    assert accuracy > 0.8  # a private model still learns a clean rule
    assert results[0.8].model(x).requires_grad  # the trained module works as an ordinary one afterwards
