"""Generation: continue a prompt with a :class:`~utils.transformer.TransformerLM`, one token at a time.

:func:`generate` decodes greedily (temperature 0) or samples from ``softmax(logits / temperature)``, optionally
restricted to the ``top_k`` most likely tokens. With a key/value cache (:class:`~utils.attention.KVCache`, one per
block, from ``model.new_cache()``) the prompt runs once (prefill) and each later step feeds only the newest token;
without it every step reruns the whole sequence. Both give the same tokens.

Shapes: ``input_ids`` ``(B, T)`` int64 in, ``(B, T + n)`` int64 out; logits of one step ``(B, vocab_size)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from utils.checks import check_bool, check_int, check_number, check_tensor, describe, fail
from utils.transformer import TransformerLM

__all__ = ["generate"]


@torch.inference_mode()
def generate(
    model: TransformerLM,
    input_ids: Tensor,
    max_new_tokens: int,
    use_cache: bool = True,
    temperature: float = 0.0,
    top_k: int | None = None,
    eos_token_id: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Continue ``input_ids`` ``(B, T)`` by up to ``max_new_tokens`` tokens; returns ``(B, T + n)`` int64.

    ``temperature == 0`` is greedy decoding (argmax); otherwise tokens are sampled from
    ``softmax(logits / temperature)``, restricted to the ``top_k`` most likely when given
    (``top_k`` None or 0: no restriction, as in ``transformers``). A negative temperature is refused.
    With ``use_cache`` the prompt is run once (prefill) and each later step feeds only the
    newest token, reusing the keys and values of the earlier ones (same result, less work).
    A sequence that produced ``eos_token_id`` keeps producing it; generation stops when all have.
    """
    _check_generate_args(model, input_ids, max_new_tokens, use_cache, temperature, top_k, eos_token_id, generator)
    top_k = top_k or None  # 0 = off, as in transformers
    total = input_ids.shape[1] + max_new_tokens
    if total > model.config.max_seq_len:
        raise ValueError(
            f"prompt ({input_ids.shape[1]} tokens) + max_new_tokens ({max_new_tokens}) = {total} exceeds the "
            f"context max_seq_len={model.config.max_seq_len}: shorten the prompt or ask for fewer tokens"
        )
    caches = model.new_cache() if use_cache else None
    tokens = input_ids
    logits = model(tokens, caches=caches)[:, -1]  # (B, vocab_size)
    finished = torch.zeros(tokens.shape[0], dtype=torch.bool, device=tokens.device)
    for step in range(max_new_tokens):
        next_token = _pick_token(logits, temperature, top_k, generator)  # (B,)
        if eos_token_id is not None:
            next_token = next_token.masked_fill(finished, eos_token_id)
            finished |= next_token == eos_token_id
        tokens = torch.cat((tokens, next_token[:, None]), dim=1)  # (B, T + step + 1)
        if bool(finished.all()) or step == max_new_tokens - 1:
            break
        new_input = next_token[:, None] if use_cache else tokens
        logits = model(new_input, caches=caches)[:, -1]
    return tokens


def _check_generate_args(model, input_ids, max_new_tokens, use_cache, temperature, top_k, eos_token_id,
                         generator) -> None:
    if not isinstance(model, TransformerLM):
        fail(f"model must be a TransformerLM, got {describe(model)}", TypeError,
             "a Transformer has no LM head: wrap its config in TransformerLM, or convert one with lm_from_hf")
    check_tensor("input_ids", input_ids, hint="token ids as returned by a tokenizer, e.g. torch.tensor([ids])")
    if input_ids.dim() != 2:
        fail(f"input_ids must be (batch, seq_len), got {describe(input_ids)}", ValueError,
             "add a batch dim with ids[None]" if input_ids.dim() == 1 else "one row of token ids per sequence")
    check_int("max_new_tokens", max_new_tokens, minimum=0)
    check_bool("use_cache", use_cache)
    check_number("temperature", temperature, minimum=0.0,
                 hint="0 is greedy decoding; > 0 samples, 1.0 from the model's own distribution")
    if top_k is not None:
        check_int("top_k", top_k, minimum=0, hint="the number of most likely tokens to sample from; None or 0 = all")
    if eos_token_id is not None:
        check_int("eos_token_id", eos_token_id, minimum=0, maximum=model.config.vocab_size - 1,
                  hint="the tokenizer's end-of-sequence id, e.g. tokenizer.eos_token_id")
    if generator is not None and not isinstance(generator, torch.Generator):
        fail(f"generator must be a torch.Generator, got {describe(generator)}", TypeError,
             "make one with torch.Generator().manual_seed(0), or pass None")


def _pick_token(logits: Tensor, temperature: float, top_k: int | None, generator: torch.Generator | None) -> Tensor:
    """Greedy (temperature 0) or sampled next token from ``logits`` ``(B, vocab_size)``; returns ``(B,)``."""
    if temperature == 0.0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]
