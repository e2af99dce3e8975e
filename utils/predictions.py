"""Chapter 8's classifiers as recipes, and their saved predictions for chapter 9.

A recipe is a dataclass that says everything a run needs (data, model, what trains, how long); :func:`run_recipe`
runs it (all training through ``utils.training.fit``) and returns a :class:`ClassifierRun`: the probabilities on the
validation and test splits (and, for models trained on the movie sentences, on the test splits of the tweet, Amazon
and NYT sentences), with the labels, the rows used, the time and the trainable parameters.
:func:`save_predictions` writes them to ``utils.env.cache_dir() / "predictions"`` with their recipe;
:func:`classifier_predictions` loads them if present and recomputes them otherwise (seconds in quick mode);
:func:`finetuned_classifier` does the same for the weights of the fine-tuned text classifiers (chapter 10's models).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from utils.checks import check_bool, check_choice, check_int, fail
from utils.classifiers import (  # noqa: F401  (importable from here too, as chapters 8 and 9 first did)
    INSTRUCTION, LORA_TARGETS, SENTIMENT_PROMPT, SHIFT_DOMAINS, TEXT_DATASETS, DigitMLP, SmallCNN, few_shot_examples,
    load_text_dataset)

__all__ = [
    "TfidfRecipe", "FrozenRecipe", "TextRecipe", "PromptRecipe", "ImageRecipe", "ClassifierRun", "run_recipe",
    "PREDICTION_NAMES", "default_recipe", "predictions_dir", "save_predictions", "load_predictions",
    "classifier_predictions", "recipe_config", "FINETUNED_NAMES", "finetuned_classifier",
]

MODELS = ("minilm", "minilm-hf", "encoder")  # ours with MiniLM's weights; AutoModelForSequenceClassification; ch. 6


# =============================================================================================
# 1. Recipes
# =============================================================================================


@dataclass
class TfidfRecipe:
    """TF-IDF of 1- and 2-grams and logistic regression, ``C`` chosen by ``folds``-fold cross-validation on train."""

    dataset: str = "movie"
    Cs: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)  # inverse regularisation strengths tried
    folds: int = 5
    train_subset: int | None = None  # None: the whole training split; n: the first n of a fixed shuffle
    eval_subset: int | None = None  # None: all validation and test rows; n: the first n of a fixed shuffle

    def __post_init__(self) -> None:
        _check_recipe(self)


@dataclass
class FrozenRecipe:
    """MiniLM's mean-pooled sentence embeddings, frozen, and logistic regression with ``C`` by cross-validation."""

    dataset: str = "movie"
    Cs: tuple[float, ...] = (0.25, 1.0, 4.0, 16.0)
    folds: int = 5
    max_len: int = 64
    train_subset: int | None = None
    eval_subset: int | None = None

    def __post_init__(self) -> None:
        _check_recipe(self)


@dataclass
class TextRecipe:
    """A pretrained encoder with a classification head, fine-tuned (``method``: see ``classifiers.set_trainable``)."""

    dataset: str = "movie"
    model: str = "minilm"  # one of MODELS
    method: str = "full"  # "full", "lora", "last_layers" or "head"
    pooling: str = "pooler"  # "pooler" (BERT's, as BertForSequenceClassification), "mean" or "first"
    lr: float = 5e-5
    epochs: float = 2.0
    batch_size: int = 32
    seed: int = 0
    max_len: int = 64  # tokens per sentence (longer ones are cut)
    lora_rank: int = 8
    lora_targets: str = "attention"  # method="lora": "attention" or "all-linear" (classifiers.LORA_TARGETS)
    n_last: int = 2  # blocks trained by method="last_layers"
    train_subset: int | None = None  # None: the whole training split; n: the first n of a fixed shuffle
    eval_subset: int | None = None
    eval_splits: tuple[str, ...] | None = None  # splits scored; None: val, test and (movie) the shifted domains
    quick_encoder: bool = False  # model="encoder": chapter 6's quick encoder (seconds to train) instead of the full one

    def __post_init__(self) -> None:
        _check_recipe(self)
        check_choice("model", self.model, MODELS)
        check_choice("method", self.method, ("full", "lora", "last_layers", "head"))
        check_choice("lora_targets", self.lora_targets, tuple(LORA_TARGETS))
        if self.model == "minilm-hf" and self.method != "full":
            fail(f"model='minilm-hf' fine-tunes everything (method='full'), got method={self.method!r}", ValueError)


@dataclass
class PromptRecipe:
    """SmolLM2-135M-Instruct (the 4-bit Q4_1 release, dequantized) scoring the label words after a prompt."""

    dataset: str = "movie"
    n_shots: int = 0  # labelled examples in the prompt, alternating negative and positive
    label_words: tuple[str, ...] = (" negative", " positive")
    eval_subset: int | None = None

    def __post_init__(self) -> None:
        if self.dataset != "movie":
            fail(f"PromptRecipe scores the movie sentences only, got dataset={self.dataset!r}", ValueError)
        check_int("n_shots", self.n_shots, minimum=0, maximum=16)


@dataclass
class ImageRecipe:
    """A small CNN or chapter 2's kind of MLP on the MNIST digits, trained with ``utils.training.fit``."""

    model: str = "cnn"  # "cnn" or "mlp"
    steps: int = 600
    batch_size: int = 64
    lr: float = 2e-3
    seed: int = 0
    train_subset: int | None = None

    def __post_init__(self) -> None:
        check_choice("model", self.model, ("cnn", "mlp"))
        check_int("steps", self.steps, minimum=1)


@dataclass
class ClassifierRun:
    """Probabilities ``(n, n_classes)`` per split, with the labels and the split rows they belong to."""

    probs: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    rows: dict[str, np.ndarray]
    seconds: float  # training time (fitting, cross-validation or nothing for a prompt)
    n_trainable: int
    info: dict = field(default_factory=dict)  # what the run chose (C, threshold, ...) and measured
    model: object = None  # the trained model (not saved)

    def accuracy(self, split: str) -> float:
        """Accuracy of the most probable class on ``split``."""
        return float(np.mean(self.probs[split].argmax(axis=1) == self.labels[split]))


def _check_recipe(recipe) -> None:
    check_choice("dataset", recipe.dataset, TEXT_DATASETS)
    for name in ("train_subset", "eval_subset"):
        value = getattr(recipe, name, None)
        if value is not None:
            check_int(name, value, minimum=8, hint="None uses the whole split")


# =============================================================================================
# 2. Data
# =============================================================================================


def _subset(n_total: int, n: int | None) -> np.ndarray:
    """The first ``n`` rows of a fixed shuffle (seed 0) of ``range(n_total)``, sorted; all rows when ``n`` is None."""
    if n is None or n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(0).permutation(n_total)[:n])


def _splits(dataset: str, eval_subset: int | None, train_subset: int | None = None) -> dict:
    """``{split: (texts, labels, rows)}`` for train, val, test and, for the movie sentences, the shifted domains."""
    data = load_text_dataset(dataset)
    sources = {split: data.split(split) for split in ("train", "val", "test")}
    if dataset == "movie":
        sources.update({domain: load_text_dataset(domain).split("test") for domain in SHIFT_DOMAINS})
    out = {}
    for split, (texts, labels) in sources.items():
        rows = _subset(len(labels), train_subset if split == "train" else eval_subset)
        out[split] = ([texts[i] for i in rows], np.asarray(labels)[rows], rows)
    return out


@functools.lru_cache(maxsize=1)
def _minilm():
    from utils.data import load_minilm

    return load_minilm()


# =============================================================================================
# 3. Running a recipe
# =============================================================================================


def _logistic_cv(features_train, y_train, Cs, folds, pipeline_head=None):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline

    head = LogisticRegression(max_iter=2000)
    model = make_pipeline(*([pipeline_head] if pipeline_head is not None else []), head)
    search = GridSearchCV(model, {"logisticregression__C": list(Cs)}, cv=StratifiedKFold(folds, shuffle=True,
                          random_state=0), scoring="accuracy")
    search.fit(features_train, y_train)
    return search


def _run_tfidf(recipe: TfidfRecipe) -> ClassifierRun:
    from sklearn.feature_extraction.text import TfidfVectorizer

    splits = _splits(recipe.dataset, recipe.eval_subset, recipe.train_subset)
    started = time.perf_counter()
    search = _logistic_cv(splits["train"][0], splits["train"][1], recipe.Cs, recipe.folds,
                          TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True))
    seconds = time.perf_counter() - started
    best = search.best_estimator_
    probs = {s: best.predict_proba(t) for s, (t, _, _) in splits.items() if s != "train"}
    n_trainable = best[-1].coef_.size + best[-1].intercept_.size
    info = {"C": search.best_params_["logisticregression__C"], "cv_accuracy": float(search.best_score_),
            "cv_accuracy_std": float(search.cv_results_["std_test_score"][search.best_index_])}
    return _run(splits, probs, seconds, int(n_trainable), info, best)


def _run(splits, probs, seconds, n_trainable, info, model) -> ClassifierRun:
    labels = {s: splits[s][1] for s in probs}
    rows = {s: splits[s][2] for s in probs}
    return ClassifierRun(probs, labels, rows, seconds, n_trainable, info, model)


def _run_frozen(recipe: FrozenRecipe, device) -> ClassifierRun:
    from utils.classifiers import embed_texts, encode_texts
    from utils.hf import transformer_from_hf

    splits = _splits(recipe.dataset, recipe.eval_subset, recipe.train_subset)
    encoder, tokenizer = transformer_from_hf(_minilm()[1]).to(device), _minilm()[0]
    started = time.perf_counter()
    features = {s: embed_texts(encoder, encode_texts(tokenizer, t, recipe.max_len)) for s, (t, _, _) in splits.items()}
    embed_seconds = time.perf_counter() - started
    search = _logistic_cv(features["train"], splits["train"][1], recipe.Cs, recipe.folds)
    best = search.best_estimator_
    probs = {s: best.predict_proba(f) for s, f in features.items() if s != "train"}
    info = {"C": search.best_params_["logisticregression__C"], "cv_accuracy": float(search.best_score_),
            "embed_seconds": embed_seconds}
    n_trainable = best[-1].coef_.size + best[-1].intercept_.size
    return _run(splits, probs, time.perf_counter() - started, int(n_trainable), info, best)


@functools.lru_cache(maxsize=2)
def _loaded_hf_classifier(n_classes: int, seed: int):
    from transformers import AutoModelForSequenceClassification

    from utils.data import minilm_dir

    torch.manual_seed(seed)  # the head's initial weights
    return AutoModelForSequenceClassification.from_pretrained(
        minilm_dir(), num_labels=n_classes, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        classifier_dropout=0.0)


def _hf_classifier(n_classes: int, seed: int):
    """MiniLM with a fresh classification head (from ``seed``), dropout off: a copy, read from disk once."""
    return copy.deepcopy(_loaded_hf_classifier(n_classes, seed))


def _text_model(recipe: TextRecipe, n_classes: int, device):
    """``(model, tokenizer)``: the classifier of the recipe before fine-tuning; the twins start from equal weights."""
    from utils.classifiers import SequenceClassifier, set_trainable
    from utils.hf import transformer_from_hf

    if recipe.model == "encoder":
        from utils.pretrained import load_pretrained_encoder

        encoder, tokenizer, _ = load_pretrained_encoder(quick=recipe.quick_encoder, device=device)
        torch.manual_seed(recipe.seed)
        model = SequenceClassifier(copy.deepcopy(encoder).cpu(), n_classes, pooling=recipe.pooling)
        set_trainable(model, recipe.method, recipe.n_last, recipe.lora_rank, lora_targets=recipe.lora_targets)
        return model, tokenizer
    hf = _hf_classifier(n_classes, recipe.seed)
    if recipe.model == "minilm-hf":
        return hf, _minilm()[0]
    model = SequenceClassifier(transformer_from_hf(hf).float(), n_classes, pooling=recipe.pooling)
    with torch.no_grad():  # the same head as the transformers twin
        model.head.weight.copy_(hf.classifier.weight)
        model.head.bias.copy_(hf.classifier.bias)
    set_trainable(model, recipe.method, recipe.n_last, recipe.lora_rank, lora_targets=recipe.lora_targets)
    return model, _minilm()[0]


def _run_text(recipe: TextRecipe, device, progress) -> ClassifierRun:
    from utils.classifiers import FineTuneRecipe, count_parameters, encode_texts, fine_tune, predict_probs

    splits = _splits(recipe.dataset, recipe.eval_subset, recipe.train_subset)
    n_classes = len(load_text_dataset(recipe.dataset).label_names)
    model, tokenizer = _text_model(recipe, n_classes, device)
    train_texts, train_labels, _ = splits["train"]
    schedule = FineTuneRecipe(lr=recipe.lr, epochs=recipe.epochs, batch_size=recipe.batch_size, seed=recipe.seed)
    result = fine_tune(model, encode_texts(tokenizer, train_texts, recipe.max_len), train_labels, schedule, device,
                       progress=progress)
    scored = [s for s in splits if s != "train" and (recipe.eval_splits is None or s in recipe.eval_splits)]
    if not scored:
        fail(f"recipe.eval_splits {recipe.eval_splits!r} names no split of {sorted(splits)}", ValueError)
    started = time.perf_counter()
    probs = {s: predict_probs(model, encode_texts(tokenizer, splits[s][0], recipe.max_len)) for s in scored}
    info = {"steps": result.steps, "predict_seconds": time.perf_counter() - started,
            "train_loss": [float(x) for x in result.history.train_loss],
            "n_parameters": count_parameters(model)}
    return _run(splits, probs, result.seconds, result.n_trainable, info, model)


@functools.lru_cache(maxsize=1)
def _smollm2_ours():
    from utils.data import load_smollm2
    from utils.hf import lm_from_hf

    tokenizer, hf_lm = load_smollm2()
    return tokenizer, lm_from_hf(hf_lm)


def _run_prompt(recipe: PromptRecipe, device) -> ClassifierRun:
    from utils.classifiers import PromptScorer

    splits = _splits("movie", recipe.eval_subset)
    splits = {s: splits[s] for s in ("train", "val", "test")}
    tokenizer, lm = _smollm2_ours()
    scorer = PromptScorer(lm.to(device), tokenizer, INSTRUCTION + few_shot_examples(recipe.n_shots),
                          recipe.label_words)
    started = time.perf_counter()
    log_probs = {s: scorer.log_probs([SENTIMENT_PROMPT.format(text=t) for t in texts])
                 for s, (texts, _, _) in splits.items() if s != "train"}
    seconds = time.perf_counter() - started
    probs = {s: np.exp(lp - np.logaddexp.reduce(lp, axis=1, keepdims=True)) for s, lp in log_probs.items()}
    info = {"score_seconds": seconds, "prompt_tokens": int(scorer.prefix_ids.shape[1]),
            "log_probs": {s: lp.tolist() for s, lp in log_probs.items()}}
    return _run(splits, probs, 0.0, 0, info, None)


def _image_loss(model: nn.Module, batch) -> tuple[torch.Tensor, int]:
    images, labels = batch
    return torch.nn.functional.cross_entropy(model(images), labels), len(labels)


def _run_image(recipe: ImageRecipe, device) -> ClassifierRun:
    from utils.data import load_mnist
    from utils.training import TrainConfig, fit

    mnist = load_mnist()
    data = {s: tuple(torch.from_numpy(np.asarray(a)) for a in mnist.split(s)) for s in ("train", "val", "test")}
    rows = {s: _subset(len(data[s][1]), recipe.train_subset if s == "train" else None) for s in data}
    x_train, y_train = (t[rows["train"]] for t in data["train"])
    torch.manual_seed(recipe.seed)
    model = SmallCNN() if recipe.model == "cnn" else DigitMLP()
    config = TrainConfig(max_steps=recipe.steps, lr=recipe.lr, min_lr=recipe.lr / 20, warmup_steps=recipe.steps // 20,
                         weight_decay=0.01, device=None if device is None else str(device), seed=recipe.seed,
                         progress=False)
    draw = lambda: (lambda i: (x_train[i].float(), y_train[i].long()))(torch.randint(len(y_train), (recipe.batch_size,)))  # noqa: E731
    started = time.perf_counter()
    fit(model, _image_loss, draw, config)
    seconds = time.perf_counter() - started
    model.eval()
    dev = next(model.parameters()).device
    with torch.no_grad():
        probs = {s: model(data[s][0].float().to(dev)).softmax(-1).double().cpu().numpy() for s in ("val", "test")}
    labels = {s: data[s][1].numpy() for s in ("val", "test")}
    n_trainable = sum(p.numel() for p in model.parameters())
    return ClassifierRun(probs, labels, {s: rows[s] for s in ("val", "test")}, seconds, n_trainable, {}, model)


def run_recipe(recipe, device=None, progress: bool | None = False) -> ClassifierRun:
    """Run any recipe of this module on ``device`` (default ``utils.env.get_device()``): a :class:`ClassifierRun`."""
    from utils.env import get_device

    device = get_device(None if device is None else str(device))
    if isinstance(recipe, TfidfRecipe):
        return _run_tfidf(recipe)
    if isinstance(recipe, FrozenRecipe):
        return _run_frozen(recipe, device)
    if isinstance(recipe, TextRecipe):
        return _run_text(recipe, device, progress)
    if isinstance(recipe, PromptRecipe):
        return _run_prompt(recipe, device)
    if isinstance(recipe, ImageRecipe):
        return _run_image(recipe, device)
    fail(f"recipe must be a TfidfRecipe, FrozenRecipe, TextRecipe, PromptRecipe or ImageRecipe, got "
         f"{type(recipe).__name__}", TypeError)


# =============================================================================================
# 4. Saved predictions
# =============================================================================================

PREDICTION_NAMES = (
    "movie-tfidf", "movie-minilm-frozen", "movie-minilm-finetuned", "movie-minilm-lora", "movie-encoder-finetuned",
    "movie-smollm2-zeroshot", "movie-smollm2-fewshot", "movie3-tfidf", "movie3-minilm-finetuned", "bbc-tfidf",
    "bbc-minilm-finetuned", "sms-tfidf", "sms-minilm-finetuned", "mnist-cnn", "mnist-mlp",
)


def default_recipe(name: str, quick: bool):
    """The recipe :func:`classifier_predictions` runs for ``name`` when nothing is saved (small in quick mode)."""
    check_choice("name", name, PREDICTION_NAMES)
    quick = check_bool("quick", quick)
    dataset, _, kind = name.partition("-")
    ev = 64 if quick else None
    train = 96 if quick else None
    epochs = 1.0 if quick else 3.0  # chapter 8's final runs
    if kind == "tfidf":
        return TfidfRecipe(dataset, folds=3 if quick else 5, train_subset=400 if quick else None, eval_subset=ev)
    if kind == "minilm-frozen":
        return FrozenRecipe(dataset, folds=3 if quick else 5, train_subset=train, eval_subset=ev)
    if kind.startswith("smollm2"):
        return PromptRecipe(n_shots=0 if kind.endswith("zeroshot") else 4, eval_subset=16 if quick else 400)
    if dataset == "mnist":
        return ImageRecipe(kind, steps=30 if quick else 600)
    model = "encoder" if kind.startswith("encoder") else "minilm"
    lr = 1e-3 if model == "encoder" else (1e-3 if kind.endswith("lora") else 1e-4)  # chapter 8's final-schedule choice
    epochs = min(epochs, 2.0) if model == "encoder" else epochs
    return TextRecipe(dataset, model, "lora" if kind.endswith("lora") else "full", "mean", lr=lr, epochs=epochs,
                      batch_size=16 if quick else 32, lora_targets="all-linear", train_subset=train, eval_subset=ev,
                      quick_encoder=quick)


def predictions_dir() -> Path:
    """``utils.env.cache_dir() / "predictions"``: one ``<name>[-quick].npz`` and ``.json`` per saved model (and,
    for the fine-tuned text classifiers, ``<name>[-quick].safetensors`` and ``.weights.json``)."""
    from utils.env import cache_dir

    return cache_dir() / "predictions"


def _paths(name: str, quick: bool) -> tuple[Path, Path]:
    check_choice("name", name, PREDICTION_NAMES)
    stem = predictions_dir() / (name + ("-quick" if check_bool("quick", quick) else ""))
    return stem.with_suffix(".npz"), stem.with_suffix(".json")


def recipe_config(recipe) -> dict:
    """A recipe as its saved config: ``{"kind": class name, field: value...}`` in JSON's types (tuples become lists)."""
    if not dataclasses.is_dataclass(recipe) or isinstance(recipe, type):
        fail(f"recipe must be one of this module's recipes, got {type(recipe).__name__}", TypeError)
    return json.loads(json.dumps({"kind": type(recipe).__name__, **dataclasses.asdict(recipe)}))


def save_predictions(name: str, run: ClassifierRun, recipe, quick: bool) -> Path:
    """Write ``run``'s probabilities, labels and rows (``.npz``) and its recipe and figures (``.json``); returns the json."""
    if not isinstance(run, ClassifierRun):
        fail(f"run must be a ClassifierRun (from run_recipe), got {type(run).__name__}", TypeError)
    recipe_dict = recipe_config(recipe)
    npz, meta = _paths(name, quick)
    npz.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"{kind}/{split}": values[split] for kind, values in (("probs", run.probs), ("labels", run.labels),
                                                                     ("rows", run.rows)) for split in run.probs}
    np.savez(npz.with_suffix(".partial.npz"), **arrays)
    npz.with_suffix(".partial.npz").replace(npz)
    if name in _FINETUNED.values():  # its weights too, for chapter 10; none kept from an older run
        _save_weights(name, run.model, recipe, quick)
    config = {"name": name, "mode": "quick" if quick else "full", "recipe": recipe_dict,
              "splits": sorted(run.probs), "seconds": run.seconds, "n_trainable": run.n_trainable,
              "accuracy": {s: run.accuracy(s) for s in run.probs},
              "info": {k: v for k, v in run.info.items() if isinstance(v, (int, float, str))}}
    meta.write_text(json.dumps(config, indent=1), encoding="utf-8")
    return meta


def load_predictions(name: str, quick: bool) -> dict | None:
    """The saved predictions of ``name``: ``{"config", "probs", "labels", "rows"}`` (dicts by split), or None.

    Checks that every split's probabilities are ``(n, n_classes)`` rows summing to 1, that labels and rows match
    them, and that the stored accuracy is the accuracy of the stored probabilities; a file that fails is reported.
    """
    npz, meta = _paths(name, quick)
    if not (npz.is_file() and meta.is_file()):
        return None
    config = json.loads(meta.read_text(encoding="utf-8"))
    with np.load(npz) as arrays:
        found = {kind: {s: arrays[f"{kind}/{s}"] for s in config["splits"]} for kind in ("probs", "labels", "rows")}
    for split in config["splits"]:
        probs, labels = found["probs"][split], found["labels"][split]
        ok = (probs.ndim == 2 and len(probs) == len(labels) == len(found["rows"][split])
              and np.allclose(probs.sum(axis=1), 1.0, atol=1e-6)
              and abs(float(np.mean(probs.argmax(1) == labels)) - config["accuracy"][split]) < 1e-12)
        if not ok:
            fail(f"the saved predictions {npz} do not match their config (split {split!r})", ValueError,
                 f"delete {npz} and {meta}; they are recomputed on the next call")
    return {"config": config, **found}


def classifier_predictions(name: str, quick: bool | None = None) -> dict:
    """Chapter 8's predictions of model ``name`` (one of :data:`PREDICTION_NAMES`), as :func:`load_predictions` gives.

    Loaded from :func:`predictions_dir` when chapter 8 (or an earlier call) saved them; otherwise recomputed with
    :func:`default_recipe` (seconds in quick mode, minutes for a fine-tuned model in full mode) and saved.
    ``quick`` defaults to ``utils.env.quick_mode()``.
    """
    from utils.env import quick_mode

    quick = quick_mode() if quick is None else check_bool("quick", quick)
    found = load_predictions(name, quick)
    if found is None:
        recipe = default_recipe(name, quick)
        save_predictions(name, run_recipe(recipe), recipe, quick)
        found = load_predictions(name, quick)
    return found


# =============================================================================================
# 5. Saved fine-tuned classifiers, for chapter 10
# =============================================================================================

_FINETUNED = {"movie-minilm": "movie-minilm-finetuned", "movie-minilm-lora": "movie-minilm-lora",
              "movie-encoder": "movie-encoder-finetuned", "movie3-minilm": "movie3-minilm-finetuned",
              "bbc-minilm": "bbc-minilm-finetuned", "sms-minilm": "sms-minilm-finetuned"}  # name -> predictions' name
FINETUNED_NAMES = tuple(_FINETUNED)  # the fine-tuned text classifiers whose weights are saved


def _weight_paths(name: str, quick: bool) -> tuple[Path, Path]:
    npz, _ = _paths(name, quick)
    return npz.with_suffix(".safetensors"), npz.with_suffix(".weights.json")


def _save_weights(name: str, model, recipe, quick: bool) -> None:
    """The parameters training changed (all, or LoRA's adapters and the head) as safetensors, the recipe as JSON."""
    from safetensors.torch import save_file

    from utils.classifiers import SequenceClassifier

    weights, meta = _weight_paths(name, quick)
    meta.unlink(missing_ok=True)
    weights.unlink(missing_ok=True)
    if isinstance(model, SequenceClassifier):  # else a run whose model was dropped: nothing kept
        tensors = {k: p.detach().cpu().contiguous() for k, p in model.named_parameters() if p.requires_grad}
        save_file(tensors, str(weights.with_suffix(".partial.safetensors")))
        weights.with_suffix(".partial.safetensors").replace(weights)
        meta.write_text(json.dumps({"name": name, "mode": "quick" if quick else "full",
                                    "recipe": recipe_config(recipe), "max_len": recipe.max_len,
                                    "label_names": list(load_text_dataset(recipe.dataset).label_names)}, indent=1))


def _text_recipe(saved: dict) -> TextRecipe | None:
    if saved.get("kind") != "TextRecipe":
        return None
    return TextRecipe(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items() if k != "kind"})


def _load_weights(name: str, quick: bool):
    """``(model, tokenizer, config)`` from the saved files of ``name``; None when they are absent."""
    from safetensors.torch import load_file

    weights, meta = _weight_paths(name, quick)
    if not (weights.is_file() and meta.is_file()):
        return None
    config = json.loads(meta.read_text())
    recipe, wanted = _text_recipe(config["recipe"]), default_recipe(name, quick)
    predictions = load_predictions(name, quick)
    what = lambda r: (r.dataset, r.model, r.method)  # noqa: E731
    problem = ("its recipe is not a TextRecipe" if recipe is None
               else f"its recipe trains {what(recipe)}, the name {what(wanted)}" if what(recipe) != what(wanted)
               else "its recipe is not the one of the saved predictions"
               if predictions is not None and predictions["config"]["recipe"] != config["recipe"] else None)
    if problem is None:
        model, tokenizer = _text_model(recipe, len(config["label_names"]), "cpu")
        trainable, tensors = {k: p for k, p in model.named_parameters() if p.requires_grad}, load_file(str(weights))
        if {k: p.shape for k, p in trainable.items()} != {k: t.shape for k, t in tensors.items()}:
            problem = f"its {len(tensors)} tensors are not the {len(trainable)} trainable parameters of its recipe"
    if problem is not None:
        fail(f"the saved classifier {weights} does not match its config: {problem}", ValueError,
             f"delete {weights} and {meta}; finetuned_classifier trains and saves it again")
    with torch.no_grad():
        for key, parameter in trainable.items():
            parameter.copy_(tensors[key])
    return model.requires_grad_(False).eval(), tokenizer, config


def finetuned_classifier(name: str = "movie-minilm", quick: bool | None = None):
    """Chapter 8's fine-tuned text classifier ``name`` (one of :data:`FINETUNED_NAMES`): ``(model, tokenizer, config)``.

    ``model``: a ``utils.classifiers.SequenceClassifier`` on the CPU, in eval mode, frozen; ``model(input_ids,
    attention_mask)`` gives logits ``(B, n_classes)`` for the int64 ``(B, T)`` tensors of
    ``utils.classifiers.encode_texts(tokenizer, texts, config["max_len"])``. ``config``: the recipe, ``max_len``,
    ``label_names``. Loaded from :func:`predictions_dir`, where chapter 8 and :func:`classifier_predictions` save the
    weights; when absent, trained (with the recipe of the saved predictions, else :func:`default_recipe`: seconds in
    quick mode, minutes in full mode) and saved. ``quick`` defaults to ``utils.env.quick_mode()``.
    """
    from utils.env import quick_mode

    check_choice("name", name, FINETUNED_NAMES)
    quick, prediction_name = quick_mode() if quick is None else check_bool("quick", quick), _FINETUNED[name]
    found = _load_weights(prediction_name, quick)
    if found is None:
        saved = load_predictions(prediction_name, quick)
        recipe = default_recipe(prediction_name, quick) if saved is None else _text_recipe(saved["config"]["recipe"])
        run = run_recipe(recipe)
        if saved is None:
            save_predictions(prediction_name, run, recipe, quick)  # the predictions and the weights
        else:
            _save_weights(prediction_name, run.model, recipe, quick)
        found = _load_weights(prediction_name, quick)
    return found
