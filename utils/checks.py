"""Checks at the public entry points of ``utils``: one place, one shape of message.

Every public function checks what it is given before it computes, so that a mistake is reported where it was made,
in the reader's terms, and never as a traceback from deep inside torch or as a silently wrong result. A message
names the argument, what was expected, what was given and, where it helps, what to do::

    labels must be an int tensor, got tensor (4,) float32 on cpu (convert it with .long())

Wrong types raise ``TypeError``; wrong values, shapes and ranges raise ``ValueError``. The checks read only metadata
(types, shapes, dtypes, devices), except :func:`check_index_range`, which reads one minimum and one maximum.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import NoReturn

__all__ = [
    "describe", "fail", "check_int", "check_number", "check_bool", "check_choice", "check_callable", "check_tensor",
    "check_same_shape", "check_same_dtype_and_device", "check_index_range",
]

_DTYPE_KINDS = ("float", "int", "bool")


def describe(value) -> str:
    """A short description of ``value`` for a message: ``'tensor (2, 5) float32 on cpu'``, ``"'abc' (str)"``."""
    shape = getattr(value, "shape", None)
    if shape is not None and hasattr(value, "dtype"):
        kind = "tensor" if type(value).__module__.startswith("torch") else type(value).__name__
        device = getattr(value, "device", None)
        where = f" on {device}" if device is not None and kind == "tensor" else ""
        return f"{kind} {tuple(shape)} {str(value.dtype).removeprefix('torch.')}{where}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def fail(message: str, error: type[Exception] = ValueError, hint: str = "") -> NoReturn:
    """Raise ``error`` with ``message`` and, when given, the ``hint`` on what to do (in parentheses)."""
    if not (isinstance(error, type) and issubclass(error, BaseException)):
        raise TypeError(f"error must be an exception class such as ValueError, got {error!r}")
    raise error(f"{message} ({hint})" if hint else message)


def check_int(name: str, value, minimum: int | None = None, maximum: int | None = None, hint: str = "") -> int:
    """``value`` as an ``int`` if it is an integer (not a bool, not a float) within ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        fail(f"{name} must be an int, got {describe(value)}", TypeError,
             hint or ("round it first, e.g. int(...)" if isinstance(value, numbers.Real) else ""))
    _check_bounds(name, int(value), minimum, maximum, hint)
    return int(value)


def check_number(name: str, value, minimum: float | None = None, maximum: float | None = None,
                 above: float | None = None, hint: str = "") -> float:
    """``value`` as a finite ``float`` (an int or float, not a bool) within ``[minimum, maximum]`` and ``> above``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(f"{name} must be a number, got {describe(value)}", TypeError, hint)
    value = float(value)
    if not math.isfinite(value):
        fail(f"{name} must be finite, got {value}", ValueError, hint)
    if above is not None and not value > above:
        fail(f"{name} must be > {above}, got {value:g}", ValueError, hint)
    _check_bounds(name, value, minimum, maximum, hint)
    return value


def _check_bounds(name: str, value, minimum, maximum, hint: str) -> None:
    if minimum is not None and value < minimum:
        fail(f"{name} must be >= {minimum}, got {value:g}", ValueError, hint)
    if maximum is not None and value > maximum:
        fail(f"{name} must be <= {maximum}, got {value:g}", ValueError, hint)


def check_bool(name: str, value) -> bool:
    """``value`` if it is a ``bool`` (``0``, ``1`` and strings are refused: they are usually a swapped argument)."""
    if not isinstance(value, bool):
        fail(f"{name} must be True or False, got {describe(value)}", TypeError)
    return value


def check_choice(name: str, value, choices: Sequence) -> object:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        fail(f"{name} must be one of {', '.join(repr(c) for c in choices)}, got {describe(value)}", ValueError)
    return value


def check_callable(name: str, value, hint: str = "") -> Callable:
    """``value`` if it can be called (a function, a lambda, a module)."""
    if not callable(value):
        fail(f"{name} must be a function, got {describe(value)}", TypeError,
             hint or ("None: did the cell that defines it run?" if value is None else ""))
    return value


def check_tensor(name: str, value, ndim: int | None = None, min_ndim: int | None = None, dtype: str | None = None,
                 shape: Sequence[int | None] | None = None, hint: str = ""):
    """``value`` if it is a ``torch.Tensor`` with the given number of dims, dtype kind and trailing ``shape``.

    ``dtype`` is a kind: ``'float'``, ``'int'`` or ``'bool'``. ``shape`` gives the last ``len(shape)`` sizes, ``None``
    for any size, so ``shape=(None, 64)`` accepts ``(..., seq_len, 64)`` with any leading batch dims.
    """
    import torch

    if (dtype == "float" and shape is None and isinstance(value, torch.Tensor) and value.is_floating_point()
            and (ndim is None or value.dim() == ndim) and (min_ndim is None or value.dim() >= min_ndim)):
        return value  # the common case, checked in a few attribute reads (a forward pass calls this)
    if not isinstance(value, torch.Tensor):
        fail(f"{name} must be a torch.Tensor, got {describe(value)}", TypeError,
             hint or ("convert it with torch.as_tensor(...)" if hasattr(value, "__len__") else ""))
    if ndim is not None and value.dim() != ndim:
        fail(f"{name} must have {ndim} dims, got {describe(value)}", ValueError, hint)
    if min_ndim is not None and value.dim() < min_ndim:
        fail(f"{name} must have at least {min_ndim} dims, got {describe(value)}", ValueError, hint)
    if dtype is not None:
        _check_dtype(name, value, dtype, hint)
    if shape is not None:
        trailing = tuple(value.shape[value.dim() - len(shape):]) if value.dim() >= len(shape) else None
        wanted = tuple("*" if s is None else s for s in shape)
        if trailing is None or any(w != "*" and w != t for w, t in zip(wanted, trailing)):
            fail(f"{name} must end in shape ({', '.join(map(str, wanted))}), got {describe(value)}", ValueError, hint)
    return value


def _check_dtype(name: str, value, kind: str, hint: str) -> None:
    import torch

    check_choice("dtype", kind, _DTYPE_KINDS)
    ok = {"float": value.is_floating_point(), "bool": value.dtype == torch.bool,
          "int": not value.is_floating_point() and not value.is_complex() and value.dtype != torch.bool}[kind]
    if not ok:
        fix = {"float": "convert it with .float()", "int": "convert it with .long()", "bool": "compare it, e.g. x > 0"}
        article = "an" if kind == "int" else "a"
        fail(f"{name} must be {article} {kind} tensor, got {describe(value)}", TypeError, hint or fix[kind])


def check_same_shape(name_a: str, a, name_b: str, b, hint: str = "") -> None:
    """Raise unless tensors or arrays ``a`` and ``b`` have the same shape."""
    if tuple(a.shape) != tuple(b.shape):
        fail(f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}",
             ValueError, hint)


def check_same_dtype_and_device(names: Sequence[str], tensors: Sequence) -> None:
    """Raise unless every tensor in ``tensors`` has the dtype and device of the first (``names`` name them)."""
    first = tensors[0]
    for name, tensor in zip(names[1:], tensors[1:]):
        if tensor.dtype != first.dtype or tensor.device != first.device:
            fail(f"{names[0]} and {name} must have the same dtype and device, got {describe(first)} and "
                 f"{describe(tensor)}", TypeError, f"convert one of them with .to({names[0]})")


def check_index_range(name: str, ids, size: int, size_name: str, hint: str = "") -> None:
    """Raise unless every entry of the integer tensor ``ids`` is in ``[0, size)`` (e.g. token ids and vocab_size)."""
    if ids.numel() == 0:
        return
    low, high = int(ids.min()), int(ids.max())
    if low < 0 or high >= size:
        bad = low if low < 0 else high
        fail(f"{name} must be in [0, {size}) ({size_name}={size}), got {bad}", ValueError,
             hint or f"an id from another tokenizer, or {size_name} too small in the config?")
