"""Interop with Hugging Face ``transformers``: configs and weights of GPT-2, BERT and Llama, both directions.

Everything this module knows about a family sits in one row of :data:`FAMILIES` (a :class:`Family`): the
``transformers`` classes (bare model, model with a language-model head, config), the rules that rename its weights
into ours, and the map between our :class:`~utils.transformer.TransformerConfig` fields and its config attributes.
Both directions are derived from that one row:

* configs: :func:`config_from_hf` (theirs -> ours) and :func:`hf_config` (ours -> theirs);
* weights: :func:`convert_gpt2`, :func:`convert_bert`, :func:`convert_llama` (``to="ours"`` or ``to="hf"``);
* models: :func:`transformer_from_hf`, :func:`lm_from_hf` (theirs -> ours) and :func:`to_hf` (ours -> theirs).

A rule lists our key(s), their key and whether to transpose. A rule with three of our keys is a fused tensor
(GPT-2's ``c_attn`` holds q, k and v side by side). GPT-2 stores its linear layers as ``Conv1D``, whose weight is
``(in, out)``: the transpose of ``nn.Linear``'s ``(out, in)``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from utils.attention import RotaryEmbedding, sinusoidal_positions
from utils.checks import describe, fail
from utils.transformer import Transformer, TransformerConfig, TransformerLM

__all__ = [
    "Family",
    "FAMILIES",
    "convert_gpt2",
    "convert_bert",
    "convert_llama",
    "config_from_hf",
    "hf_config",
    "transformer_from_hf",
    "lm_from_hf",
    "to_hf",
]


# =============================================================================================
# 1. Weight-renaming rules, one function per family
# =============================================================================================


@dataclass(frozen=True)
class _Rule:
    ours: tuple[str, ...]
    hf: str
    transpose: bool = False


def _linear(ours: str, hf: str, bias: bool, transpose: bool = False) -> list[_Rule]:
    rules = [_Rule((f"{ours}.weight",), f"{hf}.weight", transpose)]
    return rules + ([_Rule((f"{ours}.bias",), f"{hf}.bias")] if bias else [])


def _norm(ours: str, hf: str, config: TransformerConfig) -> list[_Rule]:
    return _linear(ours, hf, bias=config.norm == "layernorm" and config.bias)


def _gpt2_rules(config: TransformerConfig) -> list[_Rule]:
    rules = [_Rule(("token_emb.weight",), "wte.weight"), _Rule(("pos_emb.weight",), "wpe.weight")]
    for i in range(config.n_layers):
        ours, hf = f"blocks.{i}", f"h.{i}"
        qkv = tuple(f"{ours}.attn.{p}_proj" for p in "qkv")
        rules += _norm(f"{ours}.norm1", f"{hf}.ln_1", config)
        rules += [_Rule(tuple(f"{n}.weight" for n in qkv), f"{hf}.attn.c_attn.weight", transpose=True)]
        rules += [_Rule(tuple(f"{n}.bias" for n in qkv), f"{hf}.attn.c_attn.bias")]
        rules += _linear(f"{ours}.attn.out_proj", f"{hf}.attn.c_proj", True, transpose=True)
        rules += _norm(f"{ours}.norm2", f"{hf}.ln_2", config)
        rules += _linear(f"{ours}.mlp.w1", f"{hf}.mlp.c_fc", True, transpose=True)
        rules += _linear(f"{ours}.mlp.w2", f"{hf}.mlp.c_proj", True, transpose=True)
    return rules + _norm("final_norm", "ln_f", config)


def _bert_rules(config: TransformerConfig) -> list[_Rule]:
    rules = [
        _Rule(("token_emb.weight",), "embeddings.word_embeddings.weight"),
        _Rule(("pos_emb.weight",), "embeddings.position_embeddings.weight"),
        _Rule(("type_emb.weight",), "embeddings.token_type_embeddings.weight"),
    ]
    rules += _norm("emb_norm", "embeddings.LayerNorm", config)
    for i in range(config.n_layers):
        ours, hf = f"blocks.{i}", f"encoder.layer.{i}"
        for p, name in zip("qkv", ("query", "key", "value")):
            rules += _linear(f"{ours}.attn.{p}_proj", f"{hf}.attention.self.{name}", True)
        rules += _linear(f"{ours}.attn.out_proj", f"{hf}.attention.output.dense", True)
        rules += _norm(f"{ours}.norm1", f"{hf}.attention.output.LayerNorm", config)
        rules += _linear(f"{ours}.mlp.w1", f"{hf}.intermediate.dense", True)
        rules += _linear(f"{ours}.mlp.w2", f"{hf}.output.dense", True)
        rules += _norm(f"{ours}.norm2", f"{hf}.output.LayerNorm", config)
    return rules + (_linear("pooler", "pooler.dense", True) if config.pooler else [])


def _llama_rules(config: TransformerConfig) -> list[_Rule]:
    rules = [_Rule(("token_emb.weight",), "embed_tokens.weight")]
    for i in range(config.n_layers):
        ours, hf = f"blocks.{i}", f"layers.{i}"
        for p, name in (("q", "q"), ("k", "k"), ("v", "v"), ("out", "o")):
            rules += _linear(f"{ours}.attn.{p}_proj", f"{hf}.self_attn.{name}_proj", config.bias)
        for w, name in (("w1", "gate_proj"), ("w3", "up_proj"), ("w2", "down_proj")):
            rules += _linear(f"{ours}.mlp.{w}", f"{hf}.mlp.{name}", config.bias)
        rules += _norm(f"{ours}.norm1", f"{hf}.input_layernorm", config)
        rules += _norm(f"{ours}.norm2", f"{hf}.post_attention_layernorm", config)
    return rules + _norm("final_norm", "norm", config)


# =============================================================================================
# 2. Config readers where transformers stores a value in more than one way
# =============================================================================================


def _rope_theta(hf_cfg) -> float:
    """RoPE base from a Llama config of any transformers version (4.x ``rope_theta``, 5.x ``rope_parameters``)."""
    params = getattr(hf_cfg, "rope_parameters", None) or {}
    scaling = getattr(hf_cfg, "rope_scaling", None) or {}
    rope_type = params.get("rope_type", scaling.get("rope_type", scaling.get("type", "default")))
    if rope_type not in (None, "default"):
        raise NotImplementedError(f"RoPE scaling {rope_type!r} is not implemented; only the default RoPE is")
    return float(params.get("rope_theta", getattr(hf_cfg, "rope_theta", 10000.0)))


def _set_rope_theta(hf_cfg, config: TransformerConfig) -> None:
    if _rope_theta(hf_cfg) != config.rope_base:  # a transformers version that ignores the rope_theta keyword
        hf_cfg.rope_parameters = {"rope_type": "default", "rope_theta": config.rope_base}


def _llama_bias(hf_cfg) -> bool:
    if getattr(hf_cfg, "attention_bias", False) != getattr(hf_cfg, "mlp_bias", False):
        raise NotImplementedError("attention_bias and mlp_bias must be equal (our config has one bias switch)")
    return bool(getattr(hf_cfg, "attention_bias", False))


def _check_llama_head_dim(hf_cfg) -> None:
    head_dim = getattr(hf_cfg, "head_dim", None) or hf_cfg.hidden_size // hf_cfg.num_attention_heads
    if head_dim * hf_cfg.num_attention_heads != hf_cfg.hidden_size:
        raise NotImplementedError("only Llama configs with head_dim = hidden_size / num_attention_heads are supported")


# =============================================================================================
# 3. The table of families
# =============================================================================================


@dataclass(frozen=True)
class Family:
    """One ``transformers`` model family and how it maps onto :class:`~utils.transformer.TransformerConfig`.

    ``fields`` maps each of our config fields to the ``transformers`` config attributes that hold it: the first
    is read, all are written. ``readers`` replace the plain read where ``transformers`` stores a value in more than
    one way. ``switches`` are our settings that every model of the family has. ``hf_settings`` are the
    ``transformers`` settings our classes implement (attribute -> accepted values; reading checks them, writing
    sets the first). ``check`` raises for a ``transformers`` config we cannot represent; ``after_write`` fixes up a
    written config. ``ignored_keys`` match state-dict buffers that hold no learned weight.
    """

    model_type: str  # transformers' config.model_type
    model_class: str  # the bare model: GPT2Model, BertModel, LlamaModel
    lm_class: str | None  # the model with a causal LM head (None: BERT has none)
    config_class: str
    rules: Callable[[TransformerConfig], list[_Rule]]
    fields: dict[str, tuple[str, ...]]
    switches: dict[str, object]
    hf_settings: dict[str, tuple]
    ignored_keys: re.Pattern
    readers: dict[str, Callable] = field(default_factory=dict)
    check: Callable[[object], None] | None = None
    after_write: Callable[[object, TransformerConfig], None] | None = None

    def convert(self, state_dict: dict[str, Tensor], config: TransformerConfig, to: str) -> dict[str, Tensor]:
        """Rename (and fuse/split, transpose) a state dict ``to="ours"`` or ``to="hf"``; ValueError on a key mismatch."""
        _check_state_dict(state_dict, self)
        _check_our_config(config)
        return _convert(state_dict, self.rules(config), to, self)

    def read_config(self, hf_cfg) -> TransformerConfig:
        """Our config from this family's ``transformers`` config."""
        _check_hf_config(hf_cfg)
        for attr, accepted in self.hf_settings.items():
            value = getattr(hf_cfg, attr, accepted[0])
            if value not in accepted:
                raise NotImplementedError(f"{self.model_type} with {attr}={value!r}: only {accepted} is supported")
        if self.check is not None:
            self.check(hf_cfg)
        values = {ours: self.readers[ours](hf_cfg) if ours in self.readers else getattr(hf_cfg, attrs[0])
                  for ours, attrs in self.fields.items()}  # fmt: skip
        return TransformerConfig(**self.switches, **values)

    def write_config(self, config: TransformerConfig):
        """This family's ``transformers`` config for our config."""
        import transformers

        _check_our_config(config)
        values = {attr: getattr(config, ours) for ours, attrs in self.fields.items() for attr in attrs}
        settings = {attr: accepted[0] for attr, accepted in self.hf_settings.items()}
        hf_cfg = getattr(transformers, self.config_class)(**values, **settings)
        if self.after_write is not None:
            self.after_write(hf_cfg, config)
        return hf_cfg


FAMILIES: dict[str, Family] = {
    "gpt2": Family(
        model_type="gpt2", model_class="GPT2Model", lm_class="GPT2LMHeadModel", config_class="GPT2Config",
        rules=_gpt2_rules,
        fields={"vocab_size": ("vocab_size",), "max_seq_len": ("n_positions",), "d_model": ("n_embd",),
                "n_layers": ("n_layer",), "n_heads": ("n_head",), "d_ff": ("n_inner",),
                "norm_eps": ("layer_norm_epsilon",), "tie_embeddings": ("tie_word_embeddings",),
                "dropout": ("resid_pdrop", "embd_pdrop", "attn_pdrop")},
        readers={"d_ff": lambda h: h.n_inner or 4 * h.n_embd,
                 "tie_embeddings": lambda h: bool(getattr(h, "tie_word_embeddings", True))},
        switches=dict(norm="layernorm", norm_position="pre", mlp="gelu_tanh", positions="learned", causal=True),
        hf_settings={"activation_function": ("gelu_new", "gelu_pytorch_tanh")},
        ignored_keys=re.compile(r"h\.\d+\.attn\.(bias|masked_bias)$"),
    ),
    "bert": Family(
        model_type="bert", model_class="BertModel", lm_class=None, config_class="BertConfig",
        rules=_bert_rules,
        fields={"vocab_size": ("vocab_size",), "max_seq_len": ("max_position_embeddings",),
                "d_model": ("hidden_size",), "n_layers": ("num_hidden_layers",),
                "n_heads": ("num_attention_heads",), "d_ff": ("intermediate_size",), "norm_eps": ("layer_norm_eps",),
                "n_token_types": ("type_vocab_size",),
                "dropout": ("hidden_dropout_prob", "attention_probs_dropout_prob")},
        switches=dict(norm="layernorm", norm_position="post", mlp="gelu", positions="learned", causal=False,
                      pooler=True, tie_embeddings=False),
        hf_settings={"hidden_act": ("gelu",), "position_embedding_type": ("absolute",)},
        ignored_keys=re.compile(r"embeddings\.(position_ids|token_type_ids)$"),
    ),
    "llama": Family(
        model_type="llama", model_class="LlamaModel", lm_class="LlamaForCausalLM", config_class="LlamaConfig",
        rules=_llama_rules,
        fields={"vocab_size": ("vocab_size",), "max_seq_len": ("max_position_embeddings",),
                "d_model": ("hidden_size",), "n_layers": ("num_hidden_layers",),
                "n_heads": ("num_attention_heads",), "n_kv_heads": ("num_key_value_heads",),
                "d_ff": ("intermediate_size",), "norm_eps": ("rms_norm_eps",), "rope_base": ("rope_theta",),
                "bias": ("attention_bias", "mlp_bias"), "tie_embeddings": ("tie_word_embeddings",),
                "dropout": ("attention_dropout",)},
        readers={"n_kv_heads": lambda h: h.num_key_value_heads or h.num_attention_heads, "rope_base": _rope_theta,
                 "bias": _llama_bias, "tie_embeddings": lambda h: bool(getattr(h, "tie_word_embeddings", False))},
        switches=dict(norm="rmsnorm", norm_position="pre", mlp="swiglu", positions="rope", causal=True),
        hf_settings={"hidden_act": ("silu",)},
        ignored_keys=re.compile(r"(layers\.\d+\.self_attn\.)?rotary_emb\.inv_freq$"),
        check=_check_llama_head_dim,
        after_write=_set_rope_theta,
    ),
}


def _family(name: str) -> Family:
    if not isinstance(name, str):
        fail(f"family must be a family's name, one of {sorted(FAMILIES)}, got {describe(name)}", TypeError,
             "e.g. to_hf(model, 'gpt2')")
    if name not in FAMILIES:
        fail(f"family must be one of {sorted(FAMILIES)}, got {name!r}")
    return FAMILIES[name]


def _check_state_dict(state_dict, family: Family) -> None:
    if isinstance(state_dict, nn.Module):
        fail(f"state_dict must be a dict of tensors, got the model {type(state_dict).__name__}", TypeError,
             "pass hf_model.base_model.state_dict(), or convert the whole model with transformer_from_hf")
    if not isinstance(state_dict, dict) or not all(isinstance(v, Tensor) for v in state_dict.values()):
        fail(f"state_dict must be a dict of name -> tensor, got {describe(state_dict)}", TypeError,
             f"pass model.state_dict() of a {family.model_class} (to='ours') or of our Transformer (to='hf')")


def _check_our_config(config) -> None:
    if not isinstance(config, TransformerConfig):
        fail(f"config must be our TransformerConfig, got {describe(config)}", TypeError,
             "read a transformers config with config_from_hf(hf_model.config)")


def _check_hf_config(hf_cfg) -> None:
    if isinstance(hf_cfg, TransformerConfig):
        fail("hf_cfg is already our TransformerConfig; config_from_hf reads a transformers config", TypeError,
             "use it as it is, or hf_config(config, family) for the other direction")
    if isinstance(hf_cfg, nn.Module) and hasattr(hf_cfg, "config"):
        fail(f"hf_cfg must be a transformers config, got the model {type(hf_cfg).__name__}", TypeError,
             "pass hf_model.config")
    if not isinstance(getattr(hf_cfg, "model_type", None), str):
        fail(f"hf_cfg must be a transformers config (GPT2Config, BertConfig, LlamaConfig), got {describe(hf_cfg)}",
             TypeError, "pass hf_model.config, or AutoConfig.from_pretrained(path)")


def _family_of(hf_model, name: str = "hf_model") -> Family:
    if isinstance(hf_model, (Transformer, TransformerLM)):
        fail(f"{name} is already our {type(hf_model).__name__}; this converts a transformers model", TypeError,
             "use it as it is, or to_hf(model, family) for the other direction")
    if isinstance(hf_model, dict):
        fail(f"{name} must be a transformers model, got a dict (a state dict?)", TypeError,
             "for a state dict use convert_gpt2 / convert_bert / convert_llama with a config")
    if not isinstance(hf_model, nn.Module) or not isinstance(getattr(getattr(hf_model, "config", None),
                                                                      "model_type", None), str):
        fail(f"{name} must be a transformers model (e.g. GPT2Model.from_pretrained(...)), got {describe(hf_model)}",
             TypeError, "load one with AutoModel.from_pretrained(path)")
    kind = hf_model.config.model_type
    if kind not in FAMILIES:
        raise NotImplementedError(f"model_type {kind!r}: supported are {sorted(FAMILIES)}")
    return FAMILIES[kind]


# =============================================================================================
# 4. Weights: the converters
# =============================================================================================


def convert_gpt2(state_dict: dict[str, Tensor], config: TransformerConfig, to: str = "ours") -> dict[str, Tensor]:
    """Convert GPT-2 weights: ``to="ours"`` from a ``GPT2Model`` state dict to a :class:`Transformer`
    state dict; ``to="hf"`` the other way. Splits/fuses ``c_attn`` and transposes the Conv1D weights.

    Raises ValueError naming the missing or unexpected keys and what to change in the config.
    """
    return FAMILIES["gpt2"].convert(state_dict, config, to)


def convert_bert(state_dict: dict[str, Tensor], config: TransformerConfig, to: str = "ours") -> dict[str, Tensor]:
    """Convert BERT weights between a ``BertModel`` state dict and a :class:`Transformer` one
    (``to="ours"`` or ``to="hf"``); a pure renaming. Raises ValueError on missing/unexpected keys.
    """
    return FAMILIES["bert"].convert(state_dict, config, to)


def convert_llama(state_dict: dict[str, Tensor], config: TransformerConfig, to: str = "ours") -> dict[str, Tensor]:
    """Convert Llama weights between a ``LlamaModel`` state dict and a :class:`Transformer` one
    (``to="ours"`` or ``to="hf"``); gate/up/down become ``w1``/``w3``/``w2``. Raises ValueError on
    missing/unexpected keys.
    """
    return FAMILIES["llama"].convert(state_dict, config, to)


def _convert(state_dict: dict[str, Tensor], rules: list[_Rule], to: str, family: Family) -> dict[str, Tensor]:
    """Apply ``rules`` to ``state_dict`` in the direction ``to`` ('ours' or 'hf'), checking the keys."""
    if to not in ("ours", "hf"):
        fail(f"to must be 'ours' (from transformers) or 'hf' (to transformers), got {describe(to)}")
    if to == "ours":
        expected = [r.hf for r in rules]
        given = [k for k in state_dict if not family.ignored_keys.match(k)]
    else:
        expected = [k for r in rules for k in r.ours]
        given = list(state_dict)
    _check_keys(given, expected, family.model_type, source="transformers" if to == "ours" else "our")
    out: dict[str, Tensor] = {}
    for rule in rules:
        if to == "ours":
            tensor = state_dict[rule.hf]
            tensor = tensor.t() if rule.transpose else tensor
            for key, part in zip(rule.ours, tensor.chunk(len(rule.ours), dim=0)):
                out[key] = part.contiguous()
        else:
            tensor = torch.cat([state_dict[k] for k in rule.ours], dim=0)
            out[rule.hf] = (tensor.t() if rule.transpose else tensor).contiguous()
    return out


def _check_keys(given: list[str], expected: list[str], family: str, source: str) -> None:
    """Raise ValueError listing missing and unexpected keys, with a hint at what to change."""
    missing = [k for k in expected if k not in set(given)]
    unexpected = [k for k in given if k not in set(expected)]
    if not missing and not unexpected:
        return
    lines = [f"the {source} {family} state dict does not match the config:"]
    if missing:
        lines.append(f"  missing keys ({len(missing)}): {_preview(missing)}")
    if unexpected:
        lines.append(f"  unexpected keys ({len(unexpected)}): {_preview(unexpected)}")
    lines.append("  what to change: " + _key_hint(missing, unexpected))
    raise ValueError("\n".join(lines))


def _preview(keys: list[str], n: int = 4) -> str:
    return ", ".join(keys[:n]) + (f", ... ({len(keys) - n} more)" if len(keys) > n else "")


def _layer_index(key: str) -> int | None:
    found = re.search(r"(?:^|\.)(?:h|layer|layers|blocks)\.(\d+)\.", key)
    return int(found.group(1)) if found else None


def _key_hint(missing: list[str], unexpected: list[str]) -> str:
    """A sentence saying what most likely causes the mismatch and how to fix it."""
    if unexpected and missing:
        prefix = unexpected[0].split(".")[0] + "."
        if set(missing) <= {k[len(prefix) :] for k in unexpected if k.startswith(prefix)}:
            return (
                f"the keys start with {prefix!r}: this is the state dict of a model with a head; pass "
                f"hf_model.base_model.state_dict() instead, or strip the prefix {prefix!r}"
            )
    if missing and not unexpected and all(k.startswith("pooler") for k in missing):
        return "the checkpoint has no pooler: build the config with pooler=False"
    if unexpected and not missing and all(k.startswith("pooler") for k in unexpected):
        return "the checkpoint has a pooler: build the config with pooler=True"
    if missing and not unexpected and all(k.endswith(".bias") for k in missing):
        return "the checkpoint has no biases: build the config with bias=False"
    if unexpected and not missing and all(k.endswith(".bias") for k in unexpected):
        return "the checkpoint has biases: build the config with bias=True"
    layers_missing = {_layer_index(k) for k in missing}
    layers_extra = {_layer_index(k) for k in unexpected}
    if unexpected and None not in layers_extra and not missing:
        n = max(layers_extra) + 1
        return f"the checkpoint has {n} layers: set n_layers={n} (config_from_hf(hf_model.config) reads every size)"
    if missing and None not in layers_missing and not unexpected:
        n = min(layers_missing)
        return f"the checkpoint has {n} layers: set n_layers={n} (config_from_hf(hf_model.config) reads every size)"
    return (
        "build the config from the checkpoint's own config with config_from_hf(hf_model.config), and pass the "
        "state dict of the matching family (GPT2Model, BertModel or LlamaModel)"
    )


# =============================================================================================
# 5. Configs and whole models, both directions
# =============================================================================================


def config_from_hf(hf_cfg) -> TransformerConfig:
    """Our config from a ``transformers`` ``GPT2Config``, ``BertConfig`` or ``LlamaConfig`` (read through :data:`FAMILIES`)."""
    _check_hf_config(hf_cfg)
    kind = hf_cfg.model_type
    if kind not in FAMILIES:
        raise NotImplementedError(f"model_type {kind!r}: supported are {sorted(FAMILIES)}")
    return FAMILIES[kind].read_config(hf_cfg)


def hf_config(config: TransformerConfig, family: str):
    """The ``transformers`` config (``GPT2Config``, ``BertConfig`` or ``LlamaConfig``) of our config."""
    return _family(family).write_config(config)


def _uninitialised(cls: type[nn.Module], config: TransformerConfig) -> nn.Module:
    """``cls(config)`` on the CPU without the random initialisation (its weights are about to be overwritten).

    Built on the meta device, then given empty memory; the buffers that are not weights (RoPE frequencies,
    sinusoidal table) are recomputed and the tied head is tied again.
    """
    with torch.device("meta"):
        model = cls(config)
    model = model.to_empty(device="cpu")
    for module in model.modules():
        if isinstance(module, RotaryEmbedding):
            module.inv_freq.copy_(RotaryEmbedding(module.d_head, module.max_seq_len, base=module.base).inv_freq)
        if isinstance(module, Transformer) and config.positions == "sinusoidal":
            module.pos_table.copy_(sinusoidal_positions(config.max_seq_len, config.d_model))
    if isinstance(model, TransformerLM) and config.tie_embeddings:
        model.lm_head.weight = model.transformer.token_emb.weight
    return model


def transformer_from_hf(hf_model) -> Transformer:
    """Our :class:`Transformer` holding the weights of a ``transformers`` GPT-2, BERT or Llama model
    (the bare model or one with a head; the head is dropped). Same dtype as ``hf_model``, eval mode.
    """
    family = _family_of(hf_model)
    config = config_from_hf(hf_model.config)
    base = hf_model.base_model
    if family.model_type == "bert" and getattr(base, "pooler", None) is None:
        config = dataclasses.replace(config, pooler=False)
    model = _uninitialised(Transformer, config)
    model.load_state_dict(family.convert(base.state_dict(), config, to="ours"))
    dtype = next(hf_model.parameters()).dtype
    return model.to(dtype).eval()


def lm_from_hf(hf_lm) -> TransformerLM:
    """Our :class:`TransformerLM` from ``GPT2LMHeadModel`` or ``LlamaForCausalLM`` (tied or untied head), eval mode."""
    family = _family_of(hf_lm, name="hf_lm")
    if family.lm_class is None:
        fail(f"{family.model_class} has no causal LM head", ValueError, "use transformer_from_hf for it")
    if getattr(hf_lm, "get_output_embeddings", lambda: None)() is None:
        fail(f"hf_lm must be a model with a language-model head, got the bare {type(hf_lm).__name__}", TypeError,
             f"load {family.lm_class}, or use transformer_from_hf for a bare model")
    config = config_from_hf(hf_lm.config)
    head = hf_lm.get_output_embeddings().weight
    tied = head.data_ptr() == hf_lm.get_input_embeddings().weight.data_ptr()
    config = dataclasses.replace(config, tie_embeddings=tied)
    model = _uninitialised(TransformerLM, config)
    model.transformer.load_state_dict(family.convert(hf_lm.base_model.state_dict(), config, to="ours"))
    if not tied:
        model.lm_head.weight.data.copy_(head.data)
    return model.to(head.dtype).eval()


def to_hf(model: Transformer, family: str):
    """A ``transformers`` ``GPT2Model``, ``BertModel`` or ``LlamaModel`` holding our model's weights, eval mode."""
    import transformers

    spec = _family(family)
    if isinstance(model, TransformerLM):
        fail("model must be our Transformer (the bare model), got a TransformerLM", TypeError,
             "pass model.transformer")
    if not isinstance(model, Transformer):
        fail(f"model must be our Transformer, got {describe(model)}", TypeError,
             "a transformers model is already one; convert ours with to_hf(our_model, family)")
    config = model.config
    kwargs = {"add_pooling_layer": config.pooler} if spec.model_type == "bert" else {}
    hf_model = getattr(transformers, spec.model_class)(hf_config(config, family), **kwargs)
    hf_state = spec.convert(model.state_dict(), config, to="hf")
    hf_model.load_state_dict(hf_state, strict=False)  # not strict: some versions keep buffers in the state dict
    missing = [k for k, _ in hf_model.named_parameters() if k not in hf_state]
    if missing:
        raise ValueError(f"{family}: transformers parameters without a converted weight: {_preview(missing)}")
    return hf_model.to(next(model.parameters()).dtype).eval()
