"""Transformer: one block that becomes GPT-2, BERT or a Llama-style decoder, and the models on top.

Read top to bottom, in dependency order:

1. :class:`TransformerConfig`, a dataclass whose switches pick the family, and :func:`preset`
   (published and tiny configs);
2. the components: :class:`LayerNorm`, :class:`RMSNorm`, :class:`FeedForward` (GELU),
   :class:`SwiGLU`, :class:`TransformerBlock`;
3. the models: :class:`Transformer` (embeddings, blocks, final norm; ``transformers``' ``GPT2Model``,
   ``BertModel`` and ``LlamaModel`` are instances of it) and :class:`TransformerLM` (a language-model
   head on top);
4. parameter counts from the config alone (:func:`parameter_breakdown`, :func:`parameter_count`).

Generating text with a key/value cache is :mod:`utils.generation`'s job, the encoder-decoder built from these
pieces :mod:`utils.encoder_decoder`'s, loading weights from Hugging Face ``transformers`` and back :mod:`utils.hf`'s.

The three families differ only in switches of the config::

              norm       position  mlp        positions  causal  bias  n_kv_heads
    GPT-2     layernorm  pre       gelu_tanh  learned    True    True  = n_heads
    BERT      layernorm  post      gelu       learned    False   True  = n_heads  (+ token types, pooler)
    Llama     rmsnorm    pre       swiglu     rope       True    False < n_heads  (grouped-query)

Shapes: ``input_ids`` ``(B, T)`` int64; hidden states ``(B, T, d_model)`` float32; logits
``(B, T, vocab_size)``. Masks are boolean with True = may attend (see :mod:`utils.attention`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from utils.attention import KVCache, MultiHeadSelfAttention, RotaryEmbedding, padding_mask, sinusoidal_positions
from utils.checks import (
    check_bool, check_choice, check_index_range, check_int, check_number, check_tensor, describe, fail,
)

__all__ = [
    "TransformerConfig",
    "preset",
    "PRESETS",
    "LayerNorm",
    "RMSNorm",
    "FeedForward",
    "SwiGLU",
    "make_norm",
    "make_mlp",
    "TransformerBlock",
    "Transformer",
    "TransformerLM",
    "parameter_breakdown",
    "parameter_count",
]

NORMS = ("layernorm", "rmsnorm")
NORM_POSITIONS = ("pre", "post")
MLPS = ("gelu", "gelu_tanh", "swiglu")
POSITIONS = ("learned", "sinusoidal", "rope")


# =============================================================================================
# 1. Configuration
# =============================================================================================


@dataclass
class TransformerConfig:
    """Every size and switch of a transformer; the defaults are GPT-2 small (124 M parameters).

    The switches ``norm``, ``norm_position``, ``mlp``, ``positions``, ``causal``, ``bias`` and
    ``n_kv_heads`` make the same :class:`TransformerBlock` a GPT-2, BERT or Llama block.
    Invalid combinations raise ``ValueError`` saying what to change.
    """

    vocab_size: int = 50257  # number of token ids (GPT-2's byte-level BPE has 50,257)
    max_seq_len: int = 1024  # context length: the longest sequence the model accepts
    d_model: int = 768  # width of every token vector (the residual stream)
    n_layers: int = 12  # number of TransformerBlocks
    n_heads: int = 12  # query heads; d_head = d_model // n_heads
    n_kv_heads: int | None = None  # key/value heads; None = n_heads; fewer = grouped-query attention
    d_ff: int = 3072  # hidden width of the feed-forward network (4 * d_model in GPT-2 and BERT)
    norm: str = "layernorm"  # "layernorm" (GPT-2, BERT) or "rmsnorm" (Llama)
    norm_position: str = "pre"  # "pre": x + f(norm(x)) (GPT-2, Llama); "post": norm(x + f(x)) (BERT)
    norm_eps: float = 1e-5  # epsilon inside the norms (GPT-2 1e-5, BERT 1e-12, SmolLM2 1e-5)
    mlp: str = "gelu_tanh"  # "gelu" (exact, BERT), "gelu_tanh" (GPT-2) or "swiglu" (Llama)
    positions: str = "learned"  # "learned" (GPT-2, BERT), "sinusoidal" (Vaswani 2017) or "rope" (Llama)
    rope_base: float = 10000.0  # RoPE frequency base theta (Llama 2: 1e4; SmolLM2: 1e5)
    causal: bool = True  # True: a decoder that sees only the past; False: an encoder (BERT)
    bias: bool = True  # biases in the linear layers and LayerNorms (Llama has none)
    n_token_types: int = 0  # BERT's segment (token type) embeddings: 2; 0 = none
    pooler: bool = False  # BERT's pooler: tanh(W h_[CLS] + b), used for sentence-level tasks
    tie_embeddings: bool = True  # the LM head reuses the token-embedding matrix (GPT-2, SmolLM2)
    dropout: float = 0.0  # dropout on embeddings, attention probabilities and residual branches

    def __post_init__(self) -> None:
        if self.n_kv_heads is None:
            self.n_kv_heads = self.n_heads
        check_choice("norm", self.norm, NORMS)
        check_choice("norm_position", self.norm_position, NORM_POSITIONS)
        check_choice("mlp", self.mlp, MLPS)
        check_choice("positions", self.positions, POSITIONS)
        for name in ("vocab_size", "max_seq_len", "d_model", "n_layers", "n_heads", "n_kv_heads", "d_ff"):
            check_int(name, getattr(self, name), minimum=1)
        check_int("n_token_types", self.n_token_types, minimum=0, hint="2 for BERT's segments, 0 for none")
        check_number("norm_eps", self.norm_eps, above=0.0, hint="a small positive number such as 1e-5")
        check_number("rope_base", self.rope_base, above=1.0, hint="RoPE's theta, e.g. 10000.0")
        _check_dropout(self.dropout)
        for name in ("causal", "bias", "pooler", "tie_embeddings"):
            check_bool(name, getattr(self, name))
        if self.d_model % self.n_heads != 0:
            divisors = [h for h in range(1, min(self.d_model, 64) + 1) if self.d_model % h == 0]
            lower = (self.d_model // self.n_heads) * self.n_heads
            raise ValueError(
                f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}: each head gets "
                f"d_model / n_heads dimensions. Change n_heads to a divisor of {self.d_model} "
                f"(e.g. {divisors[-4:]}) or d_model to a multiple of {self.n_heads} "
                f"(e.g. {lower or self.n_heads} or {lower + self.n_heads})."
            )
        if self.n_heads % self.n_kv_heads != 0:
            raise ValueError(
                f"n_heads={self.n_heads} is not divisible by n_kv_heads={self.n_kv_heads}: in grouped-query "
                f"attention each key/value head serves n_heads / n_kv_heads query heads. Choose n_kv_heads "
                f"among {[h for h in range(1, self.n_heads + 1) if self.n_heads % h == 0]}."
            )
        if self.positions == "rope" and self.d_head % 2 != 0:
            raise ValueError(f"positions='rope' needs an even d_head, got d_head={self.d_head}: change n_heads")
        if self.positions == "sinusoidal" and self.d_model % 2 != 0:
            raise ValueError(f"positions='sinusoidal' needs an even d_model, got d_model={self.d_model}")

    @property
    def d_head(self) -> int:
        """Width of one attention head, ``d_model // n_heads``."""
        return self.d_model // self.n_heads


PRESETS: dict[str, dict] = {
    # Radford et al. 2019, GPT-2 small: 124 M parameters.
    "gpt2": dict(),
    # Devlin et al. 2019, BERT-base (uncased): 110 M parameters.
    "bert-base": dict(
        vocab_size=30522, max_seq_len=512, norm_position="post", norm_eps=1e-12, mlp="gelu", causal=False,
        n_token_types=2, pooler=True, tie_embeddings=False,
    ),
    # all-MiniLM-L6-v2: a 6-layer BERT, d_model 384 (22.7 M parameters).
    "minilm": dict(
        vocab_size=30522, max_seq_len=512, d_model=384, n_layers=6, n_heads=12, d_ff=1536, norm_position="post",
        norm_eps=1e-12, mlp="gelu", causal=False, n_token_types=2, pooler=True, tie_embeddings=False,
    ),
    # SmolLM2-135M: a Llama-architecture decoder with grouped-query attention (9 query, 3 key/value heads).
    "smollm2-135m": dict(
        vocab_size=49152, max_seq_len=8192, d_model=576, n_layers=30, n_heads=9, n_kv_heads=3, d_ff=1536,
        norm="rmsnorm", mlp="swiglu", positions="rope", rope_base=100000.0, bias=False,
    ),
    # Tiny random configs for tests and quick mode, one per family.
    "tiny-gpt2": dict(vocab_size=99, max_seq_len=32, d_model=32, n_layers=2, n_heads=4, d_ff=64),
    "tiny-bert": dict(
        vocab_size=99, max_seq_len=32, d_model=32, n_layers=2, n_heads=4, d_ff=64, norm_position="post",
        norm_eps=1e-12, mlp="gelu", causal=False, n_token_types=2, pooler=True, tie_embeddings=False,
    ),
    "tiny-llama": dict(
        vocab_size=99, max_seq_len=32, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=64, norm="rmsnorm",
        mlp="swiglu", positions="rope", bias=False,
    ),
}


def preset(name: str, **changes) -> TransformerConfig:
    """A named config from :data:`PRESETS`, with optional changes: ``preset("gpt2", n_layers=6)``."""
    if not isinstance(name, str):
        fail(f"name must be a preset's name (str), got {describe(name)}", TypeError,
             f"one of {sorted(PRESETS)}; changes go as keywords, e.g. preset('gpt2', n_layers=6)")
    if name not in PRESETS:
        fail(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return TransformerConfig(**{**PRESETS[name], **changes})


# =============================================================================================
# 2. Components
# =============================================================================================


class LayerNorm(nn.Module):
    """``LayerNorm(x) = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias`` over the last dim.

    ``var`` is the biased variance (divide by d). Runs ``F.layer_norm`` (the chapter writes the
    formula out and checks it equal).
    """

    def __init__(self, d_model: int, eps: float = 1e-5, bias: bool = True):
        super().__init__()
        check_int("d_model", d_model, minimum=1)
        self.eps = check_number("eps", eps, above=0.0)
        check_bool("bias", bias)
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        """``(..., d_model) -> (..., d_model)``."""
        _check_stream("x", x, self.weight.shape[0])
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


class RMSNorm(nn.Module):
    """``RMSNorm(x) = x / sqrt(mean(x^2) + eps) * weight`` (Zhang & Sennrich 2019; Llama).

    No centring and no bias. Computed in float32 and cast back, as ``transformers``' Llama does.
    """

    def __init__(self, d_model: int, eps: float = 1e-6):
        super().__init__()
        check_int("d_model", d_model, minimum=1)
        self.eps = check_number("eps", eps, above=0.0)
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x: Tensor) -> Tensor:
        """``(..., d_model) -> (..., d_model)``."""
        _check_stream("x", x, self.weight.shape[0])
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


class FeedForward(nn.Module):
    """``FFN(x) = W_2 act(W_1 x + b_1) + b_2`` with GELU; ``W_1``: d_model -> d_ff, ``W_2``: d_ff -> d_model.

    ``approximate="tanh"`` is GPT-2's ``gelu_new``; ``"none"`` the exact erf GELU of BERT.
    """

    def __init__(self, d_model: int, d_ff: int, bias: bool = True, approximate: str = "none", dropout: float = 0.0):
        super().__init__()
        _check_mlp_sizes(d_model, d_ff, bias, dropout)
        check_choice("approximate", approximate, ("none", "tanh"))
        self.w1 = nn.Linear(d_model, d_ff, bias=bias)
        self.w2 = nn.Linear(d_ff, d_model, bias=bias)
        self.approximate = approximate
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """``(..., d_model) -> (..., d_model)``."""
        _check_stream("x", x, self.w1.in_features)
        return self.dropout(self.w2(F.gelu(self.w1(x), approximate=self.approximate)))


class SwiGLU(nn.Module):
    """``SwiGLU(x) = W_2 (silu(W_1 x) * W_3 x)`` (Shazeer 2020; Llama's ``down(silu(gate(x)) * up(x))``).

    ``W_1`` is Llama's ``gate_proj``, ``W_3`` its ``up_proj``, ``W_2`` its ``down_proj``.
    """

    def __init__(self, d_model: int, d_ff: int, bias: bool = False, dropout: float = 0.0):
        super().__init__()
        _check_mlp_sizes(d_model, d_ff, bias, dropout)
        self.w1 = nn.Linear(d_model, d_ff, bias=bias)
        self.w3 = nn.Linear(d_model, d_ff, bias=bias)
        self.w2 = nn.Linear(d_ff, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """``(..., d_model) -> (..., d_model)``."""
        _check_stream("x", x, self.w1.in_features)
        return self.dropout(self.w2(F.silu(self.w1(x)) * self.w3(x)))


def _check_stream(name: str, x, d_model: int, ndim: int | None = None) -> None:
    """Metadata only: ``x`` is a float tensor ``(..., d_model)`` (with ``ndim`` dims when given).

    The first line is the fast path of the forward pass (a fraction of a microsecond); only a tensor that fails it
    goes through :func:`utils.checks.check_tensor`, which says what is wrong.
    """
    if isinstance(x, Tensor) and x.is_floating_point() and x.dim() == (ndim or x.dim()) >= 1 and x.shape[-1] == d_model:
        return
    hint = f"token vectors of width d_model={d_model}; token ids go to Transformer, not to a layer"
    if ndim == 3:
        hint = f"(batch, seq_len, d_model={d_model}): token vectors, e.g. from the embeddings"
    check_tensor(name, x, ndim=ndim, min_ndim=1, dtype="float", shape=(d_model,), hint=hint)


def _check_mlp_sizes(d_model, d_ff, bias, dropout) -> None:
    check_int("d_model", d_model, minimum=1)
    check_int("d_ff", d_ff, minimum=1)
    check_bool("bias", bias)
    _check_dropout(dropout)


def _check_dropout(dropout) -> None:
    hint = "a probability in [0, 1): 0.1 drops one value in ten, 0.0 turns dropout off"
    if check_number("dropout", dropout, minimum=0.0, hint=hint) >= 1.0:
        fail(f"dropout must be < 1, got {dropout:g}", ValueError, hint)


def _check_config(config) -> TransformerConfig:
    if not isinstance(config, TransformerConfig):
        fail(f"config must be a TransformerConfig, got {describe(config)}", TypeError,
             "build one with TransformerConfig(...) or preset('tiny-gpt2'); from transformers use config_from_hf")
    return config


def make_norm(config: TransformerConfig) -> nn.Module:
    """The norm the config asks for: :class:`LayerNorm` or :class:`RMSNorm`."""
    _check_config(config)
    if config.norm == "rmsnorm":
        return RMSNorm(config.d_model, eps=config.norm_eps)
    return LayerNorm(config.d_model, eps=config.norm_eps, bias=config.bias)


def make_mlp(config: TransformerConfig) -> nn.Module:
    """The feed-forward network the config asks for: :class:`FeedForward` or :class:`SwiGLU`."""
    _check_config(config)
    if config.mlp == "swiglu":
        return SwiGLU(config.d_model, config.d_ff, bias=config.bias, dropout=config.dropout)
    approximate = "tanh" if config.mlp == "gelu_tanh" else "none"
    return FeedForward(config.d_model, config.d_ff, bias=config.bias, approximate=approximate, dropout=config.dropout)


class TransformerBlock(nn.Module):
    """One transformer layer: self-attention and a feed-forward network, each in a residual branch.

    pre-norm (GPT-2, Llama)::   x = x + Attn(norm1(x));   x = x + MLP(norm2(x))
    post-norm (BERT, 2017)::    x = norm1(x + Attn(x));   x = norm2(x + MLP(x))
    """

    def __init__(self, config: TransformerConfig):
        super().__init__()
        _check_config(config)
        self.d_model = config.d_model
        self.pre_norm = config.norm_position == "pre"
        self.attn = MultiHeadSelfAttention(
            config.d_model, config.n_heads, n_kv_heads=config.n_kv_heads, bias=config.bias, causal=config.causal,
            dropout=config.dropout,
        )
        self.norm1 = make_norm(config)
        self.mlp = make_mlp(config)
        self.norm2 = make_norm(config)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, mask: Tensor | None = None, rope: tuple[Tensor, Tensor] | None = None,
                cache: KVCache | None = None) -> Tensor:
        """``(B, T, d_model) -> (B, T, d_model)``; ``mask``, ``rope``, ``cache`` go to the attention."""
        _check_stream("x", x, self.d_model, ndim=3)
        if self.pre_norm:
            x = x + self.dropout(self.attn(self.norm1(x), mask=mask, rope=rope, cache=cache))
            return x + self.mlp(self.norm2(x))
        x = self.norm1(x + self.dropout(self.attn(x, mask=mask, rope=rope, cache=cache)))
        return self.norm2(x + self.mlp(x))


# =============================================================================================
# 3. Models
# =============================================================================================


class Transformer(nn.Module):
    """Embeddings, ``n_layers`` blocks and a final norm: the trunk of GPT-2, BERT and Llama.

    Equals ``transformers``' ``GPT2Model``, ``BertModel`` (its ``last_hidden_state``; the pooler
    is :meth:`pool`) and ``LlamaModel`` once their weights are converted (:mod:`utils.hf`).
    A post-norm model (BERT) normalises the embeddings; a pre-norm model (GPT-2, Llama) normalises
    the output of the last block instead.
    """

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = _check_config(config)
        d = config.d_model
        self.token_emb = nn.Embedding(config.vocab_size, d)
        self.pos_emb = nn.Embedding(config.max_seq_len, d) if config.positions == "learned" else None
        if config.positions == "sinusoidal":
            self.register_buffer("pos_table", sinusoidal_positions(config.max_seq_len, d), persistent=False)
        rope = config.positions == "rope"
        self.rope = RotaryEmbedding(config.d_head, config.max_seq_len, base=config.rope_base) if rope else None
        self.type_emb = nn.Embedding(config.n_token_types, d) if config.n_token_types > 0 else None
        self.emb_norm = make_norm(config) if config.norm_position == "post" else None
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(TransformerBlock(config) for _ in range(config.n_layers))
        self.final_norm = make_norm(config) if config.norm_position == "pre" else None
        self.pooler = nn.Linear(d, d) if config.pooler else None
        self.apply(_init_weights)

    def new_cache(self) -> list[KVCache]:
        """One empty :class:`~utils.attention.KVCache` per block, for :meth:`forward` ``caches=``."""
        return [KVCache() for _ in self.blocks]

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None, token_type_ids: Tensor | None = None,
                caches: list[KVCache] | None = None) -> Tensor:
        """Hidden states of the last layer.

        Args:
            input_ids: int64 ``(B, T)``.
            attention_mask: ``(B, T_total)`` of 1/0 (1 = real token), as tokenizers return it;
                ``T_total`` counts cached tokens too.
            token_type_ids: int64 ``(B, T)`` segment ids (models with ``n_token_types > 0``;
                default all 0).
            caches: from :meth:`new_cache`; updated in place, so the next call only passes the
                new tokens.

        Returns:
            float ``(B, T, d_model)``.
        """
        B, T = self._check_input_ids(input_ids)
        self._check_caches(caches)
        past_len = 0 if caches is None else caches[0].seq_len
        self._check_length(past_len, T)
        if attention_mask is not None:
            self._check_attention_mask(attention_mask, B, past_len, T)
        if token_type_ids is not None:
            self._check_token_type_ids(token_type_ids, input_ids)
        elif self.type_emb is not None:
            token_type_ids = torch.zeros_like(input_ids)
        positions = torch.arange(past_len, past_len + T, device=input_ids.device)  # (T,)
        x = self._embed(input_ids, positions, token_type_ids)  # (B, T, d_model)
        rope = self.rope(positions) if self.rope is not None else None  # (T, d_head) each
        mask = None if attention_mask is None else padding_mask(attention_mask)  # (B, 1, 1, T_total)
        for i, block in enumerate(self.blocks):
            x = block(x, mask=mask, rope=rope, cache=None if caches is None else caches[i])
        if self.final_norm is not None:
            x = self.final_norm(x)
        return x

    def _embed(self, input_ids: Tensor, positions: Tensor, token_type_ids: Tensor | None = None) -> Tensor:
        """Token (+ position, + token type) embeddings, the embedding norm of a post-norm model and dropout.

        ``input_ids`` ``(B, T)``, ``positions`` ``(T,)`` -> ``(B, T, d_model)``; the decoder of
        :class:`utils.encoder_decoder.EncoderDecoder` reuses it for the target tokens.
        """
        x = self.token_emb(input_ids)  # (B, T, d_model)
        if self.pos_emb is not None:
            x = x + self.pos_emb(positions)
        elif self.config.positions == "sinusoidal":
            x = x + self.pos_table[positions]
        if self.type_emb is not None and token_type_ids is not None:
            x = x + self.type_emb(token_type_ids)
        if self.emb_norm is not None:
            x = self.emb_norm(x)
        return self.dropout(x)

    def pool(self, hidden: Tensor) -> Tensor:
        """BERT's pooler: ``tanh(W h_0 + b)`` on the first token ([CLS]); ``(B, T, d) -> (B, d)``."""
        if self.pooler is None:
            fail("this model has no pooler", ValueError, "build it with pooler=True (BERT's setting)")
        check_tensor("hidden", hidden, ndim=3, dtype="float", shape=(self.config.d_model,),
                     hint="pass the hidden states (batch, seq_len, d_model) that the model returned")
        return torch.tanh(self.pooler(hidden[:, 0]))

    def _check_input_ids(self, input_ids: Tensor, name: str = "input_ids") -> tuple[int, int]:
        """Shape and dtype (metadata), then one min/max against vocab_size (eager mode only); returns ``(B, T)``."""
        check_tensor(name, input_ids, hint="token ids as returned by a tokenizer, e.g. torch.tensor([ids])")
        if input_ids.dim() != 2:
            fail(f"{name} must be (batch_size, seq_len), got {describe(input_ids)}", ValueError,
                 "add a batch dim with ids[None]" if input_ids.dim() == 1 else "one row of token ids per sequence")
        if input_ids.is_floating_point() or input_ids.dtype == torch.bool or input_ids.is_complex():
            fail(f"{name} must be an integer tensor (token ids), got {describe(input_ids)}", TypeError,
                 "convert it with .long()")
        if not torch.compiler.is_compiling():  # torch.compile: no graph break and no host sync for the min/max
            check_index_range(name, input_ids, self.config.vocab_size, "vocab_size",
                              hint="token ids from another tokenizer, or a config whose vocab_size is too small?")
        return input_ids.shape[0], input_ids.shape[1]

    def _check_caches(self, caches) -> None:
        if caches is None:
            return
        if not isinstance(caches, (list, tuple)) or not all(isinstance(c, KVCache) for c in caches):
            fail(f"caches must be a list of KVCache, got {describe(caches)}", TypeError,
                 "make it with model.new_cache()")
        if len(caches) != len(self.blocks):
            fail(f"caches must hold one KVCache per block ({len(self.blocks)}), got {len(caches)}", ValueError,
                 "make it with this model's new_cache()")

    def _check_attention_mask(self, attention_mask, batch_size: int, past_len: int, seq_len: int) -> None:
        check_tensor("attention_mask", attention_mask, ndim=2,
                     hint="(batch, seq_len) of 1/0 as a tokenizer returns it, 1 = real token")
        if attention_mask.is_floating_point() or attention_mask.is_complex():
            fail(f"attention_mask must hold 1/0 or True/False, got {describe(attention_mask)}", TypeError,
                 "convert it with .long() or .bool()")
        total = past_len + seq_len
        if tuple(attention_mask.shape) != (batch_size, total):
            cached = f" ({past_len} cached + {seq_len} new)" if past_len else ""
            fail(f"attention_mask must be (batch_size, seq_len) = ({batch_size}, {total}){cached} like input_ids, "
                 f"got {describe(attention_mask)}", ValueError,
                 "pass the mask the tokenizer returned with these input_ids; with a cache it covers every token so far")

    def _check_token_type_ids(self, token_type_ids, input_ids: Tensor) -> None:
        if self.type_emb is None:
            fail("token_type_ids given to a model without token type embeddings (n_token_types=0)", ValueError,
                 "drop token_type_ids, or build the config with n_token_types=2 (BERT's segments)")
        check_tensor("token_type_ids", token_type_ids, dtype="int", hint="segment ids 0/1 as a tokenizer returns them")
        if tuple(token_type_ids.shape) != tuple(input_ids.shape):
            fail(f"token_type_ids must have the shape of input_ids {tuple(input_ids.shape)}, "
                 f"got {describe(token_type_ids)}", ValueError)
        if not torch.compiler.is_compiling():
            check_index_range("token_type_ids", token_type_ids, self.config.n_token_types, "n_token_types",
                              hint="segment ids are 0 (first text) or 1 (second text)")

    def _check_length(self, past_len: int, seq_len: int) -> None:
        total = past_len + seq_len
        if total > self.config.max_seq_len:
            cached = f" ({past_len} cached + {seq_len} new)" if past_len else ""
            raise ValueError(
                f"sequence of {total} tokens{cached} is longer than the context max_seq_len="
                f"{self.config.max_seq_len}: truncate the input (e.g. input_ids[:, -{self.config.max_seq_len}:]) "
                f"or build the model with a larger max_seq_len"
            )


def _init_weights(module: nn.Module) -> None:
    """GPT-2/BERT initialisation: normal(0, 0.02) weights, zero biases; norms start at weight 1."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)


class TransformerLM(nn.Module):
    """A :class:`Transformer` with a language-model head: ``logits = h W_E^T`` (tied) or a separate
    ``lm_head``; ``transformers``' ``GPT2LMHeadModel`` and ``LlamaForCausalLM``.
    """

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = _check_config(config)
        self.transformer = Transformer(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.transformer.token_emb.weight
        else:
            nn.init.normal_(self.lm_head.weight, mean=0.0, std=0.02)

    def new_cache(self) -> list[KVCache]:
        """One empty KV cache per block (see :meth:`Transformer.new_cache`)."""
        return self.transformer.new_cache()

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, caches: list[KVCache] | None = None
    ) -> Tensor:
        """Logits ``(B, T, vocab_size)`` for ``input_ids`` ``(B, T)``; see :meth:`Transformer.forward`."""
        return self.lm_head(self.transformer(input_ids, attention_mask=attention_mask, caches=caches))


# =============================================================================================
# 4. Parameter counts from the config alone
# =============================================================================================


def parameter_breakdown(config: TransformerConfig, lm_head: bool = False) -> dict[str, int]:
    """Parameters of :class:`Transformer` (or :class:`TransformerLM` if ``lm_head``), by part.

    With V = vocab_size, P = max_seq_len, d = d_model, d_kv = n_kv_heads * d_head, f = d_ff:

    * embeddings: V d (+ P d learned positions, + S d token types, + norm),
    * attention per layer: 2 d^2 + 2 d d_kv (+ 2 d + 2 d_kv biases),
    * MLP per layer: 2 d f (+ f + d biases) with GELU, 3 d f with SwiGLU,
    * norms per layer: 2 d each for LayerNorm with bias, d for RMSNorm,
    * final norm (pre-norm models), pooler d^2 + d (BERT), untied LM head V d.

    Returns a dict of ints whose values sum to ``sum(p.numel() for p in model.parameters())``.
    """
    c = _check_config(config)
    check_bool("lm_head", lm_head)
    d, f, L = c.d_model, c.d_ff, c.n_layers
    d_kv = c.n_kv_heads * c.d_head
    norm = d * (2 if (c.norm == "layernorm" and c.bias) else 1)
    b = 1 if c.bias else 0
    embeddings = c.vocab_size * d
    embeddings += c.max_seq_len * d if c.positions == "learned" else 0
    embeddings += c.n_token_types * d
    embeddings += norm if c.norm_position == "post" else 0
    attention = 2 * d * d + 2 * d * d_kv + b * (2 * d + 2 * d_kv)
    mlp = 3 * d * f + b * (2 * f + d) if c.mlp == "swiglu" else 2 * d * f + b * (f + d)
    parts = {
        "embeddings": embeddings,
        "attention": L * attention,
        "mlp": L * mlp,
        "norms": L * 2 * norm + (norm if c.norm_position == "pre" else 0),
        "pooler": d * d + d if c.pooler else 0,
        "lm_head": c.vocab_size * d if (lm_head and not c.tie_embeddings) else 0,
    }
    return parts


def parameter_count(config: TransformerConfig, lm_head: bool = False) -> int:
    """Total parameters of the model the config builds (see :func:`parameter_breakdown`)."""
    return sum(parameter_breakdown(config, lm_head=lm_head).values())
