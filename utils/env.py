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

from utils.checks import check_int, check_number

__all__ = [
    "QUICK_ENV", "DEVICE_ENV", "CACHE_ENV", "quick_mode", "get_device", "seed_everything", "cache_dir", "package_file",
    "start_timer", "cpu_model", "device_description", "package_versions", "environment_report", "require_memory",
]

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

    if isinstance(preferred, torch.device):
        preferred = str(preferred)
    if preferred is not None and not isinstance(preferred, str):
        raise TypeError(f"preferred (the device) must be a str such as 'cuda:0' or a torch.device, got {preferred!r}")
    choice = preferred or os.environ.get(DEVICE_ENV) or None
    if choice is None:
        return torch.device(next(kind for kind in _DEVICE_KINDS if _available(kind)))
    kind, _, index = choice.partition(":")
    source = "preferred" if preferred else f"${DEVICE_ENV}"
    if kind.lower() not in _DEVICE_KINDS or (index and not index.isdigit()):
        raise ValueError(f"unknown device {choice!r} ({source}): expected one of {', '.join(_DEVICE_KINDS)} "
                         "(e.g. 'cuda:0').")
    kind = kind.lower()
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
    check_int("seed", seed, minimum=0)
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

    if not parts or not all(isinstance(part, str) and part for part in parts):
        raise TypeError(f"parts must be non-empty strings naming a file inside utils/, got {parts!r}")
    path = Path(str(resources.files("utils").joinpath(*parts)))
    if not path.exists():
        raise FileNotFoundError(f"no file {'/'.join(parts)} in the installed utils package ({path}): "
                                "reinstall the course package (pip install -e .) from a full checkout")
    return path


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


def device_description(device=None, threads: bool = True) -> str:
    """A short human description of ``device`` (default :func:`get_device`), e.g. ``'cuda (NVIDIA H100 80GB HBM3)'``.

    For the CPU it names the model and the cores and, when ``threads`` is true, the torch threads of this process.
    """
    import torch

    device = _as_device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        used = f", {torch.get_num_threads()} threads" if threads else ""
        return f"cpu ({cpu_model()}, {os.cpu_count()} cores{used})"
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
    if started_at is not None:
        check_number("started_at", started_at, hint="pass the value of utils.env.start_timer() from the set-up cell")
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

    check_int("n_bytes", n_bytes, minimum=0)
    device = _as_device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
    else:
        free = _free_host_memory()
    if free is not None and free < n_bytes:
        raise MemoryError(
            f"{what} needs about {n_bytes / 2**30:.1f} GiB on {device} but only {free / 2**30:.1f} GiB is free: "
            f"use quick mode ({QUICK_ENV}=1), a smaller batch size, or a machine with more memory."
        )


def _as_device(device):
    """``device`` (a str, a torch.device or None for :func:`get_device`) as a ``torch.device`` that exists here."""
    import torch

    if device is None:
        return get_device()
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a str such as 'cpu' or 'cuda:0', or a torch.device, got {device!r}")
    return get_device(str(device))


def _free_host_memory() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None
