"""Checkers for the exercises: they say what is wrong (type, shape, value; expected and given) and never the answer.

The pattern in every chapter: a stub that raises ``NotImplementedError``, a checker cell that calls one of the
chapter's checkers (``utils.exercises.<topic>``), and a solution cell hidden on the website. The core checks here
raise :class:`ExerciseError` on a wrong answer and print one line on a right one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["ExerciseError", "check_type", "check_shape", "check_close", "check_equal", "run_exercise"]


class ExerciseError(AssertionError):
    """A learner's answer is wrong; the message says what, with the expected and the given."""


def _passed(name: str) -> None:
    print(f"✓ {name}: correct")


def _shape_of(value: Any) -> tuple[int, ...] | None:
    shape = getattr(value, "shape", None)
    return tuple(shape) if shape is not None else None


def check_type(name: str, given: Any, expected_type: type | tuple[type, ...]) -> None:
    """Raise :class:`ExerciseError` unless ``given`` is an instance of ``expected_type``."""
    if not isinstance(given, expected_type):
        names = (
            " or ".join(t.__name__ for t in expected_type) if isinstance(expected_type, tuple) else expected_type.__name__
        )
        raise ExerciseError(f"{name}: expected a value of type {names}, got {type(given).__name__}")


def check_shape(name: str, given: Any, expected_shape: tuple[int, ...]) -> None:
    """Raise :class:`ExerciseError` unless ``given.shape == expected_shape`` (tensor or array)."""
    shape = _shape_of(given)
    if shape is None:
        raise ExerciseError(f"{name}: expected an array or tensor of shape {tuple(expected_shape)}, got {type(given).__name__}")
    if shape != tuple(expected_shape):
        raise ExerciseError(f"{name}: expected shape {tuple(expected_shape)}, got {shape}")


def _as_array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def check_close(name: str, given: Any, expected: Any, rtol: float = 1e-5, atol: float = 1e-8, hint: str = "") -> None:
    """Raise :class:`ExerciseError` unless ``given`` is numerically close to ``expected`` (numbers, arrays, tensors).

    The message gives the shape mismatch or the largest difference, never the expected value itself; ``hint`` is
    appended to help the learner find the mistake.
    """
    expected_shape = _shape_of(expected)
    if expected_shape is not None:
        check_shape(name, given, expected_shape)
    elif not isinstance(given, (int, float, np.number)) or isinstance(given, bool):
        raise ExerciseError(f"{name}: expected a number, got {type(given).__name__}")
    given_arr, expected_arr = _as_array(given), _as_array(expected)
    if not np.all(np.isfinite(given_arr)):
        raise ExerciseError(f"{name}: your answer contains NaN or infinity{_hint(hint)}")
    if not np.allclose(given_arr, expected_arr, rtol=rtol, atol=atol):
        diff = float(np.max(np.abs(given_arr - expected_arr)))
        ratio = _ratio(given_arr, expected_arr)
        detail = f"largest difference {diff:.3g}" + (f"; your answer is {ratio:.3g}× the expected one" if ratio else "")
        raise ExerciseError(f"{name}: not close enough (rtol={rtol:g}, atol={atol:g}): {detail}{_hint(hint)}")
    _passed(name)


def _ratio(given: np.ndarray, expected: np.ndarray) -> float | None:
    if given.size != 1 or expected.size != 1 or float(expected.ravel()[0]) == 0.0:
        return None
    return float(given.ravel()[0] / expected.ravel()[0])


def _hint(hint: str) -> str:
    return f". Hint: {hint}" if hint else ""


def check_equal(name: str, given: Any, expected: Any, hint: str = "") -> None:
    """Raise :class:`ExerciseError` unless ``given == expected`` exactly (ints, strings, lists, tuples, dicts)."""
    check_type(name, given, type(expected))
    if given != expected:
        if isinstance(expected, (list, tuple)) and len(given) != len(expected):
            raise ExerciseError(f"{name}: expected {len(expected)} items, got {len(given)}{_hint(hint)}")
        raise ExerciseError(f"{name}: not equal to the expected answer{_hint(hint)}")
    _passed(name)


def run_exercise(checker: Callable[[Any], None], answer: Any) -> bool:
    """Run ``checker(answer)`` in a notebook: ``False`` with a note when the stub still raises ``NotImplementedError``.

    A wrong answer is reported as the checker's message (not a traceback), so the notebook runs top to bottom.
    """
    try:
        checker(answer)
    except NotImplementedError:
        print("not attempted yet: fill in the stub above, then run this cell again")
        return False
    except ExerciseError as error:
        print(f"✗ {error}")
        return False
    return True
