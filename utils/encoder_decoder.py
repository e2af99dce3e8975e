"""An encoder-decoder (Vaswani et al. 2017; the T5 family's layout, pre-norm) built from the pieces of
:mod:`utils.transformer` and the :class:`~utils.attention.CrossAttention` of :mod:`utils.attention`.

:class:`DecoderBlock` is a decoder layer with three residual branches (causal self-attention, cross-attention to the
encoder output, MLP); :class:`EncoderDecoder` puts a bidirectional :class:`~utils.transformer.Transformer` encoder
and a stack of decoder blocks together, sharing one token embedding that is also the output head.

Shapes: ``src_ids`` ``(B, S)`` and ``tgt_ids`` ``(B, T)`` int64; the encoder output (``memory``) ``(B, S, d_model)``;
logits ``(B, T, vocab_size)``. Masks are boolean with True = may attend (see :mod:`utils.attention`).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from utils.attention import CrossAttention, MultiHeadSelfAttention, padding_mask
from utils.checks import check_tensor, describe, fail
from utils.transformer import (
    Transformer, TransformerConfig, _check_config, _check_stream, _init_weights, make_mlp, make_norm,
)

__all__ = ["DecoderBlock", "EncoderDecoder"]


class DecoderBlock(nn.Module):
    """A pre-norm decoder layer of an encoder-decoder, three residual branches::

        x = x + SelfAttn(norm1(x))            causal: each target token sees the earlier ones
        x = x + CrossAttn(norm2(x), memory)   every target token sees the whole source
        x = x + MLP(norm3(x))
    """

    def __init__(self, config: TransformerConfig):
        super().__init__()
        _check_config(config)
        self.d_model = config.d_model
        self.self_attn = MultiHeadSelfAttention(
            config.d_model, config.n_heads, n_kv_heads=config.n_kv_heads, bias=config.bias, causal=True,
            dropout=config.dropout,
        )
        self.norm1 = make_norm(config)
        self.cross_attn = CrossAttention(config.d_model, config.n_heads, bias=config.bias, dropout=config.dropout)
        self.norm2 = make_norm(config)
        self.mlp = make_mlp(config)  # applies config.dropout to its output
        self.norm3 = make_norm(config)
        self.dropout = nn.Dropout(config.dropout)  # on the two attention branches

    def forward(
        self, x: Tensor, memory: Tensor, memory_mask: Tensor | None = None, rope: tuple[Tensor, Tensor] | None = None
    ) -> Tensor:
        """``(B, T, d)`` decoder states, ``(B, S, d)`` encoder output -> ``(B, T, d)``."""
        _check_stream("x", x, self.d_model, ndim=3)
        _check_stream("memory", memory, self.d_model, ndim=3)
        if memory.shape[0] != x.shape[0]:
            fail(f"memory must have the batch size of x ({x.shape[0]}), got {describe(memory)}", ValueError)
        if memory_mask is not None:
            check_tensor("memory_mask", memory_mask, ndim=4, dtype="bool",
                         hint="padding_mask(src_attention_mask): bool (batch, 1, 1, S)")
            if memory_mask.shape[-1] != memory.shape[1]:
                fail(f"memory_mask must cover the S={memory.shape[1]} source tokens, got {describe(memory_mask)}",
                     ValueError, "build it with padding_mask(src_attention_mask)")
        x = x + self.dropout(self.self_attn(self.norm1(x), rope=rope))
        x = x + self.dropout(self.cross_attn(self.norm2(x), memory, memory_mask))
        return x + self.mlp(self.norm3(x))


class EncoderDecoder(nn.Module):
    """A small encoder-decoder (Vaswani 2017; T5's layout with pre-norm): a bidirectional encoder
    reads the source, a causal decoder with cross-attention writes the target.

    ``forward(src_ids (B, S), tgt_ids (B, T)) -> logits (B, T, vocab_size)``; encoder and decoder
    share the token embedding, which is also the output head (as in T5).
    """

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = dataclasses.replace(_check_config(config), causal=False, norm_position="pre", pooler=False)
        self.encoder = Transformer(self.config)  # initialised by its own constructor
        self.decoder_blocks = nn.ModuleList(DecoderBlock(self.config) for _ in range(config.n_layers))
        self.decoder_norm = make_norm(self.config)
        self.decoder_blocks.apply(_init_weights)  # the decoder's layers, once; the norms start at weight 1

    def forward(self, src_ids: Tensor, tgt_ids: Tensor, src_attention_mask: Tensor | None = None) -> Tensor:
        """Logits ``(B, T, vocab_size)`` for the target tokens ``(B, T)`` given the source ``(B, S)``."""
        enc = self.encoder
        batch_size, tgt_len = enc._check_input_ids(tgt_ids, name="tgt_ids")
        enc._check_input_ids(src_ids, name="src_ids")
        if src_ids.shape[0] != batch_size:
            fail(f"src_ids and tgt_ids must have the same batch size, got {describe(src_ids)} and "
                 f"{describe(tgt_ids)}", ValueError, "one target sequence per source sequence")
        memory = enc(src_ids, attention_mask=src_attention_mask)  # (B, S, d_model)
        memory_mask = None if src_attention_mask is None else padding_mask(src_attention_mask)  # (B, 1, 1, S)
        enc._check_length(0, tgt_len)
        positions = torch.arange(tgt_len, device=tgt_ids.device)  # (T,)
        x = enc._embed(tgt_ids, positions)  # (B, T, d_model), the encoder's embedding code
        rope = enc.rope(positions) if enc.rope is not None else None
        for block in self.decoder_blocks:
            x = block(x, memory, memory_mask, rope=rope)
        return self.decoder_norm(x) @ enc.token_emb.weight.t()  # (B, T, vocab_size)
