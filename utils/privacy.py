"""Privacy: training without pooling the data, what a model gives away, and what a guarantee costs (chapter 10).

- :func:`fedavg` is federated averaging (McMahan et al., 2017) from scratch: each round every client trains a copy
  of the global model on its own data for a few steps (``utils.training.fit``), and the server replaces the global
  weights by the clients' weights averaged with weights ``n_k / n`` (:func:`average_states`); no example leaves
  its client. :func:`local_train` is the training both the clients and a centralised run use.
- :func:`per_example_losses` and :func:`membership_auc`: the loss-threshold membership-inference attack (Yeom et
  al., 2018): a model that fits its training examples better than unseen ones gives away who was in the training
  set; the attack's ROC-AUC is 0.5 when it cannot tell.
- :func:`dp_train` trains with DP-SGD (Abadi et al., 2016) through ``opacus``: every example's gradient clipped to
  ``max_grad_norm``, Gaussian noise of ``noise_multiplier * max_grad_norm`` added to their sum, batches drawn by
  Poisson sampling; the accountant gives the ``(epsilon, delta)`` guarantee of the whole run.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from utils.checks import check_callable, check_choice, check_int, check_number, check_tensor, describe, fail

__all__ = [
    "cross_entropy_loss", "local_train", "average_states", "FedAvgResult", "fedavg", "per_example_losses",
    "membership_auc", "DPResult", "dp_train",
]

OPTIMIZERS = ("sgd", "adamw")


def cross_entropy_loss(model: nn.Module, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, int]:
    """``utils.training.fit``'s ``loss_fn`` for ``batch = (inputs (B, ...), labels int64 (B,))``: ``(mean CE, B)``."""
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        fail(f"batch must be (inputs, labels), got {describe(batch)}", TypeError)
    inputs, labels = batch
    check_tensor("labels", labels, ndim=1, dtype="int")
    return F.cross_entropy(model(inputs), labels), len(labels)


def _check_data(name: str, data) -> tuple[Tensor, Tensor]:
    if not (isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, Tensor) for t in data)):
        fail(f"{name} must be a pair of tensors (inputs, targets), got {describe(data)}", TypeError)
    inputs, targets = data
    if len(inputs) != len(targets) or len(inputs) == 0:
        fail(f"{name}: inputs and targets must have the same non-zero number of rows, got {len(inputs)} and "
             f"{len(targets)}", ValueError)
    return inputs, targets


def _batches(inputs: Tensor, targets: Tensor, batch_size: int | None):
    if batch_size is None or batch_size >= len(inputs):
        return lambda: (inputs, targets)  # full-batch gradient descent
    return lambda: (lambda rows: (inputs[rows], targets[rows]))(torch.randint(len(inputs), (batch_size,)))


def local_train(model: nn.Module, data: tuple[Tensor, Tensor], loss_fn: Callable, steps: int, lr: float,
                batch_size: int | None = None, optimizer: str = "sgd"):
    """Train ``model`` in place on ``data = (inputs, targets)`` for ``steps`` steps through ``utils.training.fit``.

    A fresh optimizer (``"sgd"`` or ``"adamw"``, no weight decay) at the constant rate ``lr``, no clipping; batches of
    ``batch_size`` rows drawn with replacement (torch's RNG), or the whole data when ``None``. Returns the history.
    """
    from utils.training import TrainConfig, fit

    if not isinstance(model, nn.Module):
        fail(f"model must be an nn.Module, got {describe(model)}", TypeError)
    inputs, targets = _check_data("data", data)
    check_callable("loss_fn", loss_fn, hint="a function (model, batch) -> (loss, n), e.g. cross_entropy_loss")
    steps = check_int("steps", steps, minimum=1)
    lr = check_number("lr", lr, above=0.0)
    if batch_size is not None:
        check_int("batch_size", batch_size, minimum=1)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    config = TrainConfig(max_steps=steps, lr=lr, schedule="constant", weight_decay=0.0, clip_grad_norm=None,
                         device="cpu", progress=False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=lr) if optimizer == "sgd" else torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    return fit(model, loss_fn, _batches(inputs, targets, batch_size), config, optimizer=opt)


def average_states(states: Sequence[dict[str, Tensor]], weights: Sequence[float]) -> dict[str, Tensor]:
    """``sum_k w_k * state_k / sum_k w_k`` for every floating tensor of the state dicts (others from the first)."""
    if isinstance(states, dict) or not isinstance(states, Sequence) or not states:
        fail(f"states must be a non-empty list of state dicts, got {describe(states)}", TypeError)
    if not all(isinstance(s, dict) for s in states) or any(s.keys() != states[0].keys() for s in states):
        fail("states must be state dicts of the same model (the same keys)", ValueError, "use model.state_dict()")
    weights = [check_number("weights[k]", w, minimum=0.0) for w in weights]
    if len(weights) != len(states) or sum(weights) == 0:
        fail(f"weights must hold one non-negative number per state ({len(states)}), not all 0, got {weights}",
             ValueError, "FedAvg weighs each client by its number of examples")
    total = sum(weights)
    out = {}
    for key, first in states[0].items():
        if first.is_floating_point():
            out[key] = sum(w / total * s[key] for w, s in zip(weights, states))
        else:
            out[key] = first.clone()
    return out


@dataclass
class FedAvgResult:
    """The global model after the last round and ``metric[r]``, ``eval_fn(global model)`` after round ``r + 1``."""

    model: nn.Module
    metric: list[float] = field(default_factory=list)


def fedavg(model: nn.Module, clients: Sequence[tuple[Tensor, Tensor]], loss_fn: Callable, rounds: int,
           local_steps: int, lr: float, batch_size: int | None = None, optimizer: str = "sgd",
           eval_fn: Callable[[nn.Module], float] | None = None, seed: int = 0) -> FedAvgResult:
    """Federated averaging: ``rounds`` rounds of :func:`local_train` on every client, then :func:`average_states`.

    ``clients`` is a list of ``(inputs, targets)``, one per client; the client weights are their row counts. The
    global model starts as a copy of ``model`` (left untouched). With ``local_steps=1`` and full batches a round is
    one step of gradient descent on the pooled data; more local steps talk less but let clients drift apart.
    """
    if not isinstance(model, nn.Module):
        fail(f"model must be an nn.Module, got {describe(model)}", TypeError)
    if not isinstance(clients, Sequence) or isinstance(clients, tuple) and len(clients) == 2 and isinstance(clients[0], Tensor):
        fail(f"clients must be a list of (inputs, targets) pairs, one per client, got {describe(clients)}", TypeError,
             "one client's data goes in a list: [(inputs, targets)]")
    if not clients:
        fail("clients must hold at least one (inputs, targets) pair", ValueError)
    clients = [_check_data(f"clients[{k}]", c) for k, c in enumerate(clients)]
    rounds, local_steps = check_int("rounds", rounds, minimum=1), check_int("local_steps", local_steps, minimum=1)
    if eval_fn is not None:
        check_callable("eval_fn", eval_fn, hint="a function model -> float, or None")
    torch.manual_seed(check_int("seed", seed, minimum=0))
    global_model = copy.deepcopy(model)
    sizes = [len(c[0]) for c in clients]
    result = FedAvgResult(global_model)
    for _ in range(rounds):
        states = []
        for data in clients:
            local = copy.deepcopy(global_model)
            local_train(local, data, loss_fn, local_steps, lr, batch_size, optimizer)
            states.append({k: v.detach() for k, v in local.state_dict().items()})
        global_model.load_state_dict(average_states(states, sizes))
        if eval_fn is not None:
            global_model.eval()
            with torch.no_grad():
                result.metric.append(float(eval_fn(global_model)))
    return result


def per_example_losses(probs, labels) -> np.ndarray:
    """``-log probs[i, labels[i]]`` for every row: ``(N, C)`` probabilities and ``(N,)`` int labels -> ``(N,)``."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels)
    if probs.ndim != 2 or labels.shape != (len(probs),):
        fail(f"probs must be (N, C) and labels (N,), got {probs.shape} and {labels.shape}", ValueError)
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= probs.shape[1]:
        fail(f"labels must be integers in [0, {probs.shape[1]}), got dtype {labels.dtype}", ValueError)
    return -np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0))


def membership_auc(member_losses, nonmember_losses) -> float:
    """ROC-AUC of the attack "a lower loss means a training example": ``P(member loss < non-member loss)``.

    Ties count one half (the Mann-Whitney statistic over all pairs, from the ranks); equals
    ``sklearn.metrics.roc_auc_score`` with members as positives scored by ``-loss``. 0.5: nothing leaks.
    """
    from scipy.stats import rankdata

    members, others = (np.asarray(x, dtype=np.float64).ravel() for x in (member_losses, nonmember_losses))
    for name, values in (("member_losses", members), ("nonmember_losses", others)):
        if values.size == 0 or not np.all(np.isfinite(values)):
            fail(f"{name} must be a non-empty array of finite losses, got {values.size} values", ValueError)
    ranks = rankdata(np.concatenate([-members, -others]))  # a higher score (lower loss) ranks higher
    n_m, n_o = len(members), len(others)
    return float((ranks[:n_m].sum() - n_m * (n_m + 1) / 2) / (n_m * n_o))


@dataclass
class DPResult:
    """The trained module (weights of ``model``, trained in place), ``epsilon`` at ``delta``, and the history."""

    model: nn.Module
    epsilon: float
    delta: float
    history: object
    steps: int


def dp_train(model: nn.Module, data: tuple[Tensor, Tensor], noise_multiplier: float, max_grad_norm: float = 1.0,
             batch_size: int = 64, epochs: float = 1.0, lr: float = 0.1, delta: float = 1e-5,
             loss_fn: Callable = cross_entropy_loss, seed: int = 0) -> DPResult:
    """DP-SGD through ``opacus``: ``model`` (trained in place) on ``data = (inputs, targets)``, SGD at rate ``lr``.

    Per-example gradients clipped to ``max_grad_norm``, noise ``N(0, (noise_multiplier * max_grad_norm)^2)`` on
    their sum, batches of expected size ``batch_size`` by Poisson sampling, ``epochs`` passes of steps, the loop
    ``utils.training.fit``. ``epsilon`` from opacus' RDP accountant at ``delta`` (``inf`` when the noise is 0).
    """
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    from utils.training import TrainConfig, fit

    if not isinstance(model, nn.Module):
        fail(f"model must be an nn.Module, got {describe(model)}", TypeError)
    inputs, targets = _check_data("data", data)
    noise_multiplier = check_number("noise_multiplier", noise_multiplier, minimum=0.0)
    max_grad_norm = check_number("max_grad_norm", max_grad_norm, above=0.0)
    batch_size = check_int("batch_size", batch_size, minimum=1, maximum=len(inputs))
    epochs = check_number("epochs", epochs, above=0.0)
    lr = check_number("lr", lr, above=0.0)
    delta = check_number("delta", delta, above=0.0, maximum=0.5, hint="delta should be below 1 / (examples)")
    check_callable("loss_fn", loss_fn)
    torch.manual_seed(check_int("seed", seed, minimum=0))
    loader = DataLoader(TensorDataset(inputs, targets), batch_size=batch_size, shuffle=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    steps = max(1, round(epochs * len(inputs) / batch_size))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # opacus' notes on secure RNG and on full backward hooks
        engine = PrivacyEngine(accountant="rdp")
        private, dp_optimizer, dp_loader = engine.make_private(
            module=model, optimizer=optimizer, data_loader=loader, noise_multiplier=noise_multiplier,
            max_grad_norm=max_grad_norm, poisson_sampling=True)
        config = TrainConfig(max_steps=steps, lr=lr, schedule="constant", weight_decay=0.0, clip_grad_norm=None,
                             device="cpu", progress=False)
        history = fit(private, loss_fn, dp_loader, config, optimizer=dp_optimizer)
        epsilon = float("inf") if noise_multiplier == 0 else float(engine.get_epsilon(delta))
    model.eval()
    return DPResult(model, epsilon, delta, history, steps)
