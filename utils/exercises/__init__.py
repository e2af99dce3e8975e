"""Checkers for the exercises: they say what is wrong (type, shape, value; expected and given) and never the answer.

The pattern in every chapter: a stub that raises ``NotImplementedError``, a checker cell that calls one of the
chapter's checkers (``utils.exercises.<topic>``), and a solution cell hidden on the website. The core checks here
raise :class:`ExerciseError` on a wrong answer and print one line on a right one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from utils.checks import check_callable, check_int, check_number, describe, fail

__all__ = ["ExerciseError", "check_type", "check_shape", "check_close", "check_equal", "run_exercise"]


class ExerciseError(AssertionError):
    """A learner's answer is wrong; the message says what, with the expected and the given."""


def _passed(name: str) -> None:
    print(f"✓ {name}: correct")


def _shape_of(value: Any) -> tuple[int, ...] | None:
    shape = getattr(value, "shape", None)
    return tuple(shape) if shape is not None else None


def _check_name(name: Any) -> None:
    if not isinstance(name, str):
        fail(f"name must be a str that names the answer in the message, got {describe(name)}", TypeError,
             "the first argument of a check is its name, e.g. check_close('loss', given, expected)")


def _returned_none(given: Any) -> str:
    """The hint for an answer that is ``None``: a function without ``return`` gives ``None``."""
    return (" (a function without a return statement gives None: end yours with return ...)"
            if given is None else "")


def check_type(name: str, given: Any, expected_type: type | tuple[type, ...]) -> None:
    """Raise :class:`ExerciseError` unless ``given`` is an instance of ``expected_type``."""
    _check_name(name)
    types = expected_type if isinstance(expected_type, tuple) else (expected_type,)
    if not types or not all(isinstance(t, type) for t in types):
        fail(f"expected_type must be a type or a tuple of types, got {describe(expected_type)}", TypeError,
             "e.g. check_type('x', given, float) or check_type('x', given, (int, float))")
    if not isinstance(given, expected_type):
        names = " or ".join(t.__name__ for t in types)
        raise ExerciseError(f"{name}: expected a value of type {names}, got {type(given).__name__}{_returned_none(given)}")


def check_shape(name: str, given: Any, expected_shape: tuple[int, ...]) -> None:
    """Raise :class:`ExerciseError` unless ``given.shape == expected_shape`` (tensor or array)."""
    _check_name(name)
    if not isinstance(expected_shape, (tuple, list)):
        fail(f"expected_shape must be a tuple of sizes, got {describe(expected_shape)}", TypeError,
             "e.g. (5,) for a vector of 5, not 5")
    for size in expected_shape:
        check_int("expected_shape", size, minimum=0)
    shape = _shape_of(given)
    if shape is None:
        fix = _returned_none(given) or (" (convert it with np.array(...) or torch.tensor(...))"
                                        if isinstance(given, (list, tuple)) else "")
        raise ExerciseError(f"{name}: expected an array or tensor of shape {tuple(expected_shape)}, "
                            f"got {type(given).__name__}{fix}")
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
    _check_name(name)
    check_number("rtol", rtol, minimum=0.0)
    check_number("atol", atol, minimum=0.0)
    _check_hint(hint)
    expected_shape = _shape_of(expected)
    if expected_shape is None and not _is_number(expected):
        fail(f"expected must be a number, an array or a tensor, got {describe(expected)}", TypeError,
             "the checker compares the answer with a reference it computes itself")
    if expected_shape is not None:
        check_shape(name, given, expected_shape)
    elif not _is_number(given):
        raise ExerciseError(f"{name}: expected a number, got {type(given).__name__}{_returned_none(given)}")
    given_arr, expected_arr = _as_array(given), _as_array(expected)
    if not np.all(np.isfinite(given_arr)):
        raise ExerciseError(f"{name}: your answer contains NaN or infinity{_hint(hint)}")
    if not np.allclose(given_arr, expected_arr, rtol=rtol, atol=atol):
        diff = float(np.max(np.abs(given_arr - expected_arr)))
        ratio = _ratio(given_arr, expected_arr)
        detail = f"largest difference {diff:.3g}" + (f"; your answer is {ratio:.3g}× the expected one" if ratio else "")
        raise ExerciseError(f"{name}: not close enough (rtol={rtol:g}, atol={atol:g}): {detail}{_hint(hint)}")
    _passed(name)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))


def _check_hint(hint: Any) -> None:
    if not isinstance(hint, str):
        fail(f"hint must be a str (what to look at when the answer is wrong), got {describe(hint)}", TypeError)


def _ratio(given: np.ndarray, expected: np.ndarray) -> float | None:
    if given.size != 1 or expected.size != 1 or float(expected.ravel()[0]) == 0.0:
        return None
    return float(given.ravel()[0] / expected.ravel()[0])


def _hint(hint: str) -> str:
    return f". Hint: {hint}" if hint else ""


def check_equal(name: str, given: Any, expected: Any, hint: str = "") -> None:
    """Raise :class:`ExerciseError` unless ``given == expected`` exactly (ints, strings, lists, tuples, dicts)."""
    _check_hint(hint)
    check_type(name, given, type(expected))
    if given != expected:
        if isinstance(expected, (list, tuple)) and len(given) != len(expected):
            raise ExerciseError(f"{name}: expected {len(expected)} items, got {len(given)}{_hint(hint)}")
        raise ExerciseError(f"{name}: not equal to the expected answer{_hint(hint)}")
    _passed(name)


def _require_function(name: str, fn, parameters: tuple[str, ...]) -> None:
    """Raise :class:`ExerciseError` unless ``fn`` is a function that can be called with ``parameters``.

    For the chapters' checkers, which take the learner's function: ``None`` (a cell that did not run), the result
    of calling it instead of the function, and a wrong number of parameters each get their own message.
    """
    hint = "" if fn is None else f"pass the function itself, {name}, without calling it: no (...) after its name"
    try:
        check_callable(name, fn, hint=hint)
    except TypeError as error:
        raise ExerciseError(str(error)) from None
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin or C function: nothing to compare
        return
    try:
        signature.bind(*parameters)
    except TypeError:
        raise ExerciseError(
            f"{name} must take {len(parameters)} arguments ({', '.join(parameters)}), yours takes {signature}"
        ) from None


def _require_number(name: str, value, item: str = "") -> float:
    """``value`` (a number, or an array or tensor holding one) as a finite float, else :class:`ExerciseError`.

    ``name`` is the learner's function that returned ``value``; ``item`` the place in its result, e.g. ``'[0]'``.
    """
    if getattr(value, "shape", None) is not None and np.size(value) == 1:
        value = np.asarray(value).ravel()[0]
    hint = ("your function returned None: end it with return ..." if value is None
            else "your function must return a single number (a float)")
    try:
        return check_number(f"{name}(...){item}", value, hint=hint)
    except (TypeError, ValueError) as error:
        raise ExerciseError(str(error)) from None


def run_exercise(checker: Callable[[Any], None], answer: Any) -> bool:
    """Run ``checker(answer)`` in a notebook: ``False`` with a note when the stub still raises ``NotImplementedError``.

    A wrong answer is reported as the checker's message (not a traceback), so the notebook runs top to bottom;
    so is an ``answer`` that is ``None`` (a cell that did not run, or a function without ``return``).
    """
    if callable(answer) and _is_checker(answer) and not _is_checker(checker):
        fail(f"checker and answer are swapped: checker is {describe(checker)}, answer is the checker "
             f"{answer.__name__}", TypeError, f"call run_exercise({answer.__name__}, your_answer)")
    check_callable("checker", checker, hint="pass a checker of the chapter, e.g. run_exercise(checks.check_..., "
                   "your_function); did the cell that imports the checks run?")
    if answer is None:
        print("✗ answer is None: run the cell that defines your answer first; if it is a value computed by your "
              "function, end the function with return ...")
        return False
    try:
        checker(answer)
    except NotImplementedError:
        print("not attempted yet: fill in the stub above, then run this cell again")
        return False
    except ExerciseError as error:
        print(f"✗ {error}")
        return False
    return True


def _is_checker(fn: Any) -> bool:
    """Whether ``fn`` is one of the course's checkers (a ``check_...`` function of ``utils.exercises``)."""
    return (getattr(fn, "__module__", "") or "").startswith("utils.exercises") and \
        getattr(fn, "__name__", "").startswith("check_")
