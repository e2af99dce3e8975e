"""Checkpoints that resume exactly: model weights, optimizer, schedule, loss scaler, step and every RNG state.

One checkpoint is one folder ``step_000120/`` inside a run's checkpoint folder:

- ``model.safetensors`` — the weights (``safetensors``: a plain tensor file, nothing executed on load; tied
  weights such as GPT-2's shared embedding and head are stored once);
- ``state.pt`` — everything else (optimizer and scheduler state dicts, the ``GradScaler``'s, the step, the RNG
  states of Python, NumPy and PyTorch on every device, the training config and history), written with
  ``torch.save`` and read back with ``torch.load(..., weights_only=True)``, which refuses anything but tensors and
  plain Python containers.

A checkpoint is written to a temporary folder and renamed into place, so a run killed while writing leaves
no half-written checkpoint behind; :func:`latest_checkpoint` finds the newest complete one. A file that is
damaged anyway (a truncated copy, a full disk) raises :class:`CheckpointError` naming the file.

Pretrained models of the course live under ``utils.env.cache_dir() / "pretrained" / name``: weights
(safetensors), the model's ``TransformerConfig`` (``config.json``), its tokenizer (``tokenizer/``) and what the
run measured (``info.json``). Chapter 6 pretrains them; :func:`load_pretrained_encoder` gives any later chapter the
masked-language-model encoder, loading it when present and training it (briefly in quick mode) when not, so any
chapter can be opened first.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model
from torch import nn

__all__ = [
    "CheckpointError",
    "rng_state",
    "set_rng_state",
    "save_checkpoint",
    "latest_checkpoint",
    "load_checkpoint",
    "resume_checkpoint",
    "pretrained_dir",
    "save_pretrained",
    "load_pretrained",
    "ENCODER_SPECIAL_TOKENS",
    "encoder_recipe",
    "train_wikipedia_tokenizer",
    "wikipedia_mlm_data",
    "pretrain_encoder",
    "load_pretrained_encoder",
]

MODEL_FILE = "model.safetensors"
STATE_FILE = "state.pt"
FORMAT_VERSION = 1
_STEP_FOLDER = re.compile(r"^step_(\d{6,})$")


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used: missing, damaged, or written by a run with another configuration."""


def rng_state() -> dict:
    """The state of every random number generator the training touches, in types ``torch.load`` accepts safely.

    Keys: ``python`` (``random.getstate()``), ``numpy`` (the legacy global generator, its key as an int64 tensor),
    ``torch`` (the CPU generator, a uint8 tensor) and ``cuda`` (one uint8 tensor per GPU; empty without one).
    """
    kind, key, pos, has_gauss, cached_gaussian = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {"kind": kind, "key": torch.from_numpy(key.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    """Restore the generators from a :func:`rng_state` dict; the next random numbers are those the saved run drew."""
    missing = {"python", "numpy", "torch", "cuda"} - set(state)
    if missing:
        raise CheckpointError(f"the RNG state lacks {sorted(missing)}: expected the dict rng_state() returns")
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _step_folder(folder: Path, step: int) -> Path:
    return folder / f"step_{step:06d}"


def save_checkpoint(
    folder: str | Path,
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler=None,
    scaler=None,
    extra: dict | None = None,
) -> Path:
    """Write a checkpoint of a run at ``step`` into ``folder/step_{step:06d}/`` and return that path.

    ``extra`` holds what the caller wants back (tensors, numbers, strings, lists, dicts): the training loop
    stores its config and history there. The RNG states are taken now, so save right after a step.
    """
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise ValueError(f"save_checkpoint: step must be an int >= 0, got {step!r}")
    if not isinstance(model, nn.Module) or not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"save_checkpoint: expected an nn.Module and a torch.optim.Optimizer, got {type(model).__name__} and "
            f"{type(optimizer).__name__}"
        )
    folder = Path(folder)
    final = _step_folder(folder, step)
    partial = folder / f".partial_{final.name}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    save_model(model, str(partial / MODEL_FILE))
    state = {
        "format": FORMAT_VERSION,
        "step": step,
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "scaler": None if scaler is None else scaler.state_dict(),
        "rng": rng_state(),
        "extra": extra or {},
    }
    torch.save(state, partial / STATE_FILE)
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)  # atomic on one file system: the checkpoint appears complete or not at all
    return final


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The newest complete checkpoint folder (highest step) inside ``folder``, or None when there is none."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    steps = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _STEP_FOLDER.match(p.name)) and p.is_dir()]
    return max(steps)[1] if steps else None


def load_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler=None,
    scaler=None,
    restore_rng: bool = True,
) -> dict:
    """Load a checkpoint folder from :func:`save_checkpoint` into ``model`` (and optimizer, scheduler, scaler).

    Returns the saved state dict: ``step``, ``extra`` (as saved) and the rest. With ``restore_rng`` the random
    generators continue where the saved run left them. Raises :class:`CheckpointError` naming the file when a
    file is missing or damaged, or when the weights do not fit ``model``.
    """
    path = Path(path)
    model_file, state_file = path / MODEL_FILE, path / STATE_FILE
    for file in (model_file, state_file):
        if not file.is_file():
            raise CheckpointError(f"checkpoint file {file} is missing: pass a folder written by save_checkpoint")
    state = _read_state(state_file)
    _read_weights(model_file, model)
    if optimizer is not None:
        try:
            optimizer.load_state_dict(state["optimizer"])
        except ValueError as error:  # other parameter groups or sizes
            raise CheckpointError(
                f"the optimizer state in {state_file} does not fit this {type(optimizer).__name__}: {error}. Build "
                "the optimizer as the checkpointed run did (same parameter groups)."
            ) from error
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state["scaler"] is not None:
        scaler.load_state_dict(state["scaler"])
    if restore_rng:
        set_rng_state(state["rng"])
    return state


def _read_state(file: Path) -> dict:
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated zip archive raises RuntimeError, a cut pickle EOFError or others
        raise CheckpointError(
            f"checkpoint file {file} is truncated or damaged and cannot be read ({type(error).__name__}: {error}); "
            f"delete its folder {file.parent} and resume from an earlier checkpoint, or start again"
        ) from error
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{file} is not a checkpoint of format {FORMAT_VERSION} (found {found!r})")
    return state


def _read_weights(file: Path, model: nn.Module) -> None:
    try:
        load_model(model, str(file), strict=True)
    except SafetensorError as error:
        raise CheckpointError(
            f"checkpoint file {file} is truncated or damaged and cannot be read ({error}); delete its folder "
            f"{file.parent} and resume from an earlier checkpoint, or start again"
        ) from error
    except RuntimeError as error:  # missing or unexpected keys, or shapes that differ
        raise CheckpointError(
            f"the weights in {file} do not fit this {type(model).__name__}: {error}. Build the model with the "
            f"config the checkpoint was trained with."
        ) from error


def resume_checkpoint(
    path: str | Path, model: nn.Module, optimizer, scheduler, scaler, train_config: dict, ignore: tuple[str, ...] = ()
) -> dict:
    """Load a training loop's checkpoint after checking that it was written with ``train_config``.

    ``train_config`` is the resuming run's config as a dict (``dataclasses.asdict``), compared with the one saved
    under ``extra["train_config"]`` except for the keys in ``ignore`` (those that do not change the numbers). A
    difference raises :class:`CheckpointError` that names the differing fields and prints both configs.
    Returns the saved state, as :func:`load_checkpoint` does.
    """
    state = load_checkpoint(path, model, restore_rng=False)  # the weights first: they fail fast on a wrong model
    saved = state["extra"].get("train_config") or {}
    ours, theirs = _comparable(train_config, ignore), _comparable(saved, ignore)
    if ours != theirs:
        differ = {k: (v, theirs.get(k)) for k, v in ours.items() if theirs.get(k) != v}
        raise CheckpointError(
            f"checkpoint {path} was written by a run with another TrainConfig; differing fields "
            f"(this run, checkpoint): {differ}.\n  this run:   {ours}\n  checkpoint: {theirs or None}\n"
            "Resume with the checkpoint's config, or set resume=False (or another checkpoint_dir) to start a new run."
        )
    return load_checkpoint(path, model, optimizer, scheduler, scaler, restore_rng=True)


def _comparable(config: dict, ignore: tuple[str, ...]) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in config.items() if k not in ignore}



# =============================================================================================================
# Pretrained models of the course
# =============================================================================================================

ENCODER_SPECIAL_TOKENS = ("[PAD]", "[CLS]", "[SEP]", "[MASK]")  # BERT's names; train_bpe gives them the last ids
_KINDS = ("encoder", "causal_lm")


def pretrained_dir(name: str) -> Path:
    """``utils.env.cache_dir() / "pretrained" / name``: where the course keeps the pretrained model ``name``."""
    from utils.env import cache_dir

    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise ValueError(f"pretrained_dir: name must be letters, digits, '.', '_' or '-', got {name!r}")
    return cache_dir() / "pretrained" / name


def save_pretrained(folder: str | Path, model: nn.Module, tokenizer, kind: str, info: dict | None = None) -> Path:
    """Write ``model`` (a ``Transformer`` for ``kind="encoder"``, a ``TransformerLM`` for ``"causal_lm"``) to ``folder``.

    Files: ``model.safetensors``, ``config.json`` (its ``TransformerConfig``), ``tokenizer/`` (``tokenizer.save``)
    and ``info.json`` (``kind`` and ``info``: what the run measured). Returns ``folder``.
    """
    if kind not in _KINDS:
        raise ValueError(f"save_pretrained: kind must be one of {_KINDS}, got {kind!r}")
    folder = Path(folder)
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

    folder = Path(folder)
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


def train_wikipedia_tokenizer(vocab_size: int, n_texts: int | None = None):
    """A byte-level BPE (``utils.tokenizer.train_bpe``) trained on the training split's Wikipedia leads.

    Its vocabulary ends with :data:`ENCODER_SPECIAL_TOKENS`; ``n_texts`` keeps only the first leads (quick mode).
    """
    from utils.env import cache_dir
    from utils.tokenizer import Tokenizer, train_bpe

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
    (:func:`wikipedia_mlm_data`), BERT's 80/10/10 masking (``utils.training.mask_tokens``) drawn afresh for every
    batch, and ``utils.training.fit`` with ``masked_lm_loss``, evaluated on a fixed masking of validation leads.
    Sizes from :func:`encoder_recipe`. With ``save`` the result goes to ``pretrained_dir("wikipedia-encoder")``
    (``-quick`` appended in quick mode, so a quick run never replaces the full model).

    Returns ``(encoder, tokenizer, history, info)``: a ``Transformer``, its ``Tokenizer``, the ``StepHistory`` and
    a dict of what was measured (recipe, final validation loss, tokens seen).
    """
    from utils.env import get_device
    from utils.training import TrainConfig, fit, mask_tokens, masked_lm_loss, mean_loss
    from utils.transformer import Transformer

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

    quick = quick_mode() if quick is None else quick
    device = get_device(None if device is None else str(device))
    folder = pretrained_dir("wikipedia-encoder" + ("-quick" if quick else ""))
    if (folder / MODEL_FILE).is_file():
        encoder, tokenizer, info = load_pretrained(folder)
    else:
        encoder, tokenizer, _, info = pretrain_encoder(quick, device, progress=False)
    return encoder.to(device).eval(), tokenizer, info
