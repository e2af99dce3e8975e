"""Tests for utils.transformer, utils.generation and utils.encoder_decoder at tiny random configs (fast; no downloads).

Every model is pinned to ``transformers``: GPT2Model, BertModel and LlamaModel (grouped-query,
n_kv_heads < n_heads), converted in both directions; float32 max abs difference <= 1e-5 (TOL).
Also: norms and MLPs against their references, parameter formulas against ``numel`` (meta device)
and the published sizes, the KV cache against generation without it, cross-attention against
``nn.MultiheadAttention``, and the error messages.
"""

import dataclasses

import pytest
import torch
import transformers
from torch import nn

from utils.attention import CrossAttention, KVCache
from utils.encoder_decoder import DecoderBlock, EncoderDecoder
from utils.generation import generate
from utils.hf import (
    FAMILIES,
    Family,
    config_from_hf,
    convert_bert,
    convert_gpt2,
    convert_llama,
    hf_config,
    lm_from_hf,
    to_hf,
    transformer_from_hf,
)
from utils.transformer import (
    FeedForward,
    LayerNorm,
    RMSNorm,
    SwiGLU,
    Transformer,
    TransformerBlock,
    TransformerConfig,
    TransformerLM,
    make_mlp,
    make_norm,
    parameter_breakdown,
    parameter_count,
    preset,
)

# Float32 max abs difference. Measured: the largest difference at these tiny configs is 2.4e-7, with 1 and with 2
# torch threads (chapter 5 prints both); 1e-5 leaves a factor 40 and is far below what one wrong weight changes.
TOL = 1e-5
TINY = {"gpt2": "tiny-gpt2", "bert": "tiny-bert", "llama": "tiny-llama"}  # a tiny preset per family of FAMILIES


def max_abs(a, b):
    return (a - b).abs().max().item()


def randomize(model: nn.Module, std: float = 0.2) -> nn.Module:
    """Every parameter random (norm weights and biases too), so no term can hide behind a zero or a one."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * std)
    return model.eval()


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def hf_trunk(family: str):
    cls = getattr(transformers, FAMILIES[family].model_class)
    return randomize(cls(hf_config(preset(TINY[family]), family)))


# ---------------------------------------------------------------- components


def test_layernorm_matches_torch_and_formula():
    x = torch.randn(2, 5, 16)
    ours = randomize(LayerNorm(16, eps=1e-5))
    ref = nn.LayerNorm(16, eps=1e-5)
    ref.load_state_dict(ours.state_dict())
    mean, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)
    formula = (x - mean) / torch.sqrt(var + 1e-5) * ours.weight + ours.bias
    assert max_abs(ours(x), ref(x)) <= TOL
    assert max_abs(ours(x), formula) <= TOL


def test_rmsnorm_matches_llama_and_torch():
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    x = torch.randn(2, 5, 16)
    ours = randomize(RMSNorm(16, eps=1e-6))
    ref = LlamaRMSNorm(16, eps=1e-6)
    ref.load_state_dict(ours.state_dict())
    assert max_abs(ours(x), ref(x)) <= TOL
    torch_ref = nn.RMSNorm(16, eps=1e-6)
    torch_ref.load_state_dict(ours.state_dict())
    assert max_abs(ours(x), torch_ref(x)) <= TOL


def test_feedforward_matches_gpt2_and_bert_mlps():
    x = torch.randn(2, 5, 32)
    gpt2 = hf_trunk("gpt2").h[0].mlp
    ours = FeedForward(32, 64, approximate="tanh")
    ours.load_state_dict({"w1.weight": gpt2.c_fc.weight.t(), "w1.bias": gpt2.c_fc.bias,
                          "w2.weight": gpt2.c_proj.weight.t(), "w2.bias": gpt2.c_proj.bias})  # fmt: skip
    assert max_abs(ours.eval()(x), gpt2(x)) <= TOL
    bert = hf_trunk("bert").encoder.layer[0]
    ours = FeedForward(32, 64, approximate="none")
    ours.load_state_dict({"w1.weight": bert.intermediate.dense.weight, "w1.bias": bert.intermediate.dense.bias,
                          "w2.weight": bert.output.dense.weight, "w2.bias": bert.output.dense.bias})  # fmt: skip
    ref = bert.output.dense(bert.intermediate(x))  # BERT's MLP before its residual + LayerNorm
    assert max_abs(ours.eval()(x), ref) <= TOL


def test_swiglu_matches_llama_mlp():
    llama = hf_trunk("llama").layers[0].mlp
    ours = SwiGLU(32, 64)
    ours.load_state_dict({"w1.weight": llama.gate_proj.weight, "w3.weight": llama.up_proj.weight,
                          "w2.weight": llama.down_proj.weight})  # fmt: skip
    x = torch.randn(2, 5, 32)
    assert max_abs(ours(x), llama(x)) <= TOL


@pytest.mark.parametrize("norm_position", ["pre", "post"])
def test_block_residual_wiring(norm_position):
    config = preset("tiny-gpt2", norm_position=norm_position)
    block = randomize(TransformerBlock(config))
    x = torch.randn(2, 6, 32)
    a = block.attn(block.norm1(x) if norm_position == "pre" else x)
    if norm_position == "pre":
        h = x + a
        expected = h + block.mlp(block.norm2(h))
    else:
        h = block.norm1(x + a)
        expected = block.norm2(h + block.mlp(h))
    assert max_abs(block(x), expected) <= TOL


# ---------------------------------------------------------------- tiny equivalences, both directions


def _inputs(config: TransformerConfig):
    gen = torch.Generator().manual_seed(3)
    ids = torch.randint(0, config.vocab_size, (3, 11), generator=gen)
    attention_mask = torch.ones(3, 11, dtype=torch.long)
    attention_mask[1, 7:] = 0  # one padded sequence
    token_types = torch.zeros(3, 11, dtype=torch.long)
    token_types[:, 5:] = 1
    return ids, attention_mask, token_types


def _compare(family: str, ours: Transformer, hf) -> float:
    ids, attention_mask, token_types = _inputs(ours.config)
    keep = attention_mask.bool()  # compare the real tokens only: a padded position is read by nothing
    extra = {"token_type_ids": token_types} if family == "bert" else {}
    with torch.no_grad():
        diffs = [max_abs(ours(ids), hf(ids).last_hidden_state)]
        out = hf(ids, attention_mask=attention_mask, **extra)
        hidden = ours(ids, attention_mask=attention_mask, **extra)
        diffs.append((hidden - out.last_hidden_state)[keep].abs().max().item())
        if family == "bert":
            diffs.append(max_abs(ours.pool(hidden), out.pooler_output))  # [CLS], a real token
    return max(diffs)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_tiny_hf_to_ours(family):
    hf = hf_trunk(family)
    ours = transformer_from_hf(hf)
    if family == "llama":
        assert ours.config.n_kv_heads < ours.config.n_heads  # grouped-query attention is exercised
    assert _compare(family, ours, hf) <= TOL


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_tiny_ours_to_hf(family):
    ours = randomize(Transformer(preset(TINY[family])))
    hf = to_hf(ours, family)
    assert _compare(family, ours, hf) <= TOL


@pytest.mark.parametrize("family,convert", [("gpt2", convert_gpt2), ("bert", convert_bert), ("llama", convert_llama)])
def test_converters_round_trip_exactly(family, convert):
    config = preset(TINY[family])
    ours = randomize(Transformer(config)).state_dict()
    back = convert(convert(ours, config, to="hf"), config, to="ours")
    assert back.keys() == ours.keys()
    assert all(torch.equal(back[k], ours[k]) for k in ours)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_config_from_hf_round_trips(family):
    name = {"gpt2": "gpt2", "bert": "bert-base", "llama": "smollm2-135m"}[family]
    for config in [preset(TINY[family]), preset(name), preset(TINY[family], dropout=0.1, n_layers=3, d_ff=80)]:
        hf_cfg = hf_config(config, family)
        assert isinstance(hf_cfg, getattr(transformers, FAMILIES[family].config_class))
        assert config_from_hf(hf_cfg) == config


def test_families_table_names_real_fields_and_classes():
    ours = {f.name for f in dataclasses.fields(TransformerConfig)}
    for name, family in FAMILIES.items():
        assert isinstance(family, Family) and family.model_type == name
        assert set(family.fields) <= ours and set(family.switches) <= ours
        assert not set(family.fields) & set(family.switches)  # a field is read from the config or fixed, not both
        for cls in [family.model_class, family.lm_class, family.config_class]:
            assert cls is None or hasattr(transformers, cls)
        written = hf_config(preset(TINY[name]), name)
        plain = [attr for ours, attrs in family.fields.items() if ours not in family.readers for attr in attrs]
        assert all(hasattr(written, attr) for attr in plain)  # the others are read by a reader of their own


def test_config_from_hf_reads_the_transformers_defaults():
    gpt2 = config_from_hf(transformers.GPT2Config())  # n_inner=None means 4 * n_embd
    assert (gpt2.d_ff, gpt2.n_layers, gpt2.tie_embeddings, gpt2.dropout) == (3072, 12, True, 0.1)
    llama = config_from_hf(transformers.LlamaConfig(num_key_value_heads=None, num_attention_heads=8))
    assert llama.n_kv_heads == 8 and llama.norm == "rmsnorm" and not llama.bias


def test_config_from_hf_refuses_what_we_do_not_implement():
    with pytest.raises(NotImplementedError, match=r"activation_function='relu'"):
        config_from_hf(transformers.GPT2Config(activation_function="relu"))
    with pytest.raises(NotImplementedError, match=r"hidden_act='gelu_new'"):
        config_from_hf(transformers.BertConfig(hidden_act="gelu_new"))
    with pytest.raises(NotImplementedError, match=r"attention_bias and mlp_bias must be equal"):
        config_from_hf(transformers.LlamaConfig(attention_bias=True, mlp_bias=False))
    with pytest.raises(NotImplementedError, match=r"model_type 't5'"):
        config_from_hf(transformers.T5Config())
    with pytest.raises(ValueError, match=r"family must be one of"):
        hf_config(preset("tiny-gpt2"), "gpt3")


@pytest.mark.parametrize("family", ["gpt2", "llama"])
@pytest.mark.parametrize("tied", [True, False])
def test_lm_logits_match_hf(family, tied):
    config = preset(TINY[family], tie_embeddings=tied)
    cls = getattr(transformers, FAMILIES[family].lm_class)
    hf = randomize(cls(hf_config(config, family)))
    ours = lm_from_hf(hf)
    assert ours.config.tie_embeddings == tied
    ids, _, _ = _inputs(config)
    with torch.no_grad():
        assert max_abs(ours(ids), hf(ids).logits) <= TOL


# ---------------------------------------------------------------- parameter counts


@pytest.mark.parametrize(
    "name", ["gpt2", "bert-base", "smollm2-135m", "minilm", "tiny-gpt2", "tiny-bert", "tiny-llama"]
)
def test_parameter_count_equals_numel_on_meta(name):
    config = preset(name)
    with torch.device("meta"):
        trunk, lm = Transformer(config), TransformerLM(config)
    assert next(trunk.parameters()).is_meta  # no memory was used
    assert parameter_count(config) == sum(p.numel() for p in trunk.parameters())
    assert parameter_count(config, lm_head=True) == sum(p.numel() for p in lm.parameters())


@pytest.mark.parametrize("name,family", [("gpt2", "gpt2"), ("bert-base", "bert"), ("smollm2-135m", "llama")])
def test_parameter_count_equals_transformers(name, family):
    config = preset(name)
    with torch.device("meta"):
        hf = getattr(transformers, FAMILIES[family].model_class)(hf_config(config, family))
    assert parameter_count(config) == sum(p.numel() for p in hf.parameters())


@pytest.mark.parametrize(
    "name,key,exact",
    [("gpt2", "gpt2_small_params_corrected", 124_439_808), ("bert-base", "bert_base_params", 109_482_240),
     ("smollm2-135m", "smollm2_135m_params", 134_515_008)],
)  # fmt: skip
def test_parameter_count_matches_published_sizes(name, key, exact):
    from utils.cited import figure

    config = preset(name)
    count = parameter_count(config, lm_head=config.causal)
    assert count == exact  # golden value
    assert abs(count - figure(key)) / figure(key) < 0.01  # the paper's rounded figure


def test_parameter_breakdown_parts():
    parts = parameter_breakdown(preset("gpt2"))
    assert parts["embeddings"] == (50257 + 1024) * 768
    assert parts["attention"] == 12 * (4 * 768 * 768 + 4 * 768)
    assert parts["mlp"] == 12 * (2 * 768 * 3072 + 3072 + 768)
    assert parts["pooler"] == 0 and parts["lm_head"] == 0


# ---------------------------------------------------------------- KV cache and generation


@pytest.mark.parametrize("name", ["tiny-gpt2", "tiny-llama"])
def test_incremental_forward_with_cache_equals_full_forward(name):
    model = randomize(TransformerLM(preset(name)), std=0.1)
    ids = torch.randint(0, 99, (2, 12))
    with torch.no_grad():
        full = model(ids)
        caches = model.new_cache()
        steps = [model(ids[:, :5], caches=caches)] + [model(ids[:, t : t + 1], caches=caches) for t in range(5, 12)]
    assert caches[0].seq_len == 12
    assert max_abs(torch.cat(steps, dim=1), full) <= TOL


@pytest.mark.parametrize("name", ["tiny-gpt2", "tiny-llama"])
def test_generate_with_cache_equals_without(name):
    model = randomize(TransformerLM(preset(name)), std=0.1)
    prompt = torch.randint(0, 99, (2, 4))
    with_cache = generate(model, prompt, max_new_tokens=15, use_cache=True)
    without = generate(model, prompt, max_new_tokens=15, use_cache=False)
    assert with_cache.shape == (2, 19)
    assert torch.equal(with_cache, without)
    assert torch.equal(with_cache[:, :4], prompt)
    sampled = [
        generate(model, prompt, 10, temperature=0.8, top_k=5, generator=torch.Generator().manual_seed(7), use_cache=c)
        for c in (True, False)
    ]
    assert torch.equal(sampled[0], sampled[1])


def test_generate_matches_hf_greedy():
    hf = randomize(transformers.LlamaForCausalLM(hf_config(preset("tiny-llama"), "llama")), std=0.1)
    ours = lm_from_hf(hf)
    prompt = torch.randint(0, 99, (1, 5))
    ref = hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=10, do_sample=False,
                      eos_token_id=None, pad_token_id=0)  # fmt: skip
    assert torch.equal(generate(ours, prompt, 10), ref)


def test_generate_stops_at_eos():
    model = randomize(TransformerLM(preset("tiny-gpt2")), std=0.1)
    prompt = torch.randint(0, 99, (1, 3))
    first = int(generate(model, prompt, 1)[0, -1])
    out = generate(model, prompt, 10, eos_token_id=first)
    assert out.shape == (1, 4) and int(out[0, -1]) == first


# ---------------------------------------------------------------- encoder-decoder and cross-attention


def test_cross_attention_matches_nn_multihead_attention():
    ours = randomize(CrossAttention(32, 4))
    ref = nn.MultiheadAttention(32, 4, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        ref.out_proj.load_state_dict(ours.out_proj.state_dict())
    x, memory = torch.randn(2, 5, 32), torch.randn(2, 9, 32)
    keep = torch.ones(2, 9, dtype=torch.bool)
    keep[1, 6:] = False
    with torch.no_grad():
        expected, _ = ref(x, memory, memory, key_padding_mask=~keep)
        assert max_abs(ours(x, memory, keep[:, None, None, :]), expected) <= TOL


def test_encoder_decoder_shapes_and_causality():
    model = randomize(EncoderDecoder(preset("tiny-gpt2")), std=0.1)
    src, tgt = torch.randint(0, 99, (2, 7)), torch.randint(0, 99, (2, 5))
    with torch.no_grad():
        logits = model(src, tgt)
        changed_tgt = tgt.clone()
        changed_tgt[:, 3] = (tgt[:, 3] + 1) % 99
        changed = model(src, changed_tgt)
        changed_src = model((src + 1) % 99, tgt)
    assert logits.shape == (2, 5, 99)
    assert max_abs(logits[:, :3], changed[:, :3]) <= TOL  # the decoder cannot see later target tokens
    assert max_abs(logits[:, 3:], changed[:, 3:]) > 1e-3
    assert max_abs(logits, changed_src) > 1e-3  # every target position reads the source


# ---------------------------------------------------------------- errors that say what to change


def test_d_model_not_divisible_by_n_heads():
    with pytest.raises(ValueError, match=r"d_model=100 is not divisible by n_heads=12.*Change n_heads"):
        TransformerConfig(d_model=100, n_heads=12)
    with pytest.raises(ValueError, match=r"n_heads=12 is not divisible by n_kv_heads=5.*Choose n_kv_heads"):
        TransformerConfig(n_kv_heads=5)


def test_bad_switch_values():
    with pytest.raises(ValueError, match=r"norm must be one of 'layernorm', 'rmsnorm', got 'batchnorm'"):
        TransformerConfig(norm="batchnorm")
    with pytest.raises(ValueError, match=r"positions must be one of"):
        TransformerConfig(positions="alibi")
    with pytest.raises(ValueError, match=r"unknown preset 'gpt5'"):
        preset("gpt5")


def test_sequence_longer_than_context():
    model = TransformerLM(preset("tiny-gpt2"))
    with pytest.raises(ValueError, match=r"sequence of 33 tokens is longer than the context max_seq_len=32: truncate"):
        model(torch.zeros(1, 33, dtype=torch.long))
    caches = model.new_cache()
    model(torch.zeros(1, 30, dtype=torch.long), caches=caches)
    with pytest.raises(ValueError, match=r"sequence of 33 tokens \(30 cached \+ 3 new\) is longer than the context"):
        model(torch.zeros(1, 3, dtype=torch.long), caches=caches)
    with pytest.raises(ValueError, match=r"prompt \(30 tokens\) \+ max_new_tokens \(5\) = 35 exceeds the context"):
        generate(model, torch.zeros(1, 30, dtype=torch.long), 5)


def test_bad_input_ids():
    model = Transformer(preset("tiny-bert"))
    with pytest.raises(ValueError, match=r"input_ids must be \(batch_size, seq_len\), got tensor \(5,\).*ids\[None\]"):
        model(torch.zeros(5, dtype=torch.long))
    with pytest.raises(TypeError, match=r"input_ids must be an integer tensor"):
        model(torch.zeros(1, 5))


def test_state_dict_with_missing_keys():
    config = preset("tiny-gpt2")
    state = hf_trunk("gpt2").state_dict()
    del state["h.1.mlp.c_fc.weight"]
    with pytest.raises(ValueError, match=r"missing keys \(1\): h\.1\.mlp\.c_fc\.weight") as info:
        convert_gpt2(state, config)
    assert "what to change" in str(info.value)
    two_layers = hf_trunk("bert").state_dict()
    with pytest.raises(ValueError, match=r"the checkpoint has 2 layers: set n_layers=2"):
        convert_bert(two_layers, dataclasses.replace(preset("tiny-bert"), n_layers=3))
    with pytest.raises(ValueError, match=r"no pooler: build the config with pooler=False"):
        convert_bert({k: v for k, v in two_layers.items() if not k.startswith("pooler")}, preset("tiny-bert"))


def test_state_dict_with_unexpected_keys():
    lm = transformers.LlamaForCausalLM(hf_config(preset("tiny-llama"), "llama"))
    with pytest.raises(ValueError, match=r"(?s)unexpected keys.*strip the prefix 'model\.'"):
        convert_llama({k: v for k, v in lm.state_dict().items() if k != "lm_head.weight"}, preset("tiny-llama"))
    with pytest.raises(ValueError, match=r"the checkpoint has 2 layers: set n_layers=2"):
        convert_llama(lm.model.state_dict(), preset("tiny-llama", n_layers=1))
    with pytest.raises(ValueError, match=r"checkpoint has biases: build the config with bias=True"):
        convert_gpt2(hf_trunk("gpt2").state_dict(), preset("tiny-gpt2", bias=False))
    ours = Transformer(preset("tiny-gpt2")).state_dict()
    ours["blocks.0.attn.extra"] = torch.zeros(1)
    expected = r"(?s)our gpt2 state dict does not match.*unexpected keys \(1\): blocks\.0\.attn\.extra"
    with pytest.raises(ValueError, match=expected):
        convert_gpt2(ours, preset("tiny-gpt2"), to="hf")
    with pytest.raises(ValueError, match=r"to must be 'ours'"):
        convert_gpt2(ours, preset("tiny-gpt2"), to="transformers")


def test_kv_cache_count_checked():
    model = Transformer(preset("tiny-gpt2"))
    with pytest.raises(ValueError, match=r"one KVCache per block \(2\), got 1"):
        model(torch.zeros(1, 3, dtype=torch.long), caches=[KVCache()])


def test_uninitialised_model_keeps_buffers_and_tie():
    from utils.hf import _uninitialised

    for name, changes in [("tiny-gpt2", {"positions": "sinusoidal"}), ("tiny-llama", {})]:
        config = preset(name, **changes)
        fresh, empty = TransformerLM(config), _uninitialised(TransformerLM, config)
        fresh_buffers, empty_buffers = dict(fresh.named_buffers()), dict(empty.named_buffers())
        assert fresh_buffers.keys() == empty_buffers.keys() and fresh_buffers  # pos_table or inv_freq
        assert all(torch.equal(fresh_buffers[k], empty_buffers[k]) for k in fresh_buffers)
        assert empty.lm_head.weight is empty.transformer.token_emb.weight
        assert not any(p.is_meta for p in empty.parameters())


def test_make_norm_and_make_mlp_follow_the_switches():
    assert isinstance(make_norm(preset("tiny-gpt2")), LayerNorm)
    assert isinstance(make_norm(preset("tiny-llama")), RMSNorm)
    assert make_norm(preset("tiny-gpt2", bias=False)).bias is None
    assert isinstance(make_mlp(preset("tiny-llama")), SwiGLU)
    gelu = make_mlp(preset("tiny-bert"))
    assert isinstance(gelu, FeedForward) and gelu.approximate == "none"
    assert make_mlp(preset("tiny-gpt2")).approximate == "tanh"


def test_decoder_block_wiring():
    block = randomize(DecoderBlock(preset("tiny-gpt2")), std=0.1)
    x, memory = torch.randn(2, 5, 32), torch.randn(2, 7, 32)
    with torch.no_grad():
        h = x + block.self_attn(block.norm1(x))
        h = h + block.cross_attn(block.norm2(h), memory)
        expected = h + block.mlp(block.norm3(h))
        assert max_abs(block(x, memory), expected) <= TOL
        assert block.self_attn.causal


def test_chapter5_plot_helpers():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from utils.plotting import plot_depth_profile, plot_parameter_breakdown

    fig, (ax1, ax2) = plt.subplots(1, 2)
    breakdowns = {name: parameter_breakdown(preset(name)) for name in ["gpt2", "bert-base"]}
    plot_parameter_breakdown(ax1, breakdowns)
    assert len(ax1.patches) == 2 * 5  # two models x the five non-empty parts (lm_head is empty in both)
    assert ax1.get_legend() is not None
    plot_depth_profile(ax2, {"pre": [1.0, 2.0, 3.0], "post": [1.0, 1.0, 1.0]}, "RMS")
    assert len(ax2.lines) == 2 and ax2.get_yscale() == "log"
    plt.close(fig)
