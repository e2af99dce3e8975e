"""Bad input to chapter 5's modules (utils.transformer, utils.generation, utils.encoder_decoder, utils.hf and its
exercise checkers): a clear error, raised in utils, that names the argument; and the behaviour the checks protect
(top_k=0 is off, init once, dropout)."""

import pytest
import torch
import transformers

import utils.encoder_decoder as encoder_decoder
import utils.exercises.transformer as exercises_transformer
import utils.generation as generation
import utils.hf as hf
import utils.transformer as tr
from bad_inputs import BadInput, assert_clear_error, case_id
from utils.exercises import ExerciseError
from utils.generation import generate

TINY = tr.preset("tiny-gpt2")  # vocab 99, max_seq_len 32, d_model 32, 4 heads, 2 layers
BERT = tr.Transformer(tr.preset("tiny-bert")).eval()
GPT = tr.TransformerLM(TINY).eval()
IDS = torch.randint(0, 99, (2, 5), generator=torch.Generator().manual_seed(0))  # (B, T) token ids
X = torch.randn(2, 5, 32)  # (B, T, d_model)
BLOCK = tr.TransformerBlock(TINY)
DECODER_BLOCK = encoder_decoder.DecoderBlock(TINY)
SEQ2SEQ = encoder_decoder.EncoderDecoder(TINY)
HF_GPT2 = transformers.GPT2Model(hf.hf_config(TINY, "gpt2")).eval()
HF_BERT_STATE = hf.to_hf(BERT, "bert").state_dict()


def _with_cache(attention_mask):
    """Three tokens cached, then two new ones: the mask must cover all five."""
    caches = GPT.new_cache()
    GPT(IDS[:, :3], caches=caches)
    return GPT(IDS[:, 3:], attention_mask=attention_mask, caches=caches)


CASES = [
    # the config and the presets
    BadInput("utils.transformer.TransformerConfig", "d_model not divisible by n_heads",
             lambda: tr.TransformerConfig(d_model=100, n_heads=12), ValueError, "n_heads"),
    BadInput("utils.transformer.TransformerConfig", "an unknown norm", lambda: tr.TransformerConfig(norm="batchnorm"),
             ValueError, "norm"),
    BadInput("utils.transformer.TransformerConfig", "an unknown norm position",
             lambda: tr.TransformerConfig(norm_position="middle"), ValueError, "norm_position"),
    BadInput("utils.transformer.TransformerConfig", "an unknown position scheme",
             lambda: tr.TransformerConfig(positions="alibi"), ValueError, "positions"),
    BadInput("utils.transformer.TransformerConfig", "a negative dropout", lambda: tr.TransformerConfig(dropout=-0.1),
             ValueError, "dropout"),
    BadInput("utils.transformer.TransformerConfig", "dropout 1 (everything dropped)",
             lambda: tr.TransformerConfig(dropout=1.0), ValueError, "dropout"),
    BadInput("utils.transformer.TransformerConfig", "a float number of layers",
             lambda: tr.TransformerConfig(n_layers=2.0), TypeError, "n_layers"),
    BadInput("utils.transformer.TransformerConfig", "a zero vocabulary", lambda: tr.TransformerConfig(vocab_size=0),
             ValueError, "vocab_size"),
    BadInput("utils.transformer.TransformerConfig", "a negative norm_eps", lambda: tr.TransformerConfig(norm_eps=-1e-5),
             ValueError, "norm_eps"),
    BadInput("utils.transformer.TransformerConfig", "causal as the text 'yes'",
             lambda: tr.TransformerConfig(causal="yes"), TypeError, "causal"),
    BadInput("utils.transformer.TransformerConfig", "n_kv_heads that does not divide n_heads",
             lambda: tr.TransformerConfig(n_kv_heads=5), ValueError, "n_kv_heads"),
    BadInput("utils.transformer.preset", "a preset that does not exist", lambda: tr.preset("gpt5"),
             ValueError, "gpt5"),
    BadInput("utils.transformer.preset", "a config instead of a name", lambda: tr.preset(TINY), TypeError, "name"),
    BadInput("utils.transformer.preset", "a change to a field the config lacks",
             lambda: tr.preset("gpt2", norm="batchnorm"), ValueError, "norm"),
    # the components
    BadInput("utils.transformer.LayerNorm", "a zero eps", lambda: tr.LayerNorm(32, eps=0.0), ValueError, "eps"),
    BadInput("utils.transformer.LayerNorm", "vectors of another width",
             lambda: tr.LayerNorm(32)(torch.randn(2, 5, 16)), ValueError, "x"),
    BadInput("utils.transformer.LayerNorm", "token ids instead of vectors", lambda: tr.LayerNorm(32)(IDS),
             TypeError, "x"),
    BadInput("utils.transformer.RMSNorm", "a width given as a float", lambda: tr.RMSNorm(32.0), TypeError, "d_model"),
    BadInput("utils.transformer.RMSNorm", "vectors of another width", lambda: tr.RMSNorm(32)(torch.randn(4, 8)),
             ValueError, "x"),
    BadInput("utils.transformer.FeedForward", "an unknown GELU approximation",
             lambda: tr.FeedForward(32, 64, approximate="fast"), ValueError, "approximate"),
    BadInput("utils.transformer.FeedForward", "vectors of another width",
             lambda: tr.FeedForward(32, 64)(torch.randn(2, 64)), ValueError, "x"),
    BadInput("utils.transformer.SwiGLU", "a negative dropout", lambda: tr.SwiGLU(32, 64, dropout=-0.5),
             ValueError, "dropout"),
    BadInput("utils.transformer.SwiGLU", "a zero hidden width", lambda: tr.SwiGLU(32, 0), ValueError, "d_ff"),
    BadInput("utils.transformer.make_norm", "a preset name instead of a config", lambda: tr.make_norm("tiny-gpt2"),
             TypeError, "config"),
    BadInput("utils.transformer.make_mlp", "a dict instead of a config", lambda: tr.make_mlp(tr.PRESETS["tiny-gpt2"]),
             TypeError, "config"),
    BadInput("utils.transformer.TransformerBlock", "a transformers config", lambda: tr.TransformerBlock(HF_GPT2.config),
             TypeError, "config"),
    BadInput("utils.transformer.TransformerBlock", "token ids instead of vectors", lambda: BLOCK(IDS),
             ValueError, "x"),
    BadInput("utils.transformer.TransformerBlock", "one sequence without its batch dim", lambda: BLOCK(X[0]),
             ValueError, "x"),
    # the models
    BadInput("utils.transformer.Transformer", "a token id >= vocab_size", lambda: BERT(torch.tensor([[1, 99]])),
             ValueError, "vocab_size"),
    BadInput("utils.transformer.Transformer", "a negative token id (a pad of -100)",
             lambda: BERT(torch.tensor([[1, -100]])), ValueError, "input_ids"),
    BadInput("utils.transformer.Transformer", "1-D input ids", lambda: BERT(IDS[0]), ValueError, "ids[None]"),
    BadInput("utils.transformer.Transformer", "float input ids", lambda: BERT(IDS.float()), TypeError, ".long()"),
    BadInput("utils.transformer.Transformer", "a list of ids", lambda: BERT([[1, 2, 3]]), TypeError, "input_ids"),
    BadInput("utils.transformer.Transformer", "an attention_mask one token short",
             lambda: BERT(IDS, attention_mask=torch.ones(2, 4, dtype=torch.long)), ValueError, "attention_mask"),
    BadInput("utils.transformer.Transformer", "an attention_mask of the wrong batch size",
             lambda: BERT(IDS, attention_mask=torch.ones(1, 5, dtype=torch.long)), ValueError, "attention_mask"),
    BadInput("utils.transformer.Transformer", "a float attention_mask",
             lambda: BERT(IDS, attention_mask=torch.ones(2, 5)), TypeError, "attention_mask"),
    BadInput("utils.transformer.Transformer", "token_type_ids of another shape",
             lambda: BERT(IDS, token_type_ids=torch.zeros(2, 4, dtype=torch.long)), ValueError, "token_type_ids"),
    BadInput("utils.transformer.Transformer", "a segment id 2 with two segments",
             lambda: BERT(IDS, token_type_ids=torch.full((2, 5), 2)), ValueError, "token_type_ids"),
    BadInput("utils.transformer.Transformer", "token_type_ids given to a GPT (silently ignored before)",
             lambda: GPT.transformer(IDS, token_type_ids=torch.zeros_like(IDS)), ValueError, "token_type_ids"),
    BadInput("utils.transformer.Transformer", "a sequence longer than max_seq_len",
             lambda: BERT(torch.zeros(1, 33, dtype=torch.long)), ValueError, "max_seq_len"),
    BadInput("utils.transformer.Transformer", "caches of another model", lambda: BERT(IDS, caches=[object()]),
             TypeError, "caches"),
    BadInput("utils.transformer.Transformer", "pool given token ids", lambda: BERT.pool(IDS), ValueError, "hidden"),
    BadInput("utils.transformer.TransformerLM", "an attention_mask that leaves out the cached tokens",
             lambda: _with_cache(torch.ones(2, 2, dtype=torch.long)), ValueError, "3 cached + 2 new"),
    BadInput("utils.transformer.TransformerLM", "a token id >= vocab_size", lambda: GPT(torch.tensor([[5, 120]])),
             ValueError, "vocab_size"),
    BadInput("utils.transformer.TransformerLM", "a config as a dict", lambda: tr.TransformerLM(tr.PRESETS["gpt2"]),
             TypeError, "config"),
    # generation
    BadInput("utils.generation.generate", "1-D input ids", lambda: generate(GPT, IDS[0], 3), ValueError,
             "ids[None]"),
    BadInput("utils.generation.generate", "a negative temperature", lambda: generate(GPT, IDS, 3, temperature=-1.0),
             ValueError, "temperature"),
    BadInput("utils.generation.generate", "a negative top_k", lambda: generate(GPT, IDS, 3, temperature=1.0,
                                                                                    top_k=-5), ValueError, "top_k"),
    BadInput("utils.generation.generate", "a float top_k", lambda: generate(GPT, IDS, 3, temperature=1.0,
                                                                                 top_k=2.5), TypeError, "top_k"),
    BadInput("utils.generation.generate", "a float number of tokens", lambda: generate(GPT, IDS, 3.0),
             TypeError, "max_new_tokens"),
    BadInput("utils.generation.generate", "a negative number of tokens", lambda: generate(GPT, IDS, -1),
             ValueError, "max_new_tokens"),
    BadInput("utils.generation.generate", "the bare Transformer (no LM head)",
             lambda: generate(GPT.transformer, IDS, 3), TypeError, "model"),
    BadInput("utils.generation.generate", "an eos id outside the vocabulary",
             lambda: generate(GPT, IDS, 3, eos_token_id=99), ValueError, "eos_token_id"),
    BadInput("utils.generation.generate", "a seed instead of a generator",
             lambda: generate(GPT, IDS, 3, temperature=1.0, generator=0), TypeError, "generator"),
    BadInput("utils.generation.generate", "prompt and new tokens past max_seq_len", lambda: generate(GPT, IDS, 30),
             ValueError, "max_seq_len"),
    # parameter counts
    BadInput("utils.transformer.parameter_breakdown", "a model instead of its config",
             lambda: tr.parameter_breakdown(GPT), TypeError, "config"),
    BadInput("utils.transformer.parameter_breakdown", "lm_head as the text 'yes'",
             lambda: tr.parameter_breakdown(TINY, lm_head="yes"), TypeError, "lm_head"),
    BadInput("utils.transformer.parameter_count", "a preset name", lambda: tr.parameter_count("gpt2"),
             TypeError, "config"),
    # the encoder-decoder
    BadInput("utils.encoder_decoder.DecoderBlock", "memory of another width",
             lambda: DECODER_BLOCK(X, torch.randn(2, 7, 16)), ValueError, "memory"),
    BadInput("utils.encoder_decoder.DecoderBlock", "memory of another batch size",
             lambda: DECODER_BLOCK(X, torch.randn(3, 7, 32)), ValueError, "memory"),
    BadInput("utils.encoder_decoder.DecoderBlock", "an attention_mask (B, S) as the memory mask",
             lambda: DECODER_BLOCK(X, torch.randn(2, 7, 32), torch.ones(2, 7, dtype=torch.bool)),
             ValueError, "memory_mask"),
    BadInput("utils.encoder_decoder.EncoderDecoder", "a target token id >= vocab_size",
             lambda: SEQ2SEQ(IDS, torch.tensor([[0, 99]] * 2)), ValueError, "tgt_ids"),
    BadInput("utils.encoder_decoder.EncoderDecoder", "1-D source ids", lambda: SEQ2SEQ(IDS[0], IDS), ValueError,
             "src_ids"),
    BadInput("utils.encoder_decoder.EncoderDecoder", "source and target of different batch sizes",
             lambda: SEQ2SEQ(IDS[:1], IDS), ValueError, "batch size"),
    BadInput("utils.encoder_decoder.EncoderDecoder", "a preset name instead of a config",
             lambda: encoder_decoder.EncoderDecoder("tiny-gpt2"), TypeError, "config"),
    # interop with transformers
    BadInput("utils.hf.convert_gpt2", "the state dict of a BERT (another family)",
             lambda: hf.convert_gpt2(HF_BERT_STATE, TINY), ValueError, "config_from_hf"),
    BadInput("utils.hf.convert_gpt2", "the model instead of its state dict", lambda: hf.convert_gpt2(HF_GPT2, TINY),
             TypeError, "state_dict"),
    BadInput("utils.hf.convert_gpt2", "the transformers config instead of ours",
             lambda: hf.convert_gpt2(HF_GPT2.state_dict(), HF_GPT2.config), TypeError, "config_from_hf"),
    BadInput("utils.hf.convert_gpt2", "a direction that does not exist",
             lambda: hf.convert_gpt2(HF_GPT2.state_dict(), TINY, to="theirs"), ValueError, "to"),
    BadInput("utils.hf.convert_bert", "the state dict of a GPT-2 (another family)",
             lambda: hf.convert_bert(HF_GPT2.state_dict(), tr.preset("tiny-bert")), ValueError, "config_from_hf"),
    BadInput("utils.hf.convert_bert", "a list of tensors", lambda: hf.convert_bert(list(HF_BERT_STATE.values()),
                                                                                   tr.preset("tiny-bert")),
             TypeError, "state_dict"),
    BadInput("utils.hf.convert_llama", "the state dict of a GPT-2 (another family)",
             lambda: hf.convert_llama(HF_GPT2.state_dict(), tr.preset("tiny-llama")), ValueError, "config_from_hf"),
    BadInput("utils.hf.config_from_hf", "the model instead of its config", lambda: hf.config_from_hf(HF_GPT2),
             TypeError, "hf_model.config"),
    BadInput("utils.hf.config_from_hf", "our config", lambda: hf.config_from_hf(TINY), TypeError, "hf_cfg"),
    BadInput("utils.hf.config_from_hf", "a dict of settings", lambda: hf.config_from_hf({"n_embd": 32}),
             TypeError, "hf_cfg"),
    BadInput("utils.hf.hf_config", "a family that does not exist", lambda: hf.hf_config(TINY, "t5"), ValueError,
             "family"),
    BadInput("utils.hf.hf_config", "the arguments swapped", lambda: hf.hf_config("gpt2", TINY), TypeError, "family"),
    BadInput("utils.hf.transformer_from_hf", "a state dict instead of the model",
             lambda: hf.transformer_from_hf(HF_GPT2.state_dict()), TypeError, "convert_gpt2"),
    BadInput("utils.hf.transformer_from_hf", "our own model", lambda: hf.transformer_from_hf(BERT), TypeError,
             "to_hf"),
    BadInput("utils.hf.lm_from_hf", "the bare GPT2Model (no head)", lambda: hf.lm_from_hf(HF_GPT2), TypeError,
             "GPT2LMHeadModel"),
    BadInput("utils.hf.lm_from_hf", "a path instead of the model", lambda: hf.lm_from_hf("gpt2"), TypeError, "hf_lm"),
    BadInput("utils.hf.to_hf", "our TransformerLM instead of its Transformer", lambda: hf.to_hf(GPT, "gpt2"),
             TypeError, "model.transformer"),
    BadInput("utils.hf.to_hf", "a family that does not exist", lambda: hf.to_hf(BERT, "roberta"), ValueError,
             "family"),
    BadInput("utils.hf.to_hf", "a transformers model", lambda: hf.to_hf(HF_GPT2, "gpt2"), TypeError, "model"),
    # chapter 5's checkers: a cell that did not run, or the answer called instead of passed
    BadInput("utils.exercises.transformer.check_rms_norm", "None (the cell did not run)",
             lambda: exercises_transformer.check_rms_norm(None), ExerciseError, "rms_norm"),
    BadInput("utils.exercises.transformer.check_rms_norm", "a function of two arguments (no eps)",
             lambda: exercises_transformer.check_rms_norm(lambda x, weight: x), ExerciseError, "eps"),
    BadInput("utils.exercises.transformer.check_swiglu", "the result of calling the answer",
             lambda: exercises_transformer.check_swiglu(torch.zeros(2, 8)), ExerciseError, "swiglu"),
    BadInput("utils.exercises.transformer.check_encoder_decoder_parameter_count", "None",
             lambda: exercises_transformer.check_encoder_decoder_parameter_count(None), ExerciseError,
             "encoder_decoder_parameter_count"),
    BadInput("utils.exercises.transformer.check_kv_cache_bytes", "a number instead of a function",
             lambda: exercises_transformer.check_kv_cache_bytes(1024), ExerciseError, "kv_cache_bytes"),
]

NO_BAD_INPUT = {
    "utils.hf.Family": "a row of utils.hf.FAMILIES, built by the module; readers reach it through the functions above",
}

DOCUMENTED = {
    "utils.transformer.Transformer": (
        "an attention_mask row of all zeros (a sequence that is only padding) gives finite vectors that mean nothing, "
        "as transformers' BertModel does (scaled_dot_product_attention with no key to attend to); kept, and the "
        "chapter compares real tokens only"
    ),
}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input_gets_a_clear_error_from_utils(case):
    assert_clear_error(case)


def test_every_public_name_of_chapter_5_has_a_case_or_a_reason():
    modules = (tr, generation, encoder_decoder, hf, exercises_transformer)
    public = {f"{m.__name__}.{name}" for m in modules for name in m.__all__
              if callable(getattr(m, name)) and getattr(m, name).__module__ == m.__name__}
    covered = {case.target for case in CASES} | set(NO_BAD_INPUT)
    assert public - covered == set()
    assert covered - public == set()


def test_an_all_padding_row_stays_finite_as_in_transformers():
    mask = torch.tensor([[1] * 5, [0] * 5])
    ours = BERT(IDS, attention_mask=mask)
    with torch.no_grad():
        theirs = hf.to_hf(BERT, "bert")(input_ids=IDS, attention_mask=mask).last_hidden_state
    assert torch.isfinite(ours).all() and torch.isfinite(theirs).all()


def test_top_k_zero_means_no_restriction_as_in_transformers():
    def sample(top_k):
        return generate(GPT, IDS, 6, temperature=1.0, top_k=top_k, generator=torch.Generator().manual_seed(3))

    assert torch.equal(sample(0), sample(None))
    assert not torch.equal(sample(1), sample(None))  # top_k=1 is greedy, so the restriction is really applied
    assert torch.equal(sample(1), generate(GPT, IDS, 6))


def test_a_decoder_with_dropout_differs_between_train_and_eval():
    torch.manual_seed(0)
    block = encoder_decoder.DecoderBlock(tr.preset("tiny-gpt2", dropout=0.5))
    memory = torch.randn(2, 7, 32)
    with torch.no_grad():
        train = block.train()(X, memory)
        evaluated = block.eval()(X, memory)
        again = block(X, memory)
    assert not torch.allclose(train, evaluated)
    assert torch.equal(evaluated, again)  # eval mode is deterministic


def test_the_encoder_decoder_initialises_its_encoder_once():
    config = tr.preset("tiny-gpt2")
    torch.manual_seed(7)
    seq2seq = encoder_decoder.EncoderDecoder(config)
    torch.manual_seed(7)
    reference = tr.Transformer(seq2seq.config)  # the encoder alone, built from the same seed
    for name, tensor in reference.state_dict().items():
        assert torch.equal(seq2seq.encoder.state_dict()[name], tensor), name
    decoder_weights = seq2seq.decoder_blocks[0].mlp.w1.weight
    assert abs(decoder_weights.std().item() - 0.02) < 0.005  # the decoder got GPT-2's normal(0, 0.02) too


def test_the_entry_checks_leave_torch_compile_one_graph():
    for model, kwargs in ((GPT, {}), (BERT, {"token_type_ids": torch.zeros_like(IDS)})):
        explanation = torch._dynamo.explain(model)(IDS, **kwargs)
        assert explanation.graph_break_count == 0, explanation.break_reasons
