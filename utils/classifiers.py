"""Text classifiers on top of a pretrained model: pooling, a head, fine-tuning through the one loop, label-word scoring.

Chapter 8 builds these pieces. A sentence becomes token ids (:func:`encode_texts`), an encoder turns them into hidden
states ``(B, T, d_model)``, a pooling turns those into one vector per sentence (:func:`mean_pool`, the first token, or
BERT's pooler) and a linear head gives the logits ``(B, n_classes)`` (:class:`SequenceClassifier`).
:func:`fine_tune` trains any such model with ``utils.training.fit``; :func:`set_trainable` chooses what trains (all of
it, LoRA adapters, the last blocks, or the head alone). A causal language model classifies without training by
comparing the next-token log-probabilities of label words (:func:`label_word_log_probs`). The chapter's image
classifiers, a small CNN and chapter 2's kind of MLP, close the module (:class:`SmallCNN`, :class:`DigitMLP`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from utils.checks import check_choice, check_int, check_number, check_tensor, fail
from utils.lora import ATTENTION_PROJECTIONS, FEED_FORWARD

__all__ = [
    "TEXT_DATASETS", "SHIFT_DOMAINS", "load_text_dataset", "POOLINGS", "METHODS", "LORA_TARGETS", "mean_pool",
    "SequenceClassifier",
    "EncodedTexts", "encode_texts", "classification_loss", "predict_probs", "FineTuneRecipe", "FineTuneResult",
    "fine_tune", "set_trainable", "count_parameters", "embed_texts", "SENTIMENT_PROMPT", "INSTRUCTION",
    "few_shot_examples", "label_word_log_probs", "best_threshold", "PromptScorer", "SmallCNN", "DigitMLP",
]

SENTIMENT_PROMPT = "Review: {text}\nSentiment:"  # what a prompted language model completes with a label word
INSTRUCTION = "Is the sentiment of each movie review positive or negative?\n\n"  # the start of every prompt
TEXT_DATASETS = ("movie", "movie3", "bbc", "sms")  # movie3: the 3-class variant with utils.data.NEUTRAL_BAND
SHIFT_DOMAINS = ("tweets", "amazon", "nyt")  # other review domains, scored by the models trained on movie sentences
POOLINGS = ("mean", "first", "pooler")  # mean of the real tokens; the first token ([CLS]); BERT's tanh pooler on it
METHODS = ("full", "lora", "last_layers", "head")  # what fine-tuning trains (see set_trainable)
LORA_TARGETS = {  # where set_trainable's LoRA adapters go: the names of the wrapped layers (utils.lora)
    "attention": ATTENTION_PROJECTIONS,  # Hu et al.'s choice
    "all-linear": ATTENTION_PROJECTIONS + FEED_FORWARD,  # the feed-forward layers too (Dettmers et al.'s QLoRA)
}


# =============================================================================================
# 1. Pooling and the classification head
# =============================================================================================


def mean_pool(hidden: Tensor, attention_mask: Tensor) -> Tensor:
    """The mean of the hidden states of the real tokens: ``(B, T, d), (B, T) -> (B, d)``.

    ``attention_mask`` is 1 at real tokens and 0 at padding (as tokenizers return it); padding never counts, so a
    sentence gets the same vector whatever the batch pads it to. Sentence-transformers' MiniLM pools this way.
    """
    check_tensor("hidden", hidden, ndim=3)
    check_tensor("attention_mask", attention_mask, ndim=2)
    if attention_mask.shape != hidden.shape[:2]:
        fail(f"attention_mask must be (B, T) = {tuple(hidden.shape[:2])} like hidden's first dims, got "
             f"{tuple(attention_mask.shape)}", ValueError)
    weights = attention_mask.to(hidden.dtype).unsqueeze(-1)  # (B, T, 1)
    counts = weights.sum(dim=1).clamp(min=1.0)  # (B, 1): a row of padding only gives zeros, not NaN
    return (hidden * weights).sum(dim=1) / counts


class SequenceClassifier(nn.Module):
    """An encoder (``utils.transformer.Transformer``), a pooling and a linear head: ``logits (B, n_classes)``.

    ``pooling="pooler"`` with a BERT encoder is exactly ``transformers``' ``BertForSequenceClassification``
    (pooler, dropout, ``classifier``); ``"mean"`` averages the real tokens; ``"first"`` takes the first token.
    """

    def __init__(self, encoder: nn.Module, n_classes: int, pooling: str = "mean", dropout: float = 0.0):
        super().__init__()
        if not isinstance(encoder, nn.Module) or not hasattr(encoder, "config"):
            fail(f"encoder must be a utils.transformer.Transformer, got {type(encoder).__name__}", TypeError)
        self.n_classes = check_int("n_classes", n_classes, minimum=2)
        self.pooling = check_choice("pooling", pooling, POOLINGS)
        if pooling == "pooler" and getattr(encoder, "pooler", None) is None:
            fail("pooling='pooler' needs an encoder with BERT's pooler (config.pooler=True)", ValueError,
                 "use pooling='mean' or 'first'")
        self.encoder = encoder
        self.dropout = nn.Dropout(check_number("dropout", dropout, minimum=0.0, maximum=0.99))
        self.head = nn.Linear(encoder.config.d_model, n_classes)
        nn.init.normal_(self.head.weight, std=0.02)  # BERT's initialisation of its classifier
        nn.init.zeros_(self.head.bias)

    def pool(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """One vector per sentence, ``(B, d_model)``, for ``input_ids`` and ``attention_mask`` ``(B, T)``."""
        hidden = self.encoder(input_ids, attention_mask=attention_mask)  # (B, T, d_model)
        if self.pooling == "mean":
            return mean_pool(hidden, attention_mask)
        return self.encoder.pool(hidden) if self.pooling == "pooler" else hidden[:, 0]

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Logits ``(B, n_classes)``."""
        return self.head(self.dropout(self.pool(input_ids, attention_mask)))


# =============================================================================================
# 2. The datasets, and sentences as tensors
# =============================================================================================


def load_text_dataset(name: str):
    """``utils.data``'s dataset for ``name`` in :data:`TEXT_DATASETS` or :data:`SHIFT_DOMAINS` (binary reviews).

    Read once per process (the same object on later calls): treat it as read-only.
    """
    check_choice("name", name, TEXT_DATASETS + SHIFT_DOMAINS)
    return _read_dataset(name)


@functools.lru_cache(maxsize=8)
def _read_dataset(name: str):
    from utils import data

    if name in ("bbc", "sms"):
        return data.load_bbc() if name == "bbc" else data.load_sms()
    return data.load_reviews("movie" if name.startswith("movie") else name, 3 if name == "movie3" else 2)


@dataclass
class EncodedTexts:
    """Token ids and attention mask of ``N`` sentences, int64 ``(N, max_len)``, padded at the right."""

    input_ids: Tensor
    attention_mask: Tensor

    def __post_init__(self) -> None:
        check_tensor("input_ids", self.input_ids, ndim=2, dtype="int")
        check_tensor("attention_mask", self.attention_mask, ndim=2, dtype="int")
        if self.input_ids.shape != self.attention_mask.shape:
            fail(f"attention_mask must be shaped like input_ids {tuple(self.input_ids.shape)}, got "
                 f"{tuple(self.attention_mask.shape)}", ValueError)

    def __len__(self) -> int:
        return len(self.input_ids)

    def rows(self, index: Tensor) -> tuple[Tensor, Tensor]:
        """The rows ``index`` cut to their longest real length (less padding, less compute): two ``(b, t)``."""
        mask = self.attention_mask[index]
        length = max(1, int(mask.sum(dim=1).max()))
        return self.input_ids[index, :length], mask[:, :length]


def encode_texts(tokenizer, texts: Sequence[str], max_len: int = 64) -> EncodedTexts:
    """Tokenize ``texts`` to at most ``max_len`` tokens each (longer ones are cut) and pad them at the right.

    ``tokenizer`` is a ``transformers`` tokenizer (its own ``[CLS] ... [SEP]``) or the course's
    ``utils.tokenizer.Tokenizer`` with the special tokens ``[PAD]``, ``[CLS]``, ``[SEP]`` (chapter 6's encoder).
    """
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts) or len(texts) == 0:
        fail(f"texts must be a non-empty list of strings, got {type(texts).__name__}", TypeError)
    max_len = check_int("max_len", max_len, minimum=3)
    from transformers import PreTrainedTokenizerBase

    if isinstance(tokenizer, PreTrainedTokenizerBase):
        enc = tokenizer(list(texts), truncation=True, max_length=max_len, padding="max_length", return_tensors="pt")
        return EncodedTexts(enc["input_ids"].long(), enc["attention_mask"].long())
    if not callable(getattr(tokenizer, "encode", None)):
        fail(f"tokenizer must be a transformers tokenizer or a utils.tokenizer.Tokenizer, got "
             f"{type(tokenizer).__name__}", TypeError)
    pad, cls, sep = (tokenizer.encode(t)[0] for t in ("[PAD]", "[CLS]", "[SEP]"))
    rows = [[cls, *tokenizer.encode(text)[: max_len - 2], sep] for text in texts]
    input_ids = torch.full((len(rows), max_len), pad, dtype=torch.int64)
    attention_mask = torch.zeros((len(rows), max_len), dtype=torch.int64)
    for i, ids in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        attention_mask[i, : len(ids)] = 1
    return EncodedTexts(input_ids, attention_mask)


def _logits(model: nn.Module, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
    out = model(input_ids=input_ids, attention_mask=attention_mask)
    return out.logits if hasattr(out, "logits") else out  # a transformers model returns an output object


def classification_loss(model: nn.Module, batch: tuple[Tensor, Tensor, Tensor]) -> tuple[Tensor, int]:
    """Cross-entropy of a classifier, the ``loss_fn`` of ``utils.training.fit``: ``(mean loss, rows)``.

    ``batch = (input_ids, attention_mask, labels)``: int64 ``(B, T)``, ``(B, T)``, ``(B,)``. ``model`` is a
    :class:`SequenceClassifier` or a ``transformers`` model with a classification head (its ``.logits``).
    """
    if not (isinstance(batch, (tuple, list)) and len(batch) == 3):
        fail(f"batch must be (input_ids, attention_mask, labels), got {type(batch).__name__}", TypeError)
    input_ids, attention_mask, labels = batch
    check_tensor("labels", labels, ndim=1, dtype="int")
    logits = _logits(model, input_ids, attention_mask)  # (B, n_classes)
    return F.cross_entropy(logits.float(), labels), len(labels)


@torch.no_grad()
def predict_probs(model: nn.Module, encoded: EncodedTexts, batch_size: int = 128) -> np.ndarray:
    """Class probabilities ``(N, n_classes)`` (float64 NumPy, rows sum to 1) of every sentence of ``encoded``.

    Sentences are batched by length (little padding) and the rows returned in the order of ``encoded``.
    """
    if not isinstance(encoded, EncodedTexts):
        fail(f"encoded must be EncodedTexts (from encode_texts), got {type(encoded).__name__}", TypeError)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    batches = _by_length(encoded, batch_size)
    probs = []
    for index in batches:
        ids, mask = encoded.rows(index)
        probs.append(_logits(model, ids.to(device), mask.to(device)).float().softmax(dim=-1).cpu())
    model.train(was_training)
    out = torch.empty((len(encoded), probs[0].shape[1]), dtype=torch.float64)
    out[torch.cat(batches)] = torch.cat(probs).double()  # back to the order of the sentences
    return out.numpy()


@torch.no_grad()
def embed_texts(encoder: nn.Module, encoded: EncodedTexts, batch_size: int = 128) -> np.ndarray:
    """Frozen sentence embeddings: the mean-pooled last hidden states of ``encoder``, float32 NumPy ``(N, d_model)``."""
    if not isinstance(encoded, EncodedTexts):
        fail(f"encoded must be EncodedTexts (from encode_texts), got {type(encoded).__name__}", TypeError)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    device = next(encoder.parameters()).device
    encoder.eval()
    batches = _by_length(encoded, batch_size)
    pooled = []
    for index in batches:
        ids, mask = (t.to(device) for t in encoded.rows(index))
        pooled.append(mean_pool(encoder(ids, attention_mask=mask), mask).float().cpu())
    out = torch.empty((len(encoded), pooled[0].shape[1]), dtype=torch.float32)
    out[torch.cat(batches)] = torch.cat(pooled)  # back to the order of the sentences
    return out.numpy()


# =============================================================================================
# 3. Fine-tuning through utils.training.fit
# =============================================================================================


@dataclass
class FineTuneRecipe:
    """How a classifier is fine-tuned; every field is a choice made on the validation split only."""

    lr: float = 5e-5  # peak learning rate (AdamW), after a linear warm-up
    epochs: float = 2.0  # passes over the training sentences (fractions allowed)
    batch_size: int = 32  # sentences per optimizer step
    warmup_fraction: float = 0.1  # share of the steps spent warming up (BERT's recipe)
    weight_decay: float = 0.01  # AdamW's decoupled decay on matrices (BERT's value)
    seed: int = 0  # seeds the weights' random parts and the order of the batches

    def __post_init__(self) -> None:
        check_number("lr", self.lr, above=0.0)
        check_number("epochs", self.epochs, above=0.0)
        check_int("batch_size", self.batch_size, minimum=1)
        check_number("warmup_fraction", self.warmup_fraction, minimum=0.0, maximum=0.5)
        check_number("weight_decay", self.weight_decay, minimum=0.0)
        check_int("seed", self.seed, minimum=0)

    def steps(self, n_examples: int) -> int:
        """Optimizer steps for ``n_examples`` training sentences: ``ceil(epochs * n / batch_size)``."""
        return max(2, math.ceil(self.epochs * n_examples / self.batch_size))


@dataclass
class FineTuneResult:
    """What :func:`fine_tune` measured: the loop's ``StepHistory``, the wall time and the trainable parameters."""

    history: object
    seconds: float
    n_trainable: int
    steps: int


def _epoch_batches(encoded: EncodedTexts, labels: Tensor, batch_size: int, bucket: int = 32):
    """A function returning the next batch of a shuffled pass over the sentences (torch's RNG, a new order per epoch).

    Sentences of similar length share a batch, so little compute goes to padding: each epoch is shuffled, cut into
    chunks of ``bucket`` batches, each chunk sorted by length and cut into batches, and the batches shuffled again.
    """
    lengths = encoded.attention_mask.sum(dim=1)  # (N,)
    state = {"batches": [], "next": 0}

    def next_batch():
        if state["next"] >= len(state["batches"]):
            order, batches = torch.randperm(len(labels)), []
            for chunk in order.split(batch_size * bucket):
                batches += list(chunk[torch.argsort(lengths[chunk], stable=True)].split(batch_size))
            state["batches"], state["next"] = [batches[i] for i in torch.randperm(len(batches))], 0
        index = state["batches"][state["next"]]
        state["next"] += 1
        return (*encoded.rows(index), labels[index])

    return next_batch


def _by_length(encoded: EncodedTexts, batch_size: int) -> list[Tensor]:
    """Row indices in batches of similar length (longest first), for inference with little padding."""
    order = torch.argsort(encoded.attention_mask.sum(dim=1), descending=True, stable=True)
    return list(order.split(batch_size))


def _fused_adamw(model: nn.Module, config):
    """``make_optimizer``'s AdamW (decay on matrices only) as one fused kernel, and the loop's warm-up + cosine.

    The fused kernel updates all 22.7 M parameters of MiniLM in one pass over memory: several times faster on a CPU
    than the default loop over tensors, with the same update up to float32 rounding. Only the parameters and their
    decay are taken from ``make_optimizer``'s groups: the rest of a group's settings (``fused=None`` among them)
    would override the constructor's.
    """
    from utils.env import get_device
    from utils.optim import as_scheduler, cosine_schedule
    from utils.training import make_optimizer

    model.to(get_device(config.device))
    groups = [{"params": g["params"], "weight_decay": g["weight_decay"]}
              for g in make_optimizer(model, config).param_groups]
    try:
        optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, fused=True)
    except (RuntimeError, TypeError):  # a device without the fused kernel
        optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=config.betas)
    schedule = lambda t: cosine_schedule(t, config.lr, config.min_lr, config.warmup_steps, config.max_steps)  # noqa: E731
    return optimizer, as_scheduler(optimizer, schedule)


def fine_tune(model: nn.Module, encoded: EncodedTexts, labels, recipe: FineTuneRecipe,
              device=None, progress: bool | None = False) -> FineTuneResult:
    """Train ``model`` on ``encoded`` sentences and their ``labels`` (int ``(N,)``) with ``utils.training.fit``.

    Cross-entropy (:func:`classification_loss`), AdamW (fused) on the parameters that require gradients, a linear
    warm-up then a cosine decay to 0 (the loop's schedule), gradient clipping at 1. Only the trainable parameters change (see
    :func:`set_trainable`). The model ends in eval mode on ``device``.
    """
    from utils.training import TrainConfig, fit

    if not isinstance(encoded, EncodedTexts):
        fail(f"encoded must be EncodedTexts (from encode_texts), got {type(encoded).__name__}", TypeError)
    if not isinstance(recipe, FineTuneRecipe):
        fail(f"recipe must be a FineTuneRecipe, got {type(recipe).__name__}", TypeError)
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    if labels.shape != (len(encoded),):
        fail(f"labels must be ({len(encoded)},), one per sentence, got {tuple(labels.shape)}", ValueError)
    steps = recipe.steps(len(labels))
    config = TrainConfig(max_steps=steps, lr=recipe.lr, min_lr=0.0, warmup_steps=int(recipe.warmup_fraction * steps),
                         weight_decay=recipe.weight_decay, betas=(0.9, 0.999), clip_grad_norm=1.0,
                         device=None if device is None else str(device), seed=recipe.seed, progress=progress)
    optimizer, scheduler = _fused_adamw(model, config)
    started = time.perf_counter()
    history = fit(model, classification_loss, _epoch_batches(encoded, labels, recipe.batch_size), config,
                  optimizer=optimizer, scheduler=scheduler)
    seconds = time.perf_counter() - started
    model.eval()
    return FineTuneResult(history, seconds, count_parameters(model, trainable=True), steps)


def count_parameters(model: nn.Module, trainable: bool = False) -> int:
    """Number of parameters of ``model`` (those that require gradients when ``trainable``); shared ones once."""
    if not isinstance(model, nn.Module):
        fail(f"model must be an nn.Module, got {type(model).__name__}", TypeError)
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable)


def set_trainable(classifier: SequenceClassifier, method: str, n_last: int = 2, lora_rank: int = 8,
                  lora_alpha: float = 16.0, lora_targets: str = "attention") -> int:
    """Choose what fine-tuning trains; returns the number of trainable parameters.

    ``"full"``: everything. ``"lora"``: LoRA adapters of rank ``lora_rank`` on the layers ``LORA_TARGETS[lora_targets]``
    of every block (``utils.lora.add_lora``: ``"attention"``, the four attention projections; ``"all-linear"``, the
    feed-forward layers too) and the head (as ``peft``'s sequence-classification setting: the pooler stays frozen).
    ``"last_layers"``: the last ``n_last`` blocks, the pooler and the head. ``"head"``: the head alone, on frozen
    features.
    """
    from utils.lora import add_lora

    if not isinstance(classifier, SequenceClassifier):
        fail(f"classifier must be a SequenceClassifier, got {type(classifier).__name__}", TypeError)
    check_choice("method", method, METHODS)
    check_choice("lora_targets", lora_targets, tuple(LORA_TARGETS))
    n_blocks = len(classifier.encoder.blocks)
    n_last = check_int("n_last", n_last, minimum=1, maximum=n_blocks)
    classifier.requires_grad_(method == "full")
    if method == "lora":
        add_lora(classifier.encoder, rank=lora_rank, alpha=lora_alpha, targets=LORA_TARGETS[lora_targets])
    if method == "last_layers":
        for block in classifier.encoder.blocks[n_blocks - n_last:]:
            block.requires_grad_(True)
        if getattr(classifier.encoder, "pooler", None) is not None:
            classifier.encoder.pooler.requires_grad_(True)
    classifier.head.requires_grad_(True)
    return count_parameters(classifier, trainable=True)


# =============================================================================================
# 4. A language model as a classifier: label words
# =============================================================================================


class PromptScorer:
    """Next-token log-probabilities of label words after a prompt, with the shared prefix computed once.

    ``lm`` is a ``utils.transformer.TransformerLM`` (e.g. ``utils.hf.lm_from_hf`` of SmolLM2) and ``tokenizer`` its
    ``transformers`` tokenizer. Every prompt is ``prefix + suffix``: the prefix (instructions, few-shot examples) goes
    through the model once, its keys and values are cached, and each batch of suffixes attends to them.
    """

    def __init__(self, lm: nn.Module, tokenizer, prefix: str, label_words: Sequence[str]):
        if not hasattr(lm, "transformer") or not hasattr(lm, "lm_head"):
            fail(f"lm must be a utils.transformer.TransformerLM, got {type(lm).__name__}", TypeError,
                 "convert a transformers model with utils.hf.lm_from_hf")
        if isinstance(label_words, str) or len(label_words) < 2:
            fail(f"label_words must be a list of at least two words, got {label_words!r}", ValueError)
        self.lm, self.tokenizer = lm, tokenizer
        first_ids = [tokenizer.encode(w, add_special_tokens=False) for w in label_words]
        if any(len(ids) == 0 for ids in first_ids) or len({ids[0] for ids in first_ids}) < len(first_ids):
            fail(f"label_words {list(label_words)} must start with different tokens", ValueError,
                 "put a space before each word, as it follows 'Sentiment:'")
        self.label_ids = torch.tensor([ids[0] for ids in first_ids])  # (K,): the first token of each word
        self.prefix_ids = torch.tensor([tokenizer.encode(prefix, add_special_tokens=False)])  # (1, P)

    @torch.no_grad()
    def _prefix_cache(self):
        caches = self.lm.new_cache()
        if self.prefix_ids.shape[1] > 0:
            device = next(self.lm.parameters()).device
            self.lm.transformer(self.prefix_ids.to(device), caches=caches)
        return caches

    @torch.no_grad()
    def log_probs(self, suffixes: Sequence[str], batch_size: int = 16) -> np.ndarray:
        """``log p(label word | prefix + suffix)`` for every suffix: float64 ``(N, K)`` (first token of each word)."""
        from utils.attention import KVCache

        if isinstance(suffixes, str) or len(suffixes) == 0:
            fail("suffixes must be a non-empty list of strings", TypeError)
        batch_size = check_int("batch_size", batch_size, minimum=1)
        device = next(self.lm.parameters()).device
        prefix = self._prefix_cache()
        n_prefix = self.prefix_ids.shape[1]
        out = []
        for start in range(0, len(suffixes), batch_size):
            rows = [self.tokenizer.encode(s, add_special_tokens=False) for s in suffixes[start: start + batch_size]]
            B, T = len(rows), max(len(r) for r in rows)
            ids = torch.zeros((B, T), dtype=torch.int64)
            mask = torch.zeros((B, n_prefix + T), dtype=torch.int64)
            mask[:, :n_prefix] = 1
            for i, r in enumerate(rows):
                ids[i, : len(r)] = torch.tensor(r)
                mask[i, n_prefix: n_prefix + len(r)] = 1
            caches = []
            for layer in prefix:  # the prefix's keys and values, the same for every row of the batch
                cache = KVCache()
                if layer.k is not None:
                    cache.k, cache.v = layer.k.expand(B, -1, -1, -1), layer.v.expand(B, -1, -1, -1)
                caches.append(cache)
            hidden = self.lm.transformer(ids.to(device), attention_mask=mask.to(device), caches=caches)  # (B, T, d)
            last = hidden[torch.arange(B), torch.tensor([len(r) - 1 for r in rows])]  # (B, d): the last real token
            logits = self.lm.lm_head(last).float()  # (B, vocab_size)
            out.append(logits.log_softmax(dim=-1)[:, self.label_ids.to(device)].cpu())
        return torch.cat(out).double().numpy()


def few_shot_examples(n_shots: int) -> str:
    """The few-shot part of the prompt: ``n_shots`` training movie sentences, alternating negative and positive,
    each as :data:`SENTIMENT_PROMPT` followed by its label word."""
    n_shots = check_int("n_shots", n_shots, minimum=0, maximum=16)
    texts, labels = load_text_dataset("movie").split("train")
    rng = np.random.default_rng(0)
    chosen = []
    for k in range(n_shots):
        pool = [i for i in np.flatnonzero(np.asarray(labels) == k % 2) if len(texts[i]) < 120]  # short ones: cheaper
        chosen.append(int(rng.choice(pool)))
    names = ("negative", "positive")
    return "".join(SENTIMENT_PROMPT.format(text=texts[i]) + f" {names[labels[i]]}\n\n" for i in chosen)


def label_word_log_probs(lm: nn.Module, tokenizer, prompts: Sequence[str], label_words: Sequence[str],
                         batch_size: int = 16) -> np.ndarray:
    """``log p(first token of each label word | prompt)``: float64 ``(N, K)`` for ``N`` prompts and ``K`` words.

    The reference path, one full prompt at a time through ``lm`` (a ``TransformerLM``), without a shared prefix;
    :class:`PromptScorer` gives the same numbers faster when the prompts share their beginning.
    """
    return PromptScorer(lm, tokenizer, "", label_words).log_probs(prompts, batch_size)


def best_threshold(scores, labels) -> float:
    """The threshold ``t`` for which ``scores > t`` predicts the binary ``labels`` (0/1) most accurately.

    Candidates are the midpoints between sorted distinct scores (and one below all): the choice a validation split
    can make. A model whose label words are not equally likely a priori has its best threshold away from 0.
    """
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    if scores.ndim != 1 or scores.shape != labels.shape or len(scores) == 0:
        fail(f"scores and labels must be 1-D of the same length, got {scores.shape} and {labels.shape}", ValueError)
    if not set(np.unique(labels)) <= {0, 1}:
        fail(f"labels must be 0 or 1, got values {np.unique(labels)[:5]}", ValueError)
    distinct = np.unique(scores)
    candidates = np.concatenate([[distinct[0] - 1.0], (distinct[1:] + distinct[:-1]) / 2, [distinct[-1] + 1.0]])
    accuracies = [np.mean((scores > t) == labels) for t in candidates]
    return float(candidates[int(np.argmax(accuracies))])


# =============================================================================================
# 5. Images: the digits' classifiers
# =============================================================================================


class SmallCNN(nn.Module):
    """Two 3×3 convolutions (16 and 32 channels, ReLU, 2×2 max-pooling) and a linear layer: ``(B, 28, 28) -> (B, 10)``."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 16, 14, 14)
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 7, 7)
        )
        self.head = nn.Linear(32 * 7 * 7, 10)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, 10)`` of images ``(B, 28, 28)`` with values in [0, 1]."""
        return self.head(self.features(images.unsqueeze(1)).flatten(1))  # (B, 1, 28, 28) -> (B, 1568) -> (B, 10)


class DigitMLP(nn.Module):
    """Chapter 2's model: flattened pixels, one hidden layer of 128 tanh units: ``(B, 28, 28) -> (B, 10)``."""

    def __init__(self, hidden: int = 128):
        super().__init__()
        hidden = check_int("hidden", hidden, minimum=1)
        self.layers = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, hidden), nn.Tanh(), nn.Linear(hidden, 10))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, 10)``."""
        return self.layers(images)
