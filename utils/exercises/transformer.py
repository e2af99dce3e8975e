"""Checkers for the exercises of chapter 5, "A transformer of our own".

Each checker takes the learner's function, runs it on inputs of its own and compares the result with a
reference computed independently (PyTorch's and transformers' modules, a model built on the meta device, a real
KV cache).
A wrong answer raises :class:`utils.exercises.ExerciseError` saying what is wrong; a right one prints
"✓ name: correct".
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from utils.exercises import ExerciseError, _require_function, check_close, check_equal, check_shape, check_type

__all__ = ["check_rms_norm", "check_swiglu", "check_encoder_decoder_parameter_count", "check_kv_cache_bytes"]


def _generator(seed: int = 5) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def check_rms_norm(rms_norm: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> None:
    """Exercise 1: ``rms_norm(x, weight, eps) -> (..., d)``: ``x / sqrt(mean(x^2) + eps) * weight``, last dim."""
    name = "rms_norm"
    _require_function(name, rms_norm, ("x", "weight", "eps"))
    g = _generator()
    x = torch.randn(2, 3, 8, generator=g) * 3 + 1  # a non-zero mean, so centring would show
    weight = torch.rand(8, generator=g) + 0.5
    out = rms_norm(x.clone(), weight.clone(), 1e-6)
    check_type(name, out, torch.Tensor)
    check_shape(name, out, tuple(x.shape))
    reference = torch.nn.RMSNorm(8, eps=1e-6)
    with torch.no_grad():
        reference.weight.copy_(weight)
        expected = reference(x)
        layer_norm = F.layer_norm(x, (8,), weight, None, 1e-6)
    if torch.allclose(out, layer_norm, atol=1e-4):
        raise ExerciseError(f"{name}: your output is LayerNorm's: RMSNorm does not subtract the mean")
    check_close(name, out, expected, rtol=1e-4, atol=1e-5,
                hint="divide by the root of the mean of the squares over the last dim (keepdim=True), then scale")
    small = torch.randn(4, 8, generator=g) * 1e-3  # here eps dominates mean(x^2)
    expected_small = small / torch.sqrt(small.pow(2).mean(-1, keepdim=True) + 1e-2) * weight
    check_close(f"{name} with a large eps", rms_norm(small, weight, 1e-2), expected_small, rtol=1e-4, atol=1e-7,
                hint="eps goes inside the square root: sqrt(mean(x^2) + eps)")


def check_swiglu(swiglu: Callable[..., torch.Tensor]) -> None:
    """Exercise 2: ``swiglu(x, w1, w2, w3) -> (..., d_model)``: ``W2 (silu(W1 x) * W3 x)``.

    ``w1``, ``w3``: ``(d_ff, d_model)`` (``nn.Linear`` layout), ``w2``: ``(d_model, d_ff)``; no biases.
    """
    from transformers.models.llama.modeling_llama import LlamaMLP

    name = "swiglu"
    _require_function(name, swiglu, ("x", "w1", "w2", "w3"))
    g = _generator(6)
    d_model, d_ff = 8, 12
    x = torch.randn(2, 5, d_model, generator=g)
    w1, w3 = torch.randn(d_ff, d_model, generator=g), torch.randn(d_ff, d_model, generator=g)
    w2 = torch.randn(d_model, d_ff, generator=g)
    out = swiglu(x.clone(), w1.clone(), w2.clone(), w3.clone())
    check_type(name, out, torch.Tensor)
    check_shape(name, out, (2, 5, d_model))

    class _Cfg:  # the fields LlamaMLP reads
        hidden_size, intermediate_size, hidden_act, mlp_bias, pretraining_tp = d_model, d_ff, "silu", False, 1

    mlp = LlamaMLP(_Cfg())
    with torch.no_grad():
        mlp.gate_proj.weight.copy_(w1)
        mlp.up_proj.weight.copy_(w3)
        mlp.down_proj.weight.copy_(w2)
        expected = mlp(x)
        swapped = (F.silu(x @ w3.T) * (x @ w1.T)) @ w2.T
    if torch.allclose(out, swapped, atol=1e-4):
        raise ExerciseError(f"{name}: the gate is swapped: silu goes on W1 x (the gate), W3 x (up) is not activated")
    check_close(name, out, expected, rtol=1e-4, atol=1e-4,
                hint="silu(x W1^T) * (x W3^T), an element-wise product, then @ W2^T; silu(z) = z * sigmoid(z)")


def _encoder_decoder_reference(config) -> int:
    """Parameters of :class:`utils.encoder_decoder.EncoderDecoder`, counted on the meta device (no memory)."""
    from utils.encoder_decoder import EncoderDecoder

    with torch.device("meta"):
        model = EncoderDecoder(config)
    return sum(p.numel() for p in model.parameters())


def check_encoder_decoder_parameter_count(count: Callable[..., int]) -> None:
    """Exercise 3: ``count(config) -> int``: the parameters of ``EncoderDecoder(config)`` by formula.

    The encoder is a pre-norm, bidirectional :class:`Transformer`; each decoder layer has self-attention,
    cross-attention and an MLP, each behind its own norm; a final decoder norm; the token embedding is shared
    by encoder, decoder and output head. ``parameter_count`` may be used for the encoder.
    """
    from utils.transformer import preset

    name = "encoder_decoder_parameter_count"
    _require_function(name, count, ("config",))
    cases = [
        preset("tiny-gpt2"),
        preset("tiny-llama"),
        preset("tiny-gpt2", vocab_size=500, d_model=48, n_heads=6, n_layers=3, d_ff=100, max_seq_len=40),
    ]
    diffs = []
    for config in cases:
        given = count(config)
        check_type(name, given, int)
        diffs.append(_encoder_decoder_reference(config) - given)
    if not any(diffs):
        print(f"✓ {name}: correct")
        return

    def norm(c):
        return c.d_model * (2 if c.norm == "layernorm" and c.bias else 1)

    # Common slips, each recognised by how much it leaves out (positive) or adds (negative) in every case.
    slips = {
        "the cross-attention of each decoder layer (four d_model x d_model projections) is missing":
            lambda c: c.n_layers * (4 * c.d_model**2 + (4 * c.d_model if c.bias else 0)),
        "each decoder layer has three norms (before self-attention, cross-attention and the MLP)":
            lambda c: c.n_layers * norm(c),
        "the final norm of the decoder is missing": norm,
        "the output head is the shared token embedding: it adds no parameters": lambda c: -c.vocab_size * c.d_model,
        "the decoder shares the encoder's token embedding: count it once": lambda c: -c.vocab_size * c.d_model,
        "the decoder's MLPs are missing": lambda c: c.n_layers * (3 if c.mlp == "swiglu" else 2) * c.d_model * c.d_ff,
        "cross-attention reads all n_heads keys and values (no grouped-query attention in it)":
            lambda c: c.n_layers * 2 * c.d_model * (c.d_model - c.n_kv_heads * c.d_head),
    }  # fmt: skip
    hint = "count the encoder, then per decoder layer self-attention, cross-attention, MLP and three norms"
    for text, slip in slips.items():
        if all(diff == slip(config) for diff, config in zip(diffs, cases)):
            hint = text
            break
    config, diff = next((c, d) for c, d in zip(cases, diffs) if d)
    raise ExerciseError(f"{name}: for d_model={config.d_model}, n_layers={config.n_layers}, norm={config.norm!r}, "
                        f"mlp={config.mlp!r} your count is off by {abs(diff):,}: {hint}")  # fmt: skip


def _measured_cache_bytes(config, seq_len: int, batch_size: int) -> int:
    """Bytes held by a real KV cache after a forward pass over ``seq_len`` tokens."""
    from utils.transformer import TransformerLM

    model = TransformerLM(config).eval()
    caches = model.new_cache()
    with torch.no_grad():
        model(torch.zeros(batch_size, seq_len, dtype=torch.long), caches=caches)
    return sum(c.k.numel() * c.k.element_size() + c.v.numel() * c.v.element_size() for c in caches)


def check_kv_cache_bytes(kv_cache_bytes: Callable[..., int]) -> None:
    """Exercise 4: ``kv_cache_bytes(config, seq_len, batch_size, bytes_per_value=4) -> int``: memory of the key/value
    cache of a decoder with this config after ``seq_len`` tokens, for ``batch_size`` sequences."""
    from utils.transformer import preset

    name = "kv_cache_bytes"
    _require_function(name, kv_cache_bytes, ("config", "seq_len", "batch_size", "bytes_per_value"))
    for preset_name, seq_len, batch_size in [("tiny-llama", 20, 3), ("tiny-gpt2", 7, 2)]:
        config = preset(preset_name)
        given = kv_cache_bytes(config, seq_len, batch_size, 4)
        check_type(name, given, int)
        expected = _measured_cache_bytes(config, seq_len, batch_size)
        if given == expected * config.n_heads // config.n_kv_heads and config.n_heads != config.n_kv_heads:
            raise ExerciseError(f"{name}: you counted n_heads key/value heads; with grouped-query attention the "
                                f"cache holds only n_kv_heads={config.n_kv_heads} of them")  # fmt: skip
        if given * 2 == expected:
            raise ExerciseError(f"{name}: half the measured size: the cache holds keys AND values")
        check_equal(f"{name} for {preset_name}, {seq_len} tokens, batch {batch_size} (measured on a real cache)",
                    given, expected,
                    hint="count the numbers in the cache of every layer, then multiply by bytes_per_value")
    smol = preset("smollm2-135m")
    check_equal(f"{name} for SmolLM2 at 8192 tokens in bfloat16", kv_cache_bytes(smol, 8192, 1, 2),
                2 * smol.n_layers * smol.n_kv_heads * smol.d_head * 8192 * 2)  # fmt: skip
