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

The course's pretrained models (saved and loaded whole, with their config and tokenizer) live in
``utils.pretrained``.
"""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model
from torch import nn

from utils.checks import check_bool, check_int, describe, fail

__all__ = [
    "CheckpointError",
    "rng_state",
    "set_rng_state",
    "save_checkpoint",
    "latest_checkpoint",
    "load_checkpoint",
    "resume_checkpoint",
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
    if not isinstance(state, dict):
        fail(f"set_rng_state: state must be the dict rng_state() returns, got {describe(state)}", TypeError,
             "a checkpoint's is load_checkpoint(...)['rng']")
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


def _as_folder(name: str, folder) -> Path:
    if not isinstance(folder, (str, Path)):
        fail(f"{name} must be a folder path (str or Path), got {describe(folder)}", TypeError,
             "e.g. utils.env.cache_dir() / 'runs' / 'my_run'")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        fail(f"{name} {folder} is a file, not a folder", NotADirectoryError, "choose a folder path for the checkpoints")
    return folder


def _check_model(name: str, model) -> None:
    if not isinstance(model, nn.Module):
        fail(f"{name} must be an nn.Module, got {describe(model)}", TypeError, "pass the model itself")


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
    check_int("save_checkpoint: step", step, minimum=0)
    _check_model("save_checkpoint: model", model)
    if not isinstance(optimizer, torch.optim.Optimizer):
        fail(f"save_checkpoint: optimizer must be a torch.optim.Optimizer, got {describe(optimizer)}", TypeError,
             "the arguments are (folder, step, model, optimizer, ...)")
    if extra is not None and not isinstance(extra, dict):
        fail(f"save_checkpoint: extra must be a dict or None, got {describe(extra)}", TypeError)
    folder = _as_folder("save_checkpoint: folder", folder)
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
    folder = _as_folder("latest_checkpoint: folder", folder)
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
    if not isinstance(path, (str, Path)):
        fail(f"load_checkpoint: path must be a checkpoint folder (str or Path), got {describe(path)}", TypeError,
             "e.g. latest_checkpoint(run_folder)")
    path = Path(path)
    _check_model("load_checkpoint: model", model)
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        fail(f"load_checkpoint: optimizer must be a torch.optim.Optimizer or None, got {describe(optimizer)}", TypeError)
    check_bool("load_checkpoint: restore_rng", restore_rng)
    if path.is_dir() and not (path / STATE_FILE).exists() and latest_checkpoint(path) is not None:
        fail(f"load_checkpoint: path {path} is a run's folder, not one checkpoint of it", CheckpointError,
             f"pass latest_checkpoint(folder), here {latest_checkpoint(path)}")
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
    if not isinstance(train_config, dict):
        fail(f"resume_checkpoint: train_config must be a dict, got {describe(train_config)}", TypeError,
             "pass dataclasses.asdict(config)")
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
