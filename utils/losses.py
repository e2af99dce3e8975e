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

from utils.checks import check_int, check_index_range, check_same_shape, check_tensor, describe, fail

__all__ = ["logsumexp", "log_softmax", "softmax", "cross_entropy", "mse_loss"]


def _check_floating(name: str, x, dim: int | None = None) -> None:
    """Raise unless ``x`` is a floating tensor and ``dim`` (when given) one of its dimensions (metadata only)."""
    check_tensor(name, x, dtype="float")
    if dim is not None:
        check_int("dim", dim)
        if not -max(x.dim(), 1) <= dim < max(x.dim(), 1):
            fail(f"dim must be a dimension of {name}, in [{-max(x.dim(), 1)}, {max(x.dim(), 1)}), got {dim} for "
                 f"{describe(x)}", ValueError, "dim=-1 is the last dimension, the classes of logits (..., C)")


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
    _check_floating("x", x, dim)
    shifted, m = _shift(x, dim)
    return (m + torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))).squeeze(dim)


def log_softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``log softmax(x)`` along ``dim``: ``(x − m) − log Σ exp(x − m)``; any shape, floating dtype; returns ``x``'s shape.

    Subtracting the maximum ``m`` first keeps full precision when all entries share a large offset (e.g. +100).
    A slice that is all ``-inf`` gives NaN, as ``torch.log_softmax`` does.
    """
    _check_floating("x", x, dim)
    shifted, _ = _shift(x, dim)
    return shifted - torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``softmax(x) = exp(x − m) / Σ exp(x − m)`` along ``dim``, finite for logits of any size; returns ``x``'s shape.

    Every exponent is ≤ 0 and the sum is ≥ 1, so nothing overflows. A slice that is all ``-inf`` gives NaN, as
    ``torch.softmax`` does.
    """
    _check_floating("x", x, dim)
    shifted, _ = _shift(x, dim)
    exps = torch.exp(shifted)
    return exps / exps.sum(dim=dim, keepdim=True)


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Mean cross-entropy ``−Σ_c y_c log softmax(logits)_c`` over the batch, equal to ``F.cross_entropy``.

    ``logits``: ``(..., C)`` floating, classes last (e.g. ``(B, C)`` or ``(B, T, vocab_size)``).
    ``targets``: either class indices ``(...)`` int64 (entries equal to ``ignore_index`` are left out of the mean),
    or class probabilities with the same shape as ``logits`` (floating). Returns a scalar tensor; a batch whose
    targets are all ``ignore_index`` gives ``nan`` (0 / 0), as ``F.cross_entropy`` does.
    """
    _check_cross_entropy_args(logits, targets, ignore_index)
    log_probs = log_softmax(logits, dim=-1)
    if targets.is_floating_point():  # soft targets: probabilities per class
        return -(targets * log_probs).sum(dim=-1).mean()
    keep = targets != ignore_index
    safe_targets = torch.where(keep, targets, 0)  # (...) class ids, 0 where ignored
    check_index_range("targets", safe_targets, logits.shape[-1], "n_classes",
                      hint=f"class ids count from 0 to C − 1 = {logits.shape[-1] - 1}; ignore_index={ignore_index} "
                           "marks a target that is left out")  # one min and one max: a gather index error otherwise
    picked = log_probs.gather(-1, safe_targets.unsqueeze(-1)).squeeze(-1)  # (...) log p of the target
    return -(picked * keep).sum() / keep.sum()  # all targets ignored: 0 / 0 = nan, as F.cross_entropy


def _check_cross_entropy_args(logits, targets, ignore_index) -> None:
    """Types, dtypes and shapes of :func:`cross_entropy`'s arguments (metadata only)."""
    check_tensor("logits", logits, min_ndim=1, dtype="float",
                 hint="convert it with .float(); logits are the model's raw scores (..., C), classes last")
    check_tensor("targets", targets, hint="class ids: torch.tensor([...]), dtype torch.long")
    check_int("ignore_index", ignore_index, hint="the class id of targets to leave out, e.g. -100")
    if targets.is_floating_point():
        if targets.shape != logits.shape:
            fail(f"targets of a float dtype are read as class probabilities and must have logits' shape "
                 f"{tuple(logits.shape)}, got {describe(targets)}", ValueError,
                 "class ids must be an int tensor: convert them with .long()")
        return
    if targets.dtype != torch.int64:
        fail(f"targets (class ids) must be a torch.int64 tensor, got {describe(targets)}", TypeError,
             "convert them with .long()")
    if targets.shape != logits.shape[:-1]:
        fail(f"targets (class ids) must have logits' shape without the class dimension, {tuple(logits.shape[:-1])}, "
             f"got {describe(targets)} for logits {describe(logits)}", ValueError,
             "one class id per row of logits: do logits and targets come from the same batch?")


def mse_loss(predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error ``(1/n) Σ (y − ŷ)²`` over every element, equal to ``F.mse_loss``.

    ``predictions`` and ``targets``: floating tensors of the same shape; returns a scalar tensor.
    """
    _check_floating("predictions", predictions)
    _check_floating("targets", targets)
    check_same_shape("predictions", predictions, "targets", targets,
                     hint="one target per prediction: reshape one of them, e.g. predictions.squeeze(-1)")
    return ((targets - predictions) ** 2).mean()
