"""utils.classifiers and utils.predictions: pooling, the head against transformers, fine-tuning through the loop,
label-word scoring against full forward passes, and saved predictions that load back and match their config."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

import utils.predictions as predictions
from utils.classifiers import (
    DigitMLP,
    EncodedTexts,
    FineTuneRecipe,
    FineTuneResult,
    PromptScorer,
    SequenceClassifier,
    SmallCNN,
    best_threshold,
    classification_loss,
    count_parameters,
    embed_texts,
    encode_texts,
    few_shot_examples,
    fine_tune,
    label_word_log_probs,
    load_text_dataset,
    mean_pool,
    predict_probs,
    set_trainable,
)
from utils.data import minilm_dir, smollm2_float32_dir
from utils.lora import LoRALinear
from utils.hf import transformer_from_hf
from utils.transformer import Transformer, TransformerLM, preset


def _classifier(pooling="mean", seed=0):
    torch.manual_seed(seed)
    return SequenceClassifier(Transformer(preset("tiny-bert")), 2, pooling=pooling)


def _encoded(n=6, T=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 99, (n, T), generator=g)
    lengths = torch.randint(2, T + 1, (n,), generator=g)
    mask = (torch.arange(T)[None] < lengths[:, None]).long()
    return EncodedTexts(ids * mask, mask)


# ---------------------------------------------------------------------------- pooling and the head


def test_mean_pool_is_the_mean_of_the_real_tokens():
    hidden = torch.randn(3, 5, 4)
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]])
    out = mean_pool(hidden, mask)
    assert torch.allclose(out[0], hidden[0, :2].mean(0)) and torch.allclose(out[1], hidden[1].mean(0))
    assert torch.equal(out[2], torch.zeros(4))  # a row without real tokens: zeros, not NaN


def test_a_sentence_pools_the_same_alone_and_padded_in_a_batch():
    model = _classifier().eval()
    enc = _encoded()
    with torch.no_grad():
        batch = model.pool(enc.input_ids, enc.attention_mask)
        for i in range(len(enc)):
            n = int(enc.attention_mask[i].sum())
            alone = model.pool(enc.input_ids[i: i + 1, :n], enc.attention_mask[i: i + 1, :n])
            # float32: the same sums over differently shaped products, a few roundings at values of order 1.
            assert (alone[0] - batch[i]).abs().max() < 1e-5


def test_pooler_head_equals_bert_for_sequence_classification():
    torch.manual_seed(0)
    hf = BertForSequenceClassification(BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2,
                                                  num_attention_heads=4, intermediate_size=64, num_labels=3,
                                                  hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)).eval()
    ours = SequenceClassifier(transformer_from_hf(hf), 3, pooling="pooler")
    with torch.no_grad():
        ours.head.weight.copy_(hf.classifier.weight)
        ours.head.bias.copy_(hf.classifier.bias)
        enc = _encoded()
        gap = (ours(enc.input_ids, enc.attention_mask) - hf(input_ids=enc.input_ids,
                                                            attention_mask=enc.attention_mask).logits).abs().max()
    assert gap < 1e-5  # float32 through two layers and the pooler; the two only order their sums differently


def test_first_token_pooling_takes_the_first_hidden_state():
    model = _classifier("first").eval()
    enc = _encoded()
    with torch.no_grad():
        hidden = model.encoder(enc.input_ids, attention_mask=enc.attention_mask)
        assert torch.equal(model.pool(enc.input_ids, enc.attention_mask), hidden[:, 0])


# ---------------------------------------------------------------------------- sentences as tensors


def test_encode_texts_with_a_transformers_tokenizer_matches_the_tokenizer():
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    texts = ["A gem.", "An overlong, tedious film that never finds its footing " * 3]
    enc = encode_texts(tokenizer, texts, max_len=16)
    ids, mask = enc.rows(torch.arange(2))
    assert enc.input_ids.shape == (2, 16) and ids.shape[1] == 16
    assert enc.input_ids[0, : int(enc.attention_mask[0].sum())].tolist() == tokenizer("A gem.")["input_ids"]
    ids0, mask0 = enc.rows(torch.tensor([0]))
    assert ids0.shape == (1, len(tokenizer("A gem.")["input_ids"])) and mask0.all()


def test_encode_texts_with_the_course_tokenizer_adds_cls_and_sep(tmp_path):
    from utils.tokenizer import Tokenizer, train_bpe

    specials = ["[PAD]", "[CLS]", "[SEP]", "[MASK]"]
    path = tmp_path / "corpus.txt"
    path.write_text("a good film and a bad film " * 50, encoding="utf-8")
    vocab, merges = train_bpe(path, 280, specials)
    tokenizer = Tokenizer(vocab, merges, specials)
    enc = encode_texts(tokenizer, ["a good film", "bad"], max_len=8)
    pad, cls, sep = (tokenizer.encode(t)[0] for t in specials[:3])
    body = tokenizer.encode("a good film")
    assert enc.input_ids[0, : len(body) + 2].tolist() == [cls, *body, sep]
    assert enc.input_ids[1, int(enc.attention_mask[1].sum()):].eq(pad).all()


# ---------------------------------------------------------------------------- fine-tuning


def _toy_task(n=128, seed=0):
    """Class 1 when token 7 is in the sentence: a task a tiny encoder learns in a few dozen steps."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(10, 99, (n, 8), generator=g)
    labels = torch.randint(0, 2, (n,), generator=g)
    ids[labels == 1, 3] = 7
    return EncodedTexts(ids, torch.ones_like(ids)), labels.numpy()


def test_fine_tune_learns_a_toy_task_through_the_loop():
    enc, labels = _toy_task()
    model = _classifier()
    result = fine_tune(model, enc, labels, FineTuneRecipe(lr=3e-3, epochs=10, batch_size=16), device="cpu")
    assert isinstance(result, FineTuneResult) and result.steps == 80 == result.history.steps
    probs = predict_probs(model, enc)
    assert np.allclose(probs.sum(1), 1.0) and np.mean(probs.argmax(1) == labels) > 0.95
    loss, n = classification_loss(model, (enc.input_ids, enc.attention_mask, torch.from_numpy(labels)))
    assert n == len(labels) and loss.item() < 0.3


@pytest.mark.parametrize("method", ["head", "lora", "last_layers", "full"])
def test_set_trainable_trains_what_it_says_and_nothing_else(method):
    enc, labels = _toy_task(32)
    model = _classifier()
    n_trainable = set_trainable(model, method, n_last=1, lora_rank=2)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    fine_tune(model, enc, labels, FineTuneRecipe(lr=1e-2, epochs=1, batch_size=16), device="cpu")
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert changed <= trainable and "head.weight" in changed
    assert n_trainable == sum(p.numel() for n, p in model.named_parameters() if n in trainable)
    d = 32
    expected = {"head": 2 * d + 2, "lora": 2 * d + 2 + 2 * 4 * 2 * (d + d),
                "last_layers": 2 * d + 2 + sum(p.numel() for p in model.encoder.blocks[-1].parameters())
                + d * d + d, "full": count_parameters(model)}[method]
    assert n_trainable == expected


def test_lora_on_all_linear_layers_adds_the_feed_forward_adapters():
    model = _classifier()
    n_trainable = set_trainable(model, "lora", lora_rank=2, lora_targets="all-linear")
    d, d_ff, blocks = 32, preset("tiny-bert").d_ff, 2
    assert n_trainable == 2 * d + 2 + blocks * 2 * (4 * (d + d) + 2 * (d + d_ff))  # rank 2: r (in + out) per layer
    wrapped = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, LoRALinear)}
    assert wrapped == {"q_proj", "k_proj", "v_proj", "out_proj", "w1", "w2"}


def test_count_parameters_counts_tied_weights_once():
    lm = TransformerLM(preset("tiny-gpt2"))
    assert count_parameters(lm) == sum(p.numel() for n, p in lm.named_parameters())
    assert count_parameters(lm) == sum(p.numel() for p in lm.transformer.parameters())  # the head is tied


def test_embed_texts_equals_pooling_each_sentence_alone():
    torch.manual_seed(0)
    encoder = Transformer(preset("tiny-bert")).eval()
    enc = _encoded()
    out = embed_texts(encoder, enc, batch_size=4)
    with torch.no_grad():
        for i in range(len(enc)):
            n = int(enc.attention_mask[i].sum())
            alone = encoder(enc.input_ids[i: i + 1, :n]).mean(dim=1)[0]
            assert np.abs(out[i] - alone.numpy()).max() < 1e-5  # float32 rounding, as in the pooling test


def test_fine_tune_recipe_counts_steps():
    assert FineTuneRecipe(epochs=2, batch_size=32).steps(100) == 7
    assert FineTuneRecipe(epochs=0.1, batch_size=32).steps(10) == 2  # at least two: one warm-up, one decay


# ---------------------------------------------------------------------------- label words


@pytest.fixture(scope="module")
def smol_tokenizer():
    return AutoTokenizer.from_pretrained(smollm2_float32_dir())


def test_label_word_scores_equal_full_forward_passes(smol_tokenizer):
    torch.manual_seed(0)
    lm = TransformerLM(preset("tiny-llama", vocab_size=smol_tokenizer.vocab_size, max_seq_len=128)).eval()
    words = (" negative", " positive")
    prefix = "Is it positive or negative?\n\n"
    suffixes = ["Review: a gem\nSentiment:", "Review: dull, long and empty\nSentiment:"]
    cached = PromptScorer(lm, smol_tokenizer, prefix, words).log_probs(suffixes, batch_size=2)
    uncached = label_word_log_probs(lm, smol_tokenizer, [prefix + s for s in suffixes], words, batch_size=1)
    word_ids = [smol_tokenizer.encode(w)[0] for w in words]
    with torch.no_grad():
        for i, s in enumerate(suffixes):
            # The scorer tokenizes prefix and suffix apart; the plain function tokenizes the whole prompt.
            apart = torch.tensor([smol_tokenizer.encode(prefix) + smol_tokenizer.encode(s)])
            whole = torch.tensor([smol_tokenizer.encode(prefix + s)])
            for ours, ids in ((cached[i], apart), (uncached[i], whole)):
                reference = lm(ids)[0, -1].log_softmax(-1)[word_ids].double().numpy()
                # float32 log-softmax over 49k logits; the paths differ in padding and cache only: 1e-5 is ~100 eps.
                assert np.abs(ours - reference).max() < 1e-5


def test_best_threshold_is_the_most_accurate_cut():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    scores = labels * 2.0 + rng.normal(size=400) + 3.0  # a model biased towards the positive word
    t = best_threshold(scores, labels)
    grid = np.linspace(scores.min() - 1, scores.max() + 1, 4001)
    best_on_grid = max(np.mean((scores > g) == labels) for g in grid)
    assert np.mean((scores > t) == labels) >= best_on_grid
    assert np.mean((scores > t) == labels) > np.mean((scores > 0) == labels)
    assert 3.0 < t < 5.0  # near the midpoint 4 of the two shifted classes


# ---------------------------------------------------------------------------- saved predictions


@pytest.fixture
def tmp_predictions(tmp_path, monkeypatch):
    monkeypatch.setattr(predictions, "predictions_dir", lambda: tmp_path)
    return tmp_path


def test_saved_predictions_load_back_and_match_their_config(tmp_predictions):
    loaded = predictions.classifier_predictions("movie-tfidf", quick=True)  # nothing saved: recomputed and saved
    recipe = predictions.default_recipe("movie-tfidf", True)
    assert loaded["config"]["recipe"] == predictions.recipe_config(recipe)
    assert loaded["config"]["recipe"]["kind"] == "TfidfRecipe" and loaded["config"]["recipe"]["Cs"] == list(recipe.Cs)
    assert set(loaded["probs"]) == {"val", "test", *predictions.SHIFT_DOMAINS}
    val_texts, val_labels = predictions.load_text_dataset("movie").split("val")
    rows = loaded["rows"]["val"]
    assert len(rows) == recipe.eval_subset and np.array_equal(loaded["labels"]["val"], np.asarray(val_labels)[rows])
    again = predictions.classifier_predictions("movie-tfidf", quick=True)  # now loaded, not recomputed
    assert all(np.array_equal(again["probs"][s], loaded["probs"][s]) for s in loaded["probs"])
    assert (tmp_predictions / "movie-tfidf-quick.json").is_file()
    assert predictions.load_predictions("movie-tfidf", quick=False) is None  # the full-mode file is another one


def test_a_saved_file_that_no_longer_matches_its_config_is_refused(tmp_predictions):
    recipe = predictions.ImageRecipe("mlp", steps=5)
    run = predictions.run_recipe(recipe, "cpu")
    assert run.probs["test"].shape == (500, 10) and isinstance(run, predictions.ClassifierRun)
    predictions.save_predictions("mnist-mlp", run, recipe, quick=True)
    assert predictions.load_predictions("mnist-mlp", True)["config"]["accuracy"]["test"] == run.accuracy("test")
    arrays = dict(np.load(tmp_predictions / "mnist-mlp-quick.npz"))
    arrays["probs/test"] = arrays["probs/test"][:, ::-1].copy()  # probabilities swapped between classes
    np.savez(tmp_predictions / "mnist-mlp-quick.npz", **arrays)
    with pytest.raises(ValueError, match="do not match their config"):
        predictions.load_predictions("mnist-mlp", True)


def test_every_prediction_name_has_a_default_recipe():
    kinds = {type(predictions.default_recipe(n, True)).__name__ for n in predictions.PREDICTION_NAMES}
    assert kinds == {"TfidfRecipe", "FrozenRecipe", "TextRecipe", "PromptRecipe", "ImageRecipe"}
    assert isinstance(predictions.default_recipe("movie-minilm-frozen", False), predictions.FrozenRecipe)
    assert predictions.predictions_dir is not None


def test_image_models_have_the_stated_shapes():
    images = torch.rand(3, 28, 28)
    assert SmallCNN()(images).shape == (3, 10) and DigitMLP()(images).shape == (3, 10)
    assert predictions.SmallCNN is SmallCNN  # still importable from where chapter 8 first had it


def test_few_shot_examples_alternate_labels_from_the_training_split():
    text = few_shot_examples(4)
    answers = [line.rsplit(" ", 1)[-1] for line in text.strip().split("\n") if line.startswith("Sentiment:")]
    assert answers == ["negative", "positive", "negative", "positive"]
    train_texts, _ = load_text_dataset("movie").split("train")
    first = text.split("\n")[0].removeprefix("Review: ")
    assert first in train_texts


def test_text_recipe_runs_the_twins_to_the_same_predictions():
    recipe = predictions.TextRecipe("sms", "minilm", "full", lr=5e-5, epochs=1, batch_size=4, train_subset=8,
                                    eval_subset=8, eval_splits=("val",))
    ours = predictions.run_recipe(recipe, "cpu")
    theirs = predictions.run_recipe(dataclasses.replace(recipe, model="minilm-hf"), "cpu")
    # Two optimizer steps of float32 training: the twins differ by rounding only (~1e-7 relative per operation).
    assert np.abs(ours.probs["val"] - theirs.probs["val"]).max() < 1e-4
    assert ours.n_trainable == theirs.n_trainable


# ---------------------------------------------------------------------------- saved fine-tuned classifiers


def _saved_sms_classifier(method="full"):
    """A MiniLM fine-tuned for two steps on 8 SMS messages, saved as chapter 8 saves it (predictions and weights)."""
    recipe = predictions.TextRecipe("sms", "minilm", method, lr=1e-3, epochs=1, batch_size=4, train_subset=8,
                                    eval_subset=8, eval_splits=("val",))
    run = predictions.run_recipe(recipe, "cpu")
    predictions.save_predictions("sms-minilm-finetuned", run, recipe, quick=True)
    return run, recipe


def test_a_saved_classifier_loads_back_with_equal_logits(tmp_predictions):
    run, recipe = _saved_sms_classifier()
    model, tokenizer, config = predictions.finetuned_classifier("sms-minilm", quick=True)
    assert (tmp_predictions / "sms-minilm-finetuned-quick.safetensors").is_file()
    assert config["recipe"] == predictions.recipe_config(recipe) and config["label_names"] == ["ham", "spam"]
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    texts = ["WINNER!! Claim your free prize now", "see you at lunch?", "ok"]
    encoded = encode_texts(tokenizer, texts, config["max_len"])
    with torch.no_grad():
        loaded = model(encoded.input_ids, encoded.attention_mask)
        trained = run.model.eval()(encoded.input_ids, encoded.attention_mask)
    assert loaded.shape == (3, 2) and torch.equal(loaded, trained)  # the same weights, the same operations
    val_texts = predictions.load_text_dataset("sms").split("val")[0]
    probs = predict_probs(model, encode_texts(tokenizer, [val_texts[i] for i in run.rows["val"]], config["max_len"]))
    assert np.array_equal(probs, run.probs["val"])  # the saved predictions are this model's


def test_a_saved_lora_classifier_holds_only_what_trained(tmp_predictions):
    recipe = predictions.TextRecipe("movie", "minilm", "lora", lr=1e-3, epochs=1, batch_size=4, train_subset=8,
                                    eval_subset=8, eval_splits=("val",))
    run = predictions.run_recipe(recipe, "cpu")
    predictions.save_predictions("movie-minilm-lora", run, recipe, quick=True)
    model, _, _ = predictions.finetuned_classifier("movie-minilm-lora", quick=True)
    from safetensors.torch import load_file

    saved = load_file(str(tmp_predictions / "movie-minilm-lora-quick.safetensors"))
    assert sum(t.numel() for t in saved.values()) == run.n_trainable < 0.02 * count_parameters(model)
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in saved.items())
    assert all(torch.equal(state[k], v) for k, v in run.model.state_dict().items())


def test_a_saved_classifier_whose_config_no_longer_matches_is_refused(tmp_predictions):
    _saved_sms_classifier()
    meta = tmp_predictions / "sms-minilm-finetuned-quick.weights.json"
    config = json.loads(meta.read_text())
    for field, value, message in (("method", "lora", "trains"), ("lr", 5e-5, "saved predictions"),
                                  ("dataset", "bbc", "trains")):
        changed = {**config, "recipe": {**config["recipe"], field: value}}
        meta.write_text(json.dumps(changed))
        with pytest.raises(ValueError, match=f"does not match its config: .*{message}"):
            predictions.finetuned_classifier("sms-minilm", quick=True)
    (tmp_predictions / "sms-minilm-finetuned-quick.json").unlink()  # no predictions to compare with: the shapes
    meta.write_text(json.dumps({**config, "recipe": {**config["recipe"], "pooling": "mean", "lora_rank": 4,
                                                     "method": "full"}, "label_names": ["a", "b", "c"]}))
    with pytest.raises(ValueError, match="not the .* trainable parameters"):
        predictions.finetuned_classifier("sms-minilm", quick=True)


def test_fine_tune_steps_with_the_fused_adamw_and_the_loop_s_decay():
    from utils.classifiers import _fused_adamw
    from utils.training import TrainConfig

    config = TrainConfig(max_steps=4, lr=1e-3, weight_decay=0.01, betas=(0.9, 0.999), device="cpu")
    optimizer, _ = _fused_adamw(_classifier(), config)
    assert all(group["fused"] for group in optimizer.param_groups)  # not the per-tensor loop: fused=None overridden
    assert [group["weight_decay"] for group in optimizer.param_groups] == [0.01, 0.0]  # matrices; biases and norms
    assert all(group["betas"] == (0.9, 0.999) for group in optimizer.param_groups)
