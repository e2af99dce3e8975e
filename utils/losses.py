"""Loss functions written from their formulas: a stable softmax and log-softmax, cross-entropy and mean squared error.

Built in chapter 2 and pinned to ``torch.nn.functional`` by the tests. The trick that keeps cross-entropy finite
at any logit size is the log-sum-exp identity

    log Σ_j exp(z_j) = m + log Σ_j exp(z_j − m),   m = max_j z_j,

so no ``exp`` ever sees a positive argument. The log-softmax is computed as ``(z − m) − log Σ_j exp(z_j − m)``:
``z − m`` is exact in floating point when ``z`` and ``m`` are close (Sterbenz's lemma), whereas forming
``m + log Σ …`` first rounds at the scale of ``m`` and loses digits when the logits share a large offset.
"""

from __future__ import annotations

import torch

__all__ = ["logsumexp", "log_softmax", "softmax", "cross_entropy", "mse_loss"]


def _check_floating(name: str, x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype (e.g. torch.float32), got {x.dtype}")


def _shift(x: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x − m, m)`` with ``m`` the maximum along ``dim`` (kept), replaced by 0 where it is not finite."""
    m = x.amax(dim=dim, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m)).detach()  # the shift is a constant for autograd
    return x - m, m


def logsumexp(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``log Σ exp(x)`` along ``dim``, computed stably by shifting with the maximum.

    ``x``: a floating tensor of any shape; returns the same shape without ``dim``. A slice that is all ``-inf``
    gives ``-inf`` (not NaN), as ``torch.logsumexp`` does.
    """
    _check_floating("x", x)
    shifted, m = _shift(x, dim)
    return (m + torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))).squeeze(dim)


def log_softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``log softmax(x)`` along ``dim``: ``(x − m) − log Σ exp(x − m)``; any shape, floating dtype; returns ``x``'s shape.

    Subtracting the maximum ``m`` first keeps full precision when all entries share a large offset (e.g. +100).
    A slice that is all ``-inf`` gives NaN, as ``torch.log_softmax`` does.
    """
    _check_floating("x", x)
    shifted, _ = _shift(x, dim)
    return shifted - torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``softmax(x) = exp(x − m) / Σ exp(x − m)`` along ``dim``, finite for logits of any size; returns ``x``'s shape.

    Every exponent is ≤ 0 and the sum is ≥ 1, so nothing overflows. A slice that is all ``-inf`` gives NaN, as
    ``torch.softmax`` does.
    """
    _check_floating("x", x)
    shifted, _ = _shift(x, dim)
    exps = torch.exp(shifted)
    return exps / exps.sum(dim=dim, keepdim=True)


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Mean cross-entropy ``−Σ_c y_c log softmax(logits)_c`` over the batch, equal to ``F.cross_entropy``.

    ``logits``: ``(..., C)`` floating, classes last (e.g. ``(B, C)`` or ``(B, T, vocab_size)``).
    ``targets``: either class indices ``(...)`` int64 (entries equal to ``ignore_index`` are left out of the mean),
    or class probabilities with the same shape as ``logits`` (floating). Returns a scalar tensor.
    """
    _check_floating("logits", logits)
    if logits.dim() < 1:
        raise ValueError(f"logits must have shape (..., C) with at least one dimension, got shape {tuple(logits.shape)}")
    if not isinstance(targets, torch.Tensor):
        raise TypeError(f"targets must be a torch.Tensor, got {type(targets).__name__}")
    log_probs = log_softmax(logits, dim=-1)
    if targets.is_floating_point():  # soft targets: probabilities per class
        if targets.shape != logits.shape:
            raise ValueError(
                f"probability targets must have the logits' shape {tuple(logits.shape)}, got {tuple(targets.shape)}"
            )
        return -(targets * log_probs).sum(dim=-1).mean()
    if targets.dtype != torch.int64:
        raise TypeError(f"class-index targets must have dtype torch.int64, got {targets.dtype}")
    if targets.shape != logits.shape[:-1]:
        raise ValueError(
            f"class-index targets must have shape {tuple(logits.shape[:-1])} (logits' shape without the class "
            f"dimension), got {tuple(targets.shape)}"
        )
    keep = targets != ignore_index
    picked = log_probs.gather(-1, torch.where(keep, targets, 0).unsqueeze(-1)).squeeze(-1)  # (...) log p of the target
    return -(picked * keep).sum() / keep.sum()


def mse_loss(predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error ``(1/n) Σ (y − ŷ)²`` over every element, equal to ``F.mse_loss``.

    ``predictions`` and ``targets``: floating tensors of the same shape; returns a scalar tensor.
    """
    _check_floating("predictions", predictions)
    _check_floating("targets", targets)
    if predictions.shape != targets.shape:
        raise ValueError(
            f"predictions and targets must have the same shape: predictions {tuple(predictions.shape)}, "
            f"targets {tuple(targets.shape)}"
        )
    return ((targets - predictions) ** 2).mean()
