"""Real weights in our classes (utils.transformer, loaded by utils.hf) give the outputs of ``transformers``.

* all-MiniLM-L6-v2 (a BERT) in our :class:`Transformer`: last hidden states at the real tokens of a padded batch
  with two segments, and the pooled output ([CLS], a real token).
* SmolLM2-135M-Instruct (a Llama; its 4-bit Q4_1 GGUF release, dequantized to float32 by
  transformers + gguf) in our :class:`TransformerLM`: logits, the same argmax at every position, and the same
  greedy continuation of 20 tokens for three prompts.

The comparisons run with 1 and with 2 torch threads (another thread count splits the sums differently). Padded
positions are never compared: nothing reads them, so two implementations need not agree there (on chapter 5's
batch MiniLM's differ there far more than at the real tokens). Each model is loaded once per module (utils.data
caches the files; the first run downloads them).
"""

from contextlib import contextmanager

import pytest
import torch

from utils.hf import lm_from_hf, transformer_from_hf
from utils.generation import generate

PROMPTS = ["The capital of France is", "def fibonacci(n):", "Once upon a time, there was a"]
N_NEW = 20
THREAD_COUNTS = (1, 2)
# Tolerances measured with 1 and with 2 threads, on this test's inputs:
MINILM_TOL = 2e-5  # hidden states at real tokens: 2.6e-6 (1 thread), 2.6e-6 (2); pooled: 1.5e-7 (1 and 2)
SMOLLM2_TOL = 1e-4  # logits (of order 10): 0.0 with 1 and with 2 threads; the same operations in the same order


@contextmanager
def torch_threads(n: int):
    """Run the block with ``n`` torch threads, then restore the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def minilm():
    from utils.data import load_minilm

    tokenizer, hf = load_minilm()
    return tokenizer, hf, transformer_from_hf(hf)


@pytest.fixture(scope="module")
def smollm2():
    from utils.data import load_smollm2

    tokenizer, hf = load_smollm2()
    return tokenizer, hf, lm_from_hf(hf)


def minilm_differences(minilm) -> tuple[float, float]:
    """Max abs differences (hidden states at the real tokens, pooled output) of ours vs transformers' MiniLM."""
    tokenizer, hf, ours = minilm
    batch = tokenizer(
        ["A transformer is built from attention and feed-forward layers.", "Short one."],
        ["Each layer adds to a residual stream.", "Padding follows."],
        padding=True,
        return_tensors="pt",
    )
    assert batch["attention_mask"].min() == 0 and batch["token_type_ids"].max() == 1  # padding and two segments
    keep = batch["attention_mask"].bool()  # (B, T): the real tokens
    with torch.inference_mode():
        ref = hf(**batch)
        hidden = ours(
            batch["input_ids"], attention_mask=batch["attention_mask"], token_type_ids=batch["token_type_ids"]
        )
        pooled = ours.pool(hidden)
    return (hidden - ref.last_hidden_state)[keep].abs().max().item(), (pooled - ref.pooler_output).abs().max().item()


def smollm2_logits(smollm2) -> tuple[torch.Tensor, torch.Tensor]:
    """(ours, transformers') logits ``(1, T, vocab_size)`` of SmolLM2 on one unpadded sentence."""
    tokenizer, hf, ours = smollm2
    ids = tokenizer(PROMPTS[0] + " a city of museums, cafes and bridges over the Seine.", return_tensors="pt").input_ids
    with torch.inference_mode():
        return ours(ids), hf(ids).logits


@pytest.mark.parametrize("threads", THREAD_COUNTS)
def test_minilm_hidden_states_match_at_real_tokens(minilm, threads):
    assert minilm[2].config.n_layers == 6 and minilm[2].config.d_model == 384
    with torch_threads(threads):
        assert torch.get_num_threads() == threads
        hidden_diff, pooled_diff = minilm_differences(minilm)
    assert hidden_diff <= MINILM_TOL and pooled_diff <= MINILM_TOL


@pytest.mark.parametrize("threads", THREAD_COUNTS)
def test_smollm2_logits_match(smollm2, threads):
    assert smollm2[2].config.n_kv_heads == 3 and smollm2[2].config.n_heads == 9  # grouped-query attention
    with torch_threads(threads):
        logits, ref = smollm2_logits(smollm2)
    assert (logits - ref).abs().max().item() <= SMOLLM2_TOL
    assert torch.equal(logits.argmax(-1), ref.argmax(-1))


def test_thread_count_restored_after_the_comparisons(minilm):
    before = torch.get_num_threads()
    for threads in THREAD_COUNTS:
        with torch_threads(threads):
            minilm_differences(minilm)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("prompt", PROMPTS)
def test_smollm2_greedy_continuation_matches(smollm2, prompt):
    """Ours generates 20 tokens with its KV cache; transformers' greedy choice is the argmax of its logits at
    every position of that sequence (one forward pass instead of 20), so equal argmaxes mean
    ``hf.generate(..., do_sample=False)`` would produce the same 20 tokens."""
    tokenizer, hf, ours = smollm2
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    out = generate(ours, ids, max_new_tokens=N_NEW)
    assert out.shape[1] == ids.shape[1] + N_NEW
    with torch.inference_mode():
        hf_next = hf(out[:, :-1]).logits.argmax(-1)[:, ids.shape[1] - 1 :]  # transformers' greedy picks
    assert torch.equal(hf_next, out[:, ids.shape[1] :])
