"""Checkers for the exercises of chapter 1 (a short history of large models).

Each checker takes the learner's function, runs it on inputs of its own, compares with a reference computed
here independently, and raises :class:`utils.exercises.ExerciseError` with a message that names what is wrong
(type, length, value; expected and given) and a hint for the usual mistakes, never the answer itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from utils.exercises import ExerciseError, _passed

__all__ = [
    "check_training_compute",
    "check_doubling_time_months",
    "check_compute_optimal_size",
    "check_years_ahead_of_trend",
]


def _require_callable(name: str, fn) -> None:
    if not callable(fn):
        raise ExerciseError(f"{name}: expected a function, got {type(fn).__name__}")


def _require_number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        shape = getattr(value, "shape", None)
        if shape == () or (shape is not None and int(np.prod(shape)) == 1):
            value = float(np.asarray(value).ravel()[0])
        else:
            raise ExerciseError(f"{name}: expected a single number (float), got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ExerciseError(f"{name}: expected a finite number, got {value}")
    return value


def _ratio_hint(ratio: float, hints: dict[float, str], rtol: float = 0.02) -> str:
    """The hint whose known-mistake ratio is within ``rtol`` of ``ratio`` (relative), else ''."""
    for known, hint in hints.items():
        if math.isclose(ratio, known, rel_tol=rtol):
            return f" Hint: {hint}"
    return ""


def _compare(name: str, given: float, expected: float, rtol: float, case: str, hints: dict[float, str]) -> None:
    if math.isclose(given, expected, rel_tol=rtol):
        return
    ratio = given / expected if expected != 0 else math.inf
    raise ExerciseError(
        f"{name}: wrong value for {case}: your answer is {ratio:.3g}× the expected one (allowed relative error {rtol:g})."
        + _ratio_hint(ratio, hints)
    )


# Exercise 1 ----------------------------------------------------------------------------------------------------

_COMPUTE_HINTS = {
    1 / 6: "off by a factor of 6: did you forget the FLOPs per parameter per token?",
    1 / 3: "off by a factor of 3: did you count only the forward pass (2 FLOPs per parameter per token)?",
    1 / 2: "off by a factor of 2: a multiply-add is 2 FLOPs, and the backward pass costs twice the forward pass.",
    2.0: "off by a factor of 2: forward 2 FLOPs + backward 4 FLOPs per parameter per token.",
}


def check_training_compute(training_compute: Callable[[float, float], float]) -> None:
    """Exercise 1: ``training_compute(n_params, n_tokens) -> float``, training FLOPs of a dense transformer."""
    name = "training_compute"
    _require_callable(name, training_compute)
    for n_params, n_tokens in ((1.0e9, 2.0e10), (7.0e9, 1.0e12), (1.25e8, 3.0e9)):
        case = f"n_params={n_params:g}, n_tokens={n_tokens:g}"
        given = _require_number(name, training_compute(n_params, n_tokens))
        expected = 2 * n_params * n_tokens + 4 * n_params * n_tokens  # forward + backward, counted separately
        _compare(name, given, expected, 1e-6, case, _COMPUTE_HINTS)
    _passed(name)


# Exercise 2 ----------------------------------------------------------------------------------------------------

_DOUBLING_HINTS = {
    1 / 12: "this looks like years, not months: multiply by 12.",
    12.0: "this is 12× too large: did you multiply months by 12 twice?",
    1 / math.log(2): "did you fit the natural log? With ln, the slope is in e-foldings per year; use log2.",
    1 / math.log10(2): "did you fit log10? With log10, the slope is in decades per year; use log2.",
}


def _synthetic_growth(seed: int, doubling_months: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    years = np.sort(rng.uniform(2000.0, 2020.0, size=n))
    log2_values = 10.0 + (years - 2000.0) * 12.0 / doubling_months + rng.normal(0.0, 0.8, size=n)
    return years, 2.0**log2_values


def _reference_doubling_months(years: np.ndarray, values: np.ndarray) -> float:
    # Least squares by the normal equations, written independently of numpy.polyfit.
    x, y = years - years.mean(), np.log(values) / np.log(2.0)
    slope = float(np.dot(x, y - y.mean()) / np.dot(x, x))
    return 12.0 / slope


def check_doubling_time_months(doubling_time_months: Callable[[np.ndarray, np.ndarray], float]) -> None:
    """Exercise 2: ``doubling_time_months(years, values) -> float`` from a least-squares fit of log2(values) on years."""
    name = "doubling_time_months"
    _require_callable(name, doubling_time_months)
    for seed, true_months, n in ((1, 7.0, 25), (2, 20.0, 12), (3, 3.4, 40)):
        years, values = _synthetic_growth(seed, true_months, n)
        case = f"{n} noisy points (seed {seed})"
        given = _require_number(name, doubling_time_months(years.copy(), values.copy()))
        expected = _reference_doubling_months(years, values)
        if given <= 0:
            raise ExerciseError(f"{name}: expected a positive number of months for growing data ({case}), got {given:.3g}")
        _compare(name, given, expected, 1e-6, case, _DOUBLING_HINTS)
    _passed(name)


# Exercise 3 ----------------------------------------------------------------------------------------------------


def check_compute_optimal_size(compute_optimal_size: Callable[[float, float], tuple[float, float]]) -> None:
    """Exercise 3: ``compute_optimal_size(compute_flop, tokens_per_param) -> (n_params, n_tokens)`` with C = 6ND, D = rN."""
    name = "compute_optimal_size"
    _require_callable(name, compute_optimal_size)
    for compute_flop, ratio in ((5.76e23, 20.0), (1.0e21, 20.0), (3.8e25, 40.0)):
        case = f"compute_flop={compute_flop:g}, tokens_per_param={ratio:g}"
        answer = compute_optimal_size(compute_flop, ratio)
        if not isinstance(answer, (tuple, list)):
            raise ExerciseError(f"{name}: expected a tuple (n_params, n_tokens), got {type(answer).__name__}")
        if len(answer) != 2:
            raise ExerciseError(f"{name}: expected a tuple of 2 numbers (n_params, n_tokens), got {len(answer)} items")
        n_params = _require_number(f"{name} (n_params)", answer[0])
        n_tokens = _require_number(f"{name} (n_tokens)", answer[1])
        if n_params <= 0 or n_tokens <= 0:
            raise ExerciseError(f"{name}: expected positive n_params and n_tokens for {case}, got {n_params:.3g} and {n_tokens:.3g}")
        if n_params > n_tokens:
            raise ExerciseError(
                f"{name}: for {case} your n_params ({n_params:.3g}) exceeds your n_tokens ({n_tokens:.3g}): "
                "did you swap them? The tuple is (n_params, n_tokens)."
            )
        if not math.isclose(n_tokens / n_params, ratio, rel_tol=1e-6):
            raise ExerciseError(
                f"{name}: for {case} your n_tokens / n_params is {n_tokens / n_params:.4g}, expected tokens_per_param = {ratio:g}"
            )
        spent = 6 * n_params * n_tokens / compute_flop
        if not math.isclose(spent, 1.0, rel_tol=1e-6):
            hint = _ratio_hint(spent, {6.0: "6·N·D should equal the budget: did you drop the 6 when solving for n_params?", 1 / 6: "did you divide by 6 twice?"})
            raise ExerciseError(
                f"{name}: for {case} your (n_params, n_tokens) spends {spent:.3g}× the budget (6·N·D / compute_flop); expected 1."
                + hint
            )
    _passed(name)


# Exercise 4 ----------------------------------------------------------------------------------------------------


def check_years_ahead_of_trend(years_ahead_of_trend: Callable[[float, float, float, float], float]) -> None:
    """Exercise 4: ``years_ahead_of_trend(slope, intercept, year, value) -> float`` for a trend log2(v) = intercept + slope·year.

    Positive when the model reached ``value`` before the trend line does.
    """
    name = "years_ahead_of_trend"
    _require_callable(name, years_ahead_of_trend)
    cases = ((1.6, -3150.0, 2020.0, 2.0**85), (0.5, -990.0, 2010.0, 2.0**8), (2.2, -4400.0, 2024.0, 2.0**60))
    for slope, intercept, year, value in cases:
        case = f"slope={slope:g}, intercept={intercept:g}, year={year:g}, value=2^{math.log2(value):g}"
        given = _require_number(name, years_ahead_of_trend(slope, intercept, year, value))
        trend_log2 = intercept + slope * year
        expected = (math.log2(value) - trend_log2) / slope
        if math.isclose(given, -expected, rel_tol=1e-6) and expected != 0:
            raise ExerciseError(f"{name}: wrong sign for {case}: a model above the trend line is ahead (positive).")
        if not math.isclose(given, expected, rel_tol=1e-6, abs_tol=1e-9):
            trend_gap = math.log2(value) - trend_log2
            hint = " Hint: did you forget to divide the gap in doublings by the slope?" if math.isclose(given, trend_gap, rel_tol=1e-6) else ""
            hint = hint or (" Hint: compare log2 values, not the values themselves." if abs(given) > 1e6 else "")
            direction = "too large" if given > expected else "too small"
            raise ExerciseError(f"{name}: wrong value for {case}: expected a number of years; yours is {direction}.{hint}")
    _passed(name)
