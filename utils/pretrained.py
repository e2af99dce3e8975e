"""The course's pretrained models: saved and loaded whole, and the chapter-6 encoder that any chapter can load.

A pretrained model lives under ``utils.env.cache_dir() / "pretrained" / name``: weights (safetensors), the model's
``TransformerConfig`` (``config.json``), its tokenizer (``tokenizer/``) and what the run measured (``info.json``).
Chapter 6 pretrains them; :func:`load_pretrained_encoder` gives any later chapter the masked-language-model
encoder, loading it when present and training it (briefly in quick mode) when not, so any chapter can be opened
first. Checkpoints of a run in progress (weights, optimizer, RNGs) are ``utils.checkpoint``'s job.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_model
from torch import nn

from utils.checkpoint import MODEL_FILE, CheckpointError, _read_weights
from utils.checks import check_bool, check_choice, check_int, describe, fail

__all__ = [
    "ENCODER_SPECIAL_TOKENS",
    "pretrained_dir",
    "save_pretrained",
    "load_pretrained",
    "encoder_recipe",
    "train_wikipedia_tokenizer",
    "wikipedia_mlm_data",
    "pretrain_encoder",
    "load_pretrained_encoder",
]

ENCODER_SPECIAL_TOKENS = ("[PAD]", "[CLS]", "[SEP]", "[MASK]")  # BERT's names; train_bpe gives them the last ids
_KINDS = ("encoder", "causal_lm")


def pretrained_dir(name: str) -> Path:
    """``utils.env.cache_dir() / "pretrained" / name``: where the course keeps the pretrained model ``name``."""
    from utils.env import cache_dir

    if not isinstance(name, str):
        fail(f"pretrained_dir: name must be a str, got {describe(name)}", TypeError, "e.g. 'wikipedia-encoder'")
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        fail(f"pretrained_dir: name must be letters, digits, '.', '_' or '-', got {name!r}", ValueError,
             "a name, not a path: e.g. 'wikipedia-encoder'")
    return cache_dir() / "pretrained" / name


def _folder(name: str, folder) -> Path:
    if not isinstance(folder, (str, Path)):
        fail(f"{name} must be a folder path (str or Path), got {describe(folder)}", TypeError,
             "e.g. pretrained_dir('wikipedia-encoder')")
    return Path(folder)


def save_pretrained(folder: str | Path, model: nn.Module, tokenizer, kind: str, info: dict | None = None) -> Path:
    """Write ``model`` (a ``Transformer`` for ``kind="encoder"``, a ``TransformerLM`` for ``"causal_lm"``) to ``folder``.

    Files: ``model.safetensors``, ``config.json`` (its ``TransformerConfig``), ``tokenizer/`` (``tokenizer.save``)
    and ``info.json`` (``kind`` and ``info``: what the run measured). Returns ``folder``.
    """
    check_choice("save_pretrained: kind", kind, _KINDS)
    if not dataclasses.is_dataclass(getattr(model, "config", None)) or not isinstance(model, nn.Module):
        fail(f"save_pretrained: model must be a utils.transformer model with a config, got {describe(model)}",
             TypeError, "a Transformer or TransformerLM built from a TransformerConfig")
    if not callable(getattr(tokenizer, "save", None)):
        fail(f"save_pretrained: tokenizer must have a save(folder) method, got {describe(tokenizer)}", TypeError,
             "a utils.tokenizer.Tokenizer")
    if info is not None and not isinstance(info, dict):
        fail(f"save_pretrained: info must be a dict or None, got {describe(info)}", TypeError)
    folder = _folder("save_pretrained: folder", folder)
    partial = folder.with_name(f".partial_{folder.name}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    save_model(model, str(partial / MODEL_FILE))
    (partial / "config.json").write_text(json.dumps(dataclasses.asdict(model.config), indent=1), encoding="utf-8")
    tokenizer.save(partial / "tokenizer")
    (partial / "info.json").write_text(json.dumps({"kind": kind, **(info or {})}, indent=1), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return folder


def load_pretrained(folder: str | Path):
    """Read a folder written by :func:`save_pretrained`: returns ``(model, tokenizer, info)``, the model in eval mode."""
    from utils.tokenizer import Tokenizer
    from utils.transformer import Transformer, TransformerConfig, TransformerLM

    folder = _folder("load_pretrained: folder", folder)
    missing = [n for n in (MODEL_FILE, "config.json", "info.json", "tokenizer") if not (folder / n).exists()]
    if missing:
        raise CheckpointError(f"{folder} is not a pretrained model of the course: it lacks {missing}")
    info = json.loads((folder / "info.json").read_text(encoding="utf-8"))
    config = TransformerConfig(**json.loads((folder / "config.json").read_text(encoding="utf-8")))
    model = (Transformer if info["kind"] == "encoder" else TransformerLM)(config)
    _read_weights(folder / MODEL_FILE, model)
    return model.eval(), Tokenizer.load(folder / "tokenizer"), info


def encoder_recipe(quick: bool, device_type: str = "cpu") -> dict:
    """Sizes of the chapter-6 masked-LM encoder: quick (seconds), CPU (minutes on 2 cores) or GPU (a larger model).

    Keys: ``vocab_size`` (BPE, with the 4 special tokens), ``seq_len``, ``d_model``, ``n_layers``, ``n_heads``,
    ``batch_size``, ``max_steps``, ``lr``, ``n_texts`` (training leads used; None = all), ``precision``.
    """
    check_bool("encoder_recipe: quick", quick)
    if not isinstance(device_type, str):
        fail(f"encoder_recipe: device_type must be a str such as 'cpu' or 'cuda', got {describe(device_type)}",
             TypeError, "pass device.type")
    if quick:
        return dict(vocab_size=512, seq_len=64, d_model=32, n_layers=2, n_heads=2, batch_size=16, max_steps=30,
                    lr=2e-3, n_texts=600, precision="fp32")
    if device_type == "cuda":  # sized for one large GPU; not run on the course's CPU machines
        return dict(vocab_size=8192, seq_len=128, d_model=256, n_layers=6, n_heads=8, batch_size=128, max_steps=3000,
                    lr=1e-3, n_texts=None, precision="bf16")
    return dict(vocab_size=2048, seq_len=128, d_model=128, n_layers=4, n_heads=4, batch_size=16, max_steps=300,
                lr=1e-3, n_texts=None, precision="fp32")


def _wikipedia_texts(split: str, n_texts: int | None) -> list[str]:
    from utils.data import load_wikipedia

    texts, _ = load_wikipedia().split(split)
    return texts if n_texts is None else texts[:n_texts]


def _check_n_texts(name: str, n_texts) -> None:
    if n_texts is not None:
        check_int(name, n_texts, minimum=1, hint="or None for all the leads")


def train_wikipedia_tokenizer(vocab_size: int, n_texts: int | None = None):
    """A byte-level BPE (``utils.tokenizer.train_bpe``) trained on the training split's Wikipedia leads.

    Its vocabulary ends with :data:`ENCODER_SPECIAL_TOKENS`; ``n_texts`` keeps only the first leads (quick mode).
    """
    from utils.env import cache_dir
    from utils.tokenizer import Tokenizer, train_bpe

    check_int("train_wikipedia_tokenizer: vocab_size", vocab_size, minimum=256 + len(ENCODER_SPECIAL_TOKENS),
              hint="a byte-level BPE starts from the 256 bytes")
    _check_n_texts("train_wikipedia_tokenizer: n_texts", n_texts)

    path = cache_dir() / "pretraining" / f"wikipedia_train_{n_texts or 'all'}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(_wikipedia_texts("train", n_texts)), encoding="utf-8")
    vocab, merges = train_bpe(path, vocab_size, list(ENCODER_SPECIAL_TOKENS))
    return Tokenizer(vocab, merges, list(ENCODER_SPECIAL_TOKENS))


def wikipedia_mlm_data(tokenizer, seq_len: int, split: str, n_texts: int | None = None) -> dict[str, torch.Tensor]:
    """The leads of ``split`` as ``[CLS] tokens [SEP] [PAD]...`` rows of ``seq_len`` tokens (longer leads are cut).

    Returns ``input_ids`` int64 ``(N, seq_len)``, ``attention_mask`` int64 ``(N, seq_len)`` (1 = real token) and
    ``special_mask`` bool ``(N, seq_len)`` (True at [CLS], [SEP] and [PAD]: never masked).
    """
    if not callable(getattr(tokenizer, "encode", None)):
        fail(f"wikipedia_mlm_data: tokenizer must have an encode(text) method, got {describe(tokenizer)}", TypeError,
             "e.g. train_wikipedia_tokenizer(vocab_size)")
    check_int("wikipedia_mlm_data: seq_len", seq_len, minimum=3, hint="[CLS], at least one token and [SEP]")
    check_choice("wikipedia_mlm_data: split", split, ("train", "val", "test"))
    _check_n_texts("wikipedia_mlm_data: n_texts", n_texts)
    pad, cls, sep = (tokenizer.encode(t)[0] for t in ENCODER_SPECIAL_TOKENS[:3])
    rows = []
    for text in _wikipedia_texts(split, n_texts):
        ids = [cls, *tokenizer.encode(text)[: seq_len - 2], sep]
        rows.append(ids + [pad] * (seq_len - len(ids)))
    input_ids = torch.tensor(rows, dtype=torch.int64)
    attention_mask = (input_ids != pad).long()
    special_mask = (input_ids == pad) | (input_ids == cls) | (input_ids == sep)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "special_mask": special_mask}


def _encoder_config(recipe: dict, vocab_size: int):
    from utils.transformer import preset

    d = recipe["d_model"]
    return preset("bert-base", vocab_size=vocab_size, max_seq_len=recipe["seq_len"], d_model=d,
                  n_layers=recipe["n_layers"], n_heads=recipe["n_heads"], d_ff=4 * d)


def pretrain_encoder(quick: bool, device=None, progress: bool | None = None, save: bool = True):
    """Pretrain the course's BERT-style encoder by masked language modelling on the Wikipedia leads.

    Steps: a BPE on the training leads (:func:`train_wikipedia_tokenizer`), rows of ``[CLS] ... [SEP]``
    (:func:`wikipedia_mlm_data`), BERT's 80/10/10 masking (``utils.lm.mask_tokens``) drawn afresh for every
    batch, and ``utils.training.fit`` with ``masked_lm_loss``, evaluated on a fixed masking of validation leads.
    Sizes from :func:`encoder_recipe`. With ``save`` the result goes to ``pretrained_dir("wikipedia-encoder")``
    (``-quick`` appended in quick mode, so a quick run never replaces the full model).

    Returns ``(encoder, tokenizer, history, info)``: a ``Transformer``, its ``Tokenizer``, the ``StepHistory`` and
    a dict of what was measured (recipe, final validation loss, tokens seen).
    """
    from utils.env import get_device
    from utils.lm import mask_tokens, masked_lm_loss
    from utils.training import TrainConfig, fit, mean_loss
    from utils.transformer import Transformer

    check_bool("pretrain_encoder: quick", quick)
    check_bool("pretrain_encoder: save", save)

    device = get_device(None if device is None else str(device))
    recipe = encoder_recipe(quick, device.type)
    tokenizer = train_wikipedia_tokenizer(recipe["vocab_size"], recipe["n_texts"])
    n_ordinary = tokenizer.vocab_size - len(ENCODER_SPECIAL_TOKENS)
    mask_id = tokenizer.encode("[MASK]")[0]
    train = wikipedia_mlm_data(tokenizer, recipe["seq_len"], "train", recipe["n_texts"])
    val = wikipedia_mlm_data(tokenizer, recipe["seq_len"], "val", None if recipe["n_texts"] is None else 200)

    def masked(data: dict, rows: torch.Tensor, generator=None):
        inputs, labels = mask_tokens(data["input_ids"][rows], data["special_mask"][rows], mask_id, n_ordinary,
                                     generator=generator)
        return inputs, data["attention_mask"][rows], labels

    val_generator = torch.Generator().manual_seed(0)
    val_rows = torch.arange(len(val["input_ids"])).split(recipe["batch_size"])
    val_batches = [masked(val, rows, val_generator) for rows in val_rows]
    torch.manual_seed(0)
    encoder = Transformer(_encoder_config(recipe, tokenizer.vocab_size))
    config = TrainConfig(max_steps=recipe["max_steps"], lr=recipe["lr"], min_lr=recipe["lr"] / 10,
                         warmup_steps=max(1, recipe["max_steps"] // 10), weight_decay=0.01,
                         precision=recipe["precision"], device=str(device), eval_every=max(1, recipe["max_steps"] // 10),
                         seed=0, progress=progress)
    history = fit(encoder, masked_lm_loss,
                  lambda: masked(train, torch.randint(len(train["input_ids"]), (recipe["batch_size"],))), config,
                  eval_fn=lambda model: mean_loss(model, masked_lm_loss, val_batches))
    info = {"recipe": recipe, "mode": "quick" if quick else "full", "device": device.type,
            "val_loss": history.val_loss[-1], "train_tokens": int(sum(history.n_tokens)), "steps": history.steps}
    if save:
        save_pretrained(pretrained_dir("wikipedia-encoder" + ("-quick" if quick else "")), encoder.cpu(), tokenizer,
                        "encoder", info)
    return encoder.eval(), tokenizer, history, info


def load_pretrained_encoder(quick: bool | None = None, device=None):
    """The chapter-6 encoder and its tokenizer: ``(encoder, tokenizer, info)``, loaded if saved, else trained now.

    ``quick`` (default ``utils.env.quick_mode()``) picks the quick model (trained in seconds when missing) or the
    full one (minutes on a CPU). The encoder is a ``utils.transformer.Transformer`` in eval mode on ``device``
    (default ``utils.env.get_device()``); ``info`` holds its recipe and validation loss.
    """
    from utils.env import get_device, quick_mode

    quick = quick_mode() if quick is None else check_bool("load_pretrained_encoder: quick", quick)
    device = get_device(None if device is None else str(device))
    folder = pretrained_dir("wikipedia-encoder" + ("-quick" if quick else ""))
    if (folder / MODEL_FILE).is_file():
        encoder, tokenizer, info = load_pretrained(folder)
    else:
        encoder, tokenizer, _, info = pretrain_encoder(quick, device, progress=False)
    return encoder.to(device).eval(), tokenizer, info
