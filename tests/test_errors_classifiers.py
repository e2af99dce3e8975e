"""Bad input to chapter 8's modules (classifiers, predictions, lora, metrics): a clear error, raised in utils."""

import numpy as np
import pytest
import torch
from torch import nn

import utils.classifiers as classifiers
import utils.lora as lora
import utils.metrics as metrics
import utils.predictions as predictions
from bad_inputs import BadInput, assert_clear_error, case_id
from utils.transformer import Transformer, TransformerLM, preset


def _tiny_classifier(pooling="mean"):
    return classifiers.SequenceClassifier(Transformer(preset("tiny-bert")), 2, pooling=pooling)


def _encoded():
    ids = torch.ones(4, 6, dtype=torch.int64)
    return classifiers.EncodedTexts(ids, torch.ones_like(ids))


class _NoTokenizer:
    pass


def _run():
    probs = {"test": np.full((2, 2), 0.5)}
    return predictions.ClassifierRun(probs, {"test": np.array([0, 1])}, {"test": np.array([0, 1])}, 0.0, 0)


CASES = [
    BadInput("utils.metrics.accuracy", "probabilities instead of labels",
             lambda: metrics.accuracy(np.array([0, 1]), np.array([0.2, 0.9])), TypeError, "y_pred"),
    BadInput("utils.metrics.accuracy", "lists of different lengths", lambda: metrics.accuracy([0, 1, 1], [0, 1]),
             ValueError, "same length"),
    BadInput("utils.metrics.accuracy", "a 2-D array of labels", lambda: metrics.accuracy(np.zeros((2, 2), int), [0, 1]),
             ValueError, "y_true"),
    BadInput("utils.metrics.bootstrap_interval", "ten resamples",
             lambda: metrics.bootstrap_interval([0, 1], [0, 1], n_resamples=10), ValueError, "n_resamples"),
    BadInput("utils.metrics.bootstrap_interval", "a confidence in percent",
             lambda: metrics.bootstrap_interval([0, 1], [0, 1], confidence=95), ValueError, "confidence"),
    BadInput("utils.metrics.bootstrap_interval", "a metric name instead of a function",
             lambda: metrics.bootstrap_interval([0, 1], [0, 1], metric="f1"), TypeError, "metric"),
    BadInput("utils.lora.LoRALinear", "a module that is not a Linear", lambda: lora.LoRALinear(nn.ReLU()),
             TypeError, "base"),
    BadInput("utils.lora.LoRALinear", "a rank above the layer's width", lambda: lora.LoRALinear(nn.Linear(4, 4), 8),
             ValueError, "rank"),
    BadInput("utils.lora.LoRALinear", "a negative alpha", lambda: lora.LoRALinear(nn.Linear(4, 4), 2, -1.0),
             ValueError, "alpha"),
    BadInput("utils.lora.add_lora", "one target name as a string",
             lambda: lora.add_lora(Transformer(preset("tiny-bert")), targets="q_proj"), TypeError, "targets"),
    BadInput("utils.lora.add_lora", "targets that match no layer",
             lambda: lora.add_lora(Transformer(preset("tiny-bert")), targets=["query"]), ValueError, "targets"),
    BadInput("utils.lora.add_lora", "a state dict instead of a model", lambda: lora.add_lora({}), TypeError, "model"),
    BadInput("utils.lora.lora_parameters", "a state dict", lambda: list(lora.lora_parameters({})), TypeError, "model"),
    BadInput("utils.lora.merge_lora", "a state dict", lambda: lora.merge_lora({}), TypeError, "model"),
    BadInput("utils.classifiers.mean_pool", "a mask of another length",
             lambda: classifiers.mean_pool(torch.zeros(2, 5, 4), torch.ones(2, 4)), ValueError, "attention_mask"),
    BadInput("utils.classifiers.mean_pool", "hidden states without a batch dim",
             lambda: classifiers.mean_pool(torch.zeros(5, 4), torch.ones(5)), ValueError, "hidden"),
    BadInput("utils.classifiers.SequenceClassifier", "one class",
             lambda: classifiers.SequenceClassifier(Transformer(preset("tiny-bert")), 1), ValueError, "n_classes"),
    BadInput("utils.classifiers.SequenceClassifier", "an unknown pooling",
             lambda: _tiny_classifier("max"), ValueError, "pooling"),
    BadInput("utils.classifiers.SequenceClassifier", "the pooler of a model that has none",
             lambda: classifiers.SequenceClassifier(Transformer(preset("tiny-gpt2")), 2, "pooler"), ValueError,
             "pooler"),
    BadInput("utils.classifiers.SequenceClassifier", "a bare nn.Linear as encoder",
             lambda: classifiers.SequenceClassifier(nn.Linear(2, 2), 2), TypeError, "encoder"),
    BadInput("utils.classifiers.EncodedTexts", "float token ids",
             lambda: classifiers.EncodedTexts(torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.int64)), TypeError,
             "input_ids"),
    BadInput("utils.classifiers.EncodedTexts", "a mask of another shape",
             lambda: classifiers.EncodedTexts(torch.zeros(2, 3, dtype=torch.int64), torch.ones(2, 4, dtype=torch.int64)),
             ValueError, "attention_mask"),
    BadInput("utils.classifiers.encode_texts", "one string instead of a list",
             lambda: classifiers.encode_texts(_NoTokenizer(), "a gem"), TypeError, "texts"),
    BadInput("utils.classifiers.encode_texts", "something that is not a tokenizer",
             lambda: classifiers.encode_texts(_NoTokenizer(), ["a gem"]), TypeError, "tokenizer"),
    BadInput("utils.classifiers.encode_texts", "room for no token",
             lambda: classifiers.encode_texts(_NoTokenizer(), ["a gem"], max_len=2), ValueError, "max_len"),
    BadInput("utils.classifiers.classification_loss", "a batch without labels",
             lambda: classifiers.classification_loss(_tiny_classifier(), (torch.ones(2, 3, dtype=torch.int64),)),
             TypeError, "batch"),
    BadInput("utils.classifiers.classification_loss", "float labels",
             lambda: classifiers.classification_loss(_tiny_classifier(), (torch.ones(2, 3, dtype=torch.int64),
                                                     torch.ones(2, 3, dtype=torch.int64), torch.zeros(2))),
             TypeError, "labels"),
    BadInput("utils.classifiers.predict_probs", "raw token ids", lambda: classifiers.predict_probs(
        _tiny_classifier(), torch.ones(2, 3, dtype=torch.int64)), TypeError, "encoded"),
    BadInput("utils.classifiers.predict_probs", "a zero batch size", lambda: classifiers.predict_probs(
        _tiny_classifier(), _encoded(), batch_size=0), ValueError, "batch_size"),
    BadInput("utils.classifiers.embed_texts", "a list of strings", lambda: classifiers.embed_texts(
        Transformer(preset("tiny-bert")), ["a gem"]), TypeError, "encoded"),
    BadInput("utils.classifiers.embed_texts", "a float batch size", lambda: classifiers.embed_texts(
        Transformer(preset("tiny-bert")), _encoded(), batch_size=2.5), TypeError, "batch_size"),
    BadInput("utils.classifiers.FineTuneRecipe", "a learning rate of 0", lambda: classifiers.FineTuneRecipe(lr=0.0),
             ValueError, "lr"),
    BadInput("utils.classifiers.FineTuneRecipe", "a warm-up of the whole run",
             lambda: classifiers.FineTuneRecipe(warmup_fraction=1.0), ValueError, "warmup_fraction"),
    BadInput("utils.classifiers.fine_tune", "one label too few", lambda: classifiers.fine_tune(
        _tiny_classifier(), _encoded(), [0, 1, 0], classifiers.FineTuneRecipe()), ValueError, "labels"),
    BadInput("utils.classifiers.fine_tune", "a dict instead of a recipe", lambda: classifiers.fine_tune(
        _tiny_classifier(), _encoded(), [0, 1, 0, 1], {"lr": 1e-4}), TypeError, "recipe"),
    BadInput("utils.classifiers.fine_tune", "texts instead of encoded texts", lambda: classifiers.fine_tune(
        _tiny_classifier(), ["a", "b"], [0, 1], classifiers.FineTuneRecipe()), TypeError, "encoded"),
    BadInput("utils.classifiers.set_trainable", "an unknown method",
             lambda: classifiers.set_trainable(_tiny_classifier(), "adapters"), ValueError, "method"),
    BadInput("utils.classifiers.set_trainable", "LoRA on layers it does not know",
             lambda: classifiers.set_trainable(_tiny_classifier(), "lora", lora_targets="ffn"), ValueError,
             "lora_targets"),
    BadInput("utils.classifiers.set_trainable", "more last layers than the model has",
             lambda: classifiers.set_trainable(_tiny_classifier(), "last_layers", n_last=5), ValueError, "n_last"),
    BadInput("utils.classifiers.set_trainable", "a bare encoder",
             lambda: classifiers.set_trainable(Transformer(preset("tiny-bert")), "full"), TypeError, "classifier"),
    BadInput("utils.classifiers.count_parameters", "a state dict", lambda: classifiers.count_parameters({}),
             TypeError, "model"),
    BadInput("utils.classifiers.PromptScorer", "a transformers-style model",
             lambda: classifiers.PromptScorer(nn.Linear(2, 2), None, "", (" no", " yes")), TypeError, "lm"),
    BadInput("utils.classifiers.PromptScorer", "one label word as a string",
             lambda: classifiers.PromptScorer(TransformerLM(preset("tiny-llama")), None, "", " yes"), ValueError,
             "label_words"),
    BadInput("utils.classifiers.label_word_log_probs", "a transformers-style model",
             lambda: classifiers.label_word_log_probs(nn.Linear(2, 2), None, ["a"], (" no", " yes")), TypeError, "lm"),
    BadInput("utils.classifiers.best_threshold", "labels of three classes",
             lambda: classifiers.best_threshold([0.1, 0.2, 0.3], [0, 1, 2]), ValueError, "labels"),
    BadInput("utils.classifiers.best_threshold", "fewer scores than labels",
             lambda: classifiers.best_threshold([0.1, 0.2], [0, 1, 1]), ValueError, "scores"),
    BadInput("utils.predictions.TfidfRecipe", "an unknown dataset", lambda: predictions.TfidfRecipe("imdb"),
             ValueError, "dataset"),
    BadInput("utils.predictions.FrozenRecipe", "a subset of 2 sentences",
             lambda: predictions.FrozenRecipe(train_subset=2), ValueError, "train_subset"),
    BadInput("utils.predictions.TextRecipe", "an unknown model", lambda: predictions.TextRecipe(model="bert"),
             ValueError, "model"),
    BadInput("utils.predictions.TextRecipe", "LoRA on layers it does not know",
             lambda: predictions.TextRecipe(method="lora", lora_targets="mlp"), ValueError, "lora_targets"),
    BadInput("utils.predictions.TextRecipe", "LoRA on the transformers twin",
             lambda: predictions.TextRecipe(model="minilm-hf", method="lora"), ValueError, "method"),
    BadInput("utils.predictions.PromptRecipe", "the SMS messages", lambda: predictions.PromptRecipe("sms"),
             ValueError, "dataset"),
    BadInput("utils.predictions.PromptRecipe", "a negative number of shots",
             lambda: predictions.PromptRecipe(n_shots=-1), ValueError, "n_shots"),
    BadInput("utils.predictions.ImageRecipe", "an unknown model", lambda: predictions.ImageRecipe("resnet"),
             ValueError, "model"),
    BadInput("utils.classifiers.DigitMLP", "a float width", lambda: classifiers.DigitMLP(12.5), TypeError, "hidden"),
    BadInput("utils.predictions.run_recipe", "a dict instead of a recipe", lambda: predictions.run_recipe({}, "cpu"),
             TypeError, "recipe"),
    BadInput("utils.predictions.run_recipe", "a device the machine lacks",
             lambda: predictions.run_recipe(predictions.ImageRecipe(), "tpu"), ValueError, "tpu"),
    BadInput("utils.classifiers.load_text_dataset", "an unknown dataset",
             lambda: classifiers.load_text_dataset("imdb"), ValueError, "name"),
    BadInput("utils.predictions.default_recipe", "an unknown model name",
             lambda: predictions.default_recipe("movie-gpt4", True), ValueError, "name"),
    BadInput("utils.predictions.default_recipe", "quick given as text",
             lambda: predictions.default_recipe("movie-tfidf", "yes"), TypeError, "quick"),
    BadInput("utils.predictions.save_predictions", "a dict of probabilities instead of a run",
             lambda: predictions.save_predictions("movie-tfidf", {}, predictions.TfidfRecipe(), True), TypeError, "run"),
    BadInput("utils.predictions.save_predictions", "no recipe",
             lambda: predictions.save_predictions("movie-tfidf", _run(), None, True), TypeError, "recipe"),
    BadInput("utils.predictions.load_predictions", "an unknown name",
             lambda: predictions.load_predictions("movie-bert", True), ValueError, "name"),
    BadInput("utils.predictions.classifier_predictions", "quick given as 1",
             lambda: predictions.classifier_predictions("movie-tfidf", 1), TypeError, "quick"),
    BadInput("utils.classifiers.few_shot_examples", "a negative number",
             lambda: classifiers.few_shot_examples(-2), ValueError, "n_shots"),
    BadInput("utils.predictions.finetuned_classifier", "a prediction file's name for a model with no weights",
             lambda: predictions.finetuned_classifier("movie-tfidf", True), ValueError, "name"),
    BadInput("utils.predictions.finetuned_classifier", "quick given as text",
             lambda: predictions.finetuned_classifier("movie-minilm", "no"), TypeError, "quick"),
    BadInput("utils.predictions.recipe_config", "the recipe class, not a recipe",
             lambda: predictions.recipe_config(predictions.TfidfRecipe), TypeError, "recipe"),
]

NO_BAD_INPUT = {
    "utils.classifiers.FineTuneResult": "a record fine_tune fills, never from reader input",
    "utils.predictions.ClassifierRun": "a record run_recipe fills, never from reader input",
    "utils.predictions.predictions_dir": "no arguments",
    "utils.classifiers.SmallCNN": "no arguments",
    "utils.exercises.finetuning.check_lora_forward": "checks a learner's function; wrong answers are its subject "
                                                     "(tests/test_exercises_finetuning.py)",
    "utils.exercises.finetuning.check_max_pool": "as check_lora_forward",
    "utils.exercises.finetuning.check_label_log_probs": "as check_lora_forward",
}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input_gets_a_clear_error_from_utils(case):
    assert_clear_error(case)


def test_every_public_name_of_the_chapter_8_modules_is_covered():
    import inspect

    import utils.exercises.finetuning as finetuning

    covered = {c.target for c in CASES} | set(NO_BAD_INPUT)
    public = {f"{m.__name__}.{n}" for m in (classifiers, lora, predictions, finetuning) for n in m.__all__
              if inspect.isfunction(getattr(m, n)) or inspect.isclass(getattr(m, n))}
    assert public - covered == set()
