"""The environment a chapter runs in: quick mode, device, seeds, cache folder and the closing report.

Importing this module sets ``HF_HUB_OFFLINE=1`` (the course never waits on a model hub) and turns off the
per-file progress bars of model loading, unless those variables are already set.
"""

from __future__ import annotations

import os
import platform
import random
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no per-file loading bars in the book's outputs
warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm in a notebook without ipywidgets

QUICK_ENV = "COURSE_QUICK"
DEVICE_ENV = "COURSE_DEVICE"
CACHE_ENV = "COURSE_CACHE"
_DEVICE_KINDS = ("cuda", "mps", "cpu")


def quick_mode() -> bool:
    """True when ``COURSE_QUICK`` is set to ``1``/``true``/``yes``: small data, few steps, for CI and smoke tests."""
    return os.environ.get(QUICK_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _available(kind: str) -> bool:
    import torch

    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    return kind == "cpu"


def get_device(preferred: str | None = None):
    """The device to compute on: ``preferred``, else ``$COURSE_DEVICE``, else cuda > mps > cpu.

    Returns a ``torch.device``. Asking for a device that is not there raises a ``RuntimeError`` that says
    which devices are available and how to choose another.
    """
    import torch

    choice = preferred or os.environ.get(DEVICE_ENV) or None
    if choice is None:
        return torch.device(next(kind for kind in _DEVICE_KINDS if _available(kind)))
    kind = choice.split(":")[0].lower()
    if kind not in _DEVICE_KINDS:
        raise ValueError(f"unknown device {choice!r}: expected one of {', '.join(_DEVICE_KINDS)} (e.g. 'cuda:0').")
    if not _available(kind):
        found = [k for k in _DEVICE_KINDS if _available(k)]
        raise RuntimeError(
            f"device {choice!r} was asked for (argument or ${DEVICE_ENV}) but is not available here; "
            f"available: {', '.join(found)}. Unset {DEVICE_ENV} or pass one of those "
            "(on Colab: Runtime > Change runtime type > GPU)."
        )
    return torch.device(choice)


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and PyTorch (all devices) with ``seed`` (an ``int`` ≥ 0)."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def cache_dir() -> Path:
    """The folder that holds downloaded data and models: ``$COURSE_CACHE``, else ``~/.cache/attention-to-product``.

    Created if missing. Copy it to another machine (e.g. a USB stick in a workshop) to work fully offline.
    """
    path = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "attention-to-product").expanduser()
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(
            f"the cache folder {path} (${CACHE_ENV}) is a file, not a folder: set {CACHE_ENV} to a folder "
            "(it is created if missing), or unset it to use ~/.cache/attention-to-product."
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PermissionError(
            f"cannot create the cache folder {path} (${CACHE_ENV}): {error.strerror}. Set {CACHE_ENV} to a folder "
            "you can write to."
        ) from None
    return path


def package_file(*parts: str) -> Path:
    """The path of a data file shipped inside the ``utils`` package, e.g. ``package_file('splits', 'sms.json')``.

    The one way the course locates its package data (split ids, cited figures), installed or editable; read only.
    """
    from importlib import resources

    return Path(str(resources.files("utils").joinpath(*parts)))


def start_timer() -> float:
    """A start time (``time.perf_counter()`` seconds) for :func:`environment_report` to measure the run from."""
    return time.perf_counter()


def cpu_model() -> str:
    """The CPU's model name, e.g. ``'Intel(R) Xeon(R) Processor'`` (from ``/proc/cpuinfo`` on Linux, else ``platform``).

    Recorded in every stamp: BLAS kernels differ between CPU models, so float32 results may differ in the last bits.
    """
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description(device=None) -> str:
    """A short human description of ``device`` (default :func:`get_device`), e.g. ``'cuda (NVIDIA H100 80GB HBM3)'``."""
    import torch

    device = torch.device(device) if device is not None else get_device()
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({cpu_model()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads)"
    return device.type


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages whose numbers matter for the results (``name -> version``)."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for name in ("torch", "transformers", "tokenizers", "numpy", "scikit-learn", "matplotlib"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def environment_report(started_at: float | None = None) -> str:
    """Print and return the report that closes every chapter: mode, device, versions, wall time since ``started_at``."""
    lines = [
        f"mode        : {'quick' if quick_mode() else 'full'} ({QUICK_ENV}={os.environ.get(QUICK_ENV, '')!r})",
        f"device      : {device_description()}",
        f"platform    : {platform.platform()}",
    ]
    lines += [f"{name:<12}: {version}" for name, version in package_versions().items()]
    if started_at is not None:
        lines.append(f"wall time   : {time.perf_counter() - started_at:.1f} s (setup cell to this cell)")
    report = "\n".join(lines)
    print(report)
    return report


def require_memory(n_bytes: int, device=None, what: str = "this step") -> None:
    """Raise a ``MemoryError`` that says what to change when ``device`` has less than ``n_bytes`` free."""
    import torch

    device = torch.device(device) if device is not None else get_device()
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
    else:
        free = _free_host_memory()
    if free is not None and free < n_bytes:
        raise MemoryError(
            f"{what} needs about {n_bytes / 2**30:.1f} GiB on {device} but only {free / 2**30:.1f} GiB is free: "
            f"use quick mode ({QUICK_ENV}=1), a smaller batch size, or a machine with more memory."
        )


def _free_host_memory() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None
