"""Language-model batches, masking and losses: what chapter 6 feeds the training loop (``utils.training.fit``).

- :func:`get_batch` — random windows of a token array (a ``np.memmap`` of a corpus): ``(inputs, targets)``,
  the targets shifted by one;
- :func:`causal_lm_loss` — next-token cross-entropy of a GPT, the ``loss_fn(model, batch) -> (loss, n)`` of ``fit``;
- :func:`mask_tokens` — BERT's 80/10/10 masking (Devlin et al. 2019): ``(inputs, labels)``;
- :func:`masked_lm_loss` — cross-entropy at the masked positions of an encoder, with the tied output layer.

Labels equal to -100 are ignored, as in ``torch.nn.functional.cross_entropy`` and ``transformers``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from utils.checks import check_int, check_number, check_same_shape, check_tensor, describe, fail
from utils.env import get_device

__all__ = ["get_batch", "causal_lm_loss", "mask_tokens", "masked_lm_loss"]

IGNORE_INDEX = -100  # the label of positions the loss skips


def _check_labels(name: str, labels: torch.Tensor, vocab_size: int) -> int:
    """The number of counted labels (not -100); raise unless each one is -100 or in ``[0, vocab_size)``.

    One reduction and one device-to-host copy for the three numbers, so a GPU waits once, as it did before for n.
    """
    counted = labels != IGNORE_INDEX
    low, high, n = torch.stack([torch.where(counted, labels, 0).min(), torch.where(counted, labels, -1).max(),
                                counted.sum()]).tolist()
    if low < 0:
        fail(f"{name} must be token ids in [0, {vocab_size}) or -100 (ignored), got {low}", ValueError,
             "only -100 marks a position to skip")
    if high >= vocab_size:
        fail(f"{name} must be token ids in [0, {vocab_size}) (vocab_size={vocab_size}), got {high}", ValueError,
             "an id from another tokenizer, or vocab_size too small in the model's config?")
    return int(n)


def _check_batch(batch, names: tuple[str, ...]) -> tuple:
    if not (isinstance(batch, (tuple, list)) and len(batch) == len(names)):
        fail(f"batch must be a tuple ({', '.join(names)}), got {describe(batch)}", TypeError,
             "return (inputs, targets) from the batch function, e.g. get_batch(...)")
    return tuple(batch)


def get_batch(
    tokens: np.ndarray | torch.Tensor,
    batch_size: int,
    seq_len: int,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random windows of a 1-D token array: ``(inputs, targets)``, int64 ``(batch_size, seq_len)``.

    ``targets`` are ``inputs`` shifted by one (``targets[:, t] == inputs[:, t + 1]``): at every position the
    model learns the next token. ``tokens`` may be a ``np.memmap`` of the tokenized corpus (only the windows are
    read). Start positions come from ``generator`` (default: torch's global RNG, saved in checkpoints). An
    unknown or unavailable ``device`` raises with the devices there are.
    """
    if not isinstance(device, (str, torch.device)):
        fail(f"get_batch: device must be a name such as 'cpu' or 'cuda', got {describe(device)}", TypeError,
             "the arguments are (tokens, batch_size, seq_len, device)")
    device = get_device(str(device))
    if not isinstance(tokens, (np.ndarray, torch.Tensor)) or tokens.ndim != 1:
        what = f"shape {tuple(tokens.shape)}" if hasattr(tokens, "shape") else type(tokens).__name__
        fail(f"get_batch: tokens must be a 1-D np.ndarray, np.memmap or tensor of token ids, got {what}", ValueError,
             "flatten the corpus into one array of ids, e.g. np.concatenate(...)")
    if tokens.dtype.is_floating_point if isinstance(tokens, torch.Tensor) else not np.issubdtype(tokens.dtype, np.integer):
        fail(f"get_batch: tokens must hold integer token ids, got dtype {tokens.dtype}", TypeError,
             "convert it with .astype(np.int64) or .long()")
    check_int("get_batch: batch_size", batch_size, minimum=1)
    check_int("get_batch: seq_len", seq_len, minimum=1)
    if generator is not None and not isinstance(generator, torch.Generator):
        fail(f"get_batch: generator must be a torch.Generator or None, got {describe(generator)}", TypeError,
             "torch.Generator().manual_seed(0)")
    if len(tokens) <= seq_len:
        fail(f"get_batch: a window needs seq_len + 1 = {seq_len + 1} tokens but tokens has {len(tokens)}", ValueError,
             "use a shorter seq_len or more text")
    starts = torch.randint(len(tokens) - seq_len, (batch_size,), generator=generator)  # (B,), last start n-T-1
    if isinstance(tokens, torch.Tensor):
        windows = tokens[starts[:, None] + torch.arange(seq_len + 1)].long()  # (B, T + 1)
    else:
        index = starts.numpy()[:, None] + np.arange(seq_len + 1)  # (B, T + 1)
        windows = torch.from_numpy(np.asarray(tokens[index]).astype(np.int64))
    return windows[:, :-1].contiguous().to(device), windows[:, 1:].contiguous().to(device)


def causal_lm_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Next-token cross-entropy of a language model: ``batch = (inputs, targets)``, both int64 ``(B, T)``.

    ``model(inputs)`` gives logits ``(B, T, vocab_size)``; targets equal to -100 are ignored. Returns the mean
    over the counted tokens and their number, the ``loss_fn`` :func:`fit` expects. A batch whose targets are all
    -100 gives ``(nan, 0)``, as ``F.cross_entropy`` does (0 / 0); ``fit`` refuses it, ``mean_loss`` skips it.
    """
    if not callable(model):
        fail(f"causal_lm_loss: model must be an nn.Module, got {describe(model)}", TypeError,
             "the arguments are (model, batch)")
    inputs, targets = _check_batch(batch, ("inputs", "targets"))
    check_tensor("causal_lm_loss: inputs", inputs, ndim=2, dtype="int")
    check_tensor("causal_lm_loss: targets", targets, ndim=2, dtype="int")
    check_same_shape("causal_lm_loss: inputs", inputs, "targets", targets,
                     "targets are the inputs shifted by one, both (batch_size, seq_len)")
    logits = model(inputs)  # (B, T, vocab_size)
    if not isinstance(logits, torch.Tensor) or logits.shape[:2] != inputs.shape or logits.dim() != 3:
        fail(f"causal_lm_loss: model(inputs) must give logits (B, T, vocab_size) for inputs {tuple(inputs.shape)}, "
             f"got {describe(logits)}", ValueError, "an encoder gives hidden states: use masked_lm_loss for it")
    n_tokens = _check_labels("causal_lm_loss: targets", targets, logits.shape[-1])
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE_INDEX), n_tokens


def mask_tokens(
    input_ids: torch.Tensor,
    special_mask: torch.Tensor,
    mask_id: int,
    vocab_size: int,
    mask_prob: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking (Devlin et al. 2019): ``(inputs, labels)`` for masked language modelling, int64 like ``input_ids``.

    Each token whose ``special_mask`` is False is chosen with probability ``mask_prob``; a chosen token becomes
    ``mask_id`` 80% of the time, a random id in ``[0, vocab_size)`` 10% of the time, and stays itself 10% of
    the time (the 80/10/10 rule). ``labels`` hold the original id at chosen positions and -100 elsewhere, so
    the loss counts chosen tokens only. Special and padding tokens (``special_mask`` True) are never chosen.
    Pass the number of ordinary tokens as ``vocab_size`` to keep special tokens out of the random draws.
    """
    check_tensor("mask_tokens: input_ids", input_ids, dtype="int")
    if not isinstance(special_mask, torch.Tensor) or input_ids.shape != special_mask.shape or special_mask.dtype != torch.bool:
        fail(f"mask_tokens: special_mask must be a bool tensor shaped like input_ids {tuple(input_ids.shape)}, got "
             f"{describe(special_mask)}", ValueError, "e.g. (input_ids == pad_id) | (input_ids == cls_id)")
    check_int("mask_tokens: vocab_size", vocab_size, minimum=1)
    check_int("mask_tokens: mask_id", mask_id, minimum=0, hint="the id of [MASK]: tokenizer.encode('[MASK]')[0]")
    mask_prob = check_number("mask_tokens: mask_prob", mask_prob, hint="BERT uses 0.15")
    if not 0.0 < mask_prob < 1.0:
        fail(f"mask_tokens: mask_prob must be in (0, 1), got {mask_prob!r}", ValueError, "BERT uses 0.15")
    draws = torch.rand(input_ids.shape, generator=generator)  # one draw chooses, a second decides what to do
    action = torch.rand(input_ids.shape, generator=generator)
    chosen = (draws < mask_prob) & ~special_mask.cpu()
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator)
    inputs = input_ids.cpu().clone()
    inputs[chosen & (action < 0.8)] = mask_id
    replace = chosen & (action >= 0.8) & (action < 0.9)
    inputs[replace] = random_ids[replace]
    labels = torch.where(chosen, input_ids.cpu(), torch.full_like(inputs, IGNORE_INDEX))
    return inputs.to(input_ids.device), labels.to(input_ids.device)


def masked_lm_loss(encoder: nn.Module, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Cross-entropy at the masked positions of an encoder's output: ``batch = (inputs, attention_mask, labels)``.

    ``encoder`` is a ``utils.transformer.Transformer``; its hidden states ``(B, T, d_model)`` at the positions
    whose label is not -100 are scored against every token with the token-embedding matrix (the output layer
    tied to the input one, as BERT does). Returns the mean over the masked tokens and their number.
    """
    if not hasattr(encoder, "token_emb"):
        fail(f"masked_lm_loss: encoder must be a utils.transformer.Transformer (it has token_emb), got "
             f"{describe(encoder)}", TypeError, "a TransformerLM predicts the next token: use causal_lm_loss")
    inputs, attention_mask, labels = _check_batch(batch, ("inputs", "attention_mask", "labels"))
    check_tensor("masked_lm_loss: inputs", inputs, ndim=2, dtype="int")
    check_tensor("masked_lm_loss: labels", labels, ndim=2, dtype="int")
    check_same_shape("masked_lm_loss: inputs", inputs, "labels", labels, "mask_tokens gives both")
    n_masked = _check_labels("masked_lm_loss: labels", labels, encoder.token_emb.weight.shape[0])
    if n_masked == 0:
        fail("masked_lm_loss: no token of the batch is masked (all labels are -100)", ValueError,
             "use a larger batch or a larger mask_prob")
    hidden = encoder(inputs, attention_mask=attention_mask)  # (B, T, d_model)
    chosen = labels != IGNORE_INDEX  # (B, T)
    logits = hidden[chosen] @ encoder.token_emb.weight.t()  # (n_masked, vocab_size)
    return F.cross_entropy(logits.float(), labels[chosen]), n_masked
