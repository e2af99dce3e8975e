"""Real weights in our classes (utils.transformer) give the outputs of ``transformers``.

* all-MiniLM-L6-v2 (a BERT) in our :class:`Transformer`: last hidden states and pooled output,
  max abs difference <= 1e-4 on a padded batch with two segments.
* SmolLM2-135M-Instruct (a Llama; its 4-bit Q4_1 GGUF release, dequantized to float32 by
  transformers + gguf) in our :class:`TransformerLM`: logits max abs difference <= 1e-3 with the
  same argmax at every position, and the same greedy continuation of 20 tokens for three prompts.

Each model is loaded once per module (utils.data caches the files; the first run downloads them).
"""

import pytest
import torch

from utils.transformer import generate, lm_from_hf, transformer_from_hf

PROMPTS = ["The capital of France is", "def fibonacci(n):", "Once upon a time, there was a"]
N_NEW = 20


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


def test_minilm_hidden_states_match(minilm):
    tokenizer, hf, ours = minilm
    batch = tokenizer(
        ["A transformer is built from attention and feed-forward layers.", "Short one."],
        ["Each layer adds to a residual stream.", "Padding follows."],
        padding=True,
        return_tensors="pt",
    )
    assert batch["attention_mask"].min() == 0 and batch["token_type_ids"].max() == 1  # padding and two segments
    with torch.inference_mode():
        ref = hf(**batch)
        hidden = ours(
            batch["input_ids"], attention_mask=batch["attention_mask"], token_type_ids=batch["token_type_ids"]
        )
        pooled = ours.pool(hidden)
    assert ours.config.n_layers == 6 and ours.config.d_model == 384
    assert (hidden - ref.last_hidden_state).abs().max().item() <= 1e-4
    assert (pooled - ref.pooler_output).abs().max().item() <= 1e-4


def test_smollm2_logits_match(smollm2):
    tokenizer, hf, ours = smollm2
    assert ours.config.n_kv_heads == 3 and ours.config.n_heads == 9  # grouped-query attention
    ids = tokenizer(PROMPTS[0] + " a city of museums, cafes and bridges over the Seine.", return_tensors="pt").input_ids
    with torch.inference_mode():
        ref, logits = hf(ids).logits, ours(ids)
    assert (logits - ref).abs().max().item() <= 1e-3
    assert torch.equal(logits.argmax(-1), ref.argmax(-1))


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
