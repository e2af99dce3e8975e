"""Checkers for the exercises of chapter 1 (a short history of large models).

Each checker takes the learner's function, runs it on inputs of its own, compares with a reference computed
here independently, and raises :class:`utils.exercises.ExerciseError` with a message that names what is wrong
(type, length, value; expected and given) and a hint for the usual mistakes, never the answer itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from utils.exercises import ExerciseError, _passed, _require_function, _require_number

__all__ = [
    "check_encoder_decoder_compute",
    "check_doubling_time_months",
    "check_compute_optimal_size",
    "check_years_ahead_of_trend",
]


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


def _encoder_decoder_mistakes(n_enc: float, n_dec: float, d_in: float, d_tgt: float) -> dict[str, float]:
    """The values that the usual wrong answers give, each with the hint that names the mistake."""
    return {
        "every token through every parameter: an input token passes only through the encoder, a target token only "
        "through the decoder.": 6 * (n_enc + n_dec) * (d_in + d_tgt),
        "encoder and decoder swapped: the encoder reads the input tokens, the decoder writes the targets.": 6 * (n_enc * d_tgt + n_dec * d_in),
        "only the forward pass (2 FLOPs per parameter per token); add the backward pass.": 2 * (n_enc * d_in + n_dec * d_tgt),
        "the FLOPs per parameter per token are missing.": n_enc * d_in + n_dec * d_tgt,
        "the decoder does not read the input tokens; it writes the targets.": 6 * (n_enc * d_in + n_dec * d_in),
        "the encoder reads only the input tokens, not the targets.": 6 * (n_enc * (d_in + d_tgt) + n_dec * d_tgt),
    }


def check_encoder_decoder_compute(encoder_decoder_compute: Callable[[float, float, float, float], float]) -> None:
    """Exercise 1: ``encoder_decoder_compute(n_encoder, n_decoder, n_input_tokens, n_target_tokens) -> float``.

    Training FLOPs of an encoder-decoder transformer: each token costs the per-parameter rule of section 1.3 in
    the weights it passes through (input tokens the encoder, target tokens the decoder); attention scores and
    the decoder's cross-attention projections of the encoder states are left out.
    """
    name = "encoder_decoder_compute"
    _require_function(name, encoder_decoder_compute, ("n_encoder", "n_decoder", "n_input_tokens", "n_target_tokens"))
    cases = ((5.5e9, 5.5e9, 8.0e11, 2.0e11), (2.0e8, 3.0e8, 1.0e10, 4.0e10), (1.0e9, 1.0e8, 3.0e11, 3.0e10))
    for n_enc, n_dec, d_in, d_tgt in cases:
        case = f"n_encoder={n_enc:g}, n_decoder={n_dec:g}, n_input_tokens={d_in:g}, n_target_tokens={d_tgt:g}"
        given = _require_number(name, encoder_decoder_compute(n_enc, n_dec, d_in, d_tgt))
        # Forward 2 + backward 4 FLOPs per parameter per token, in each half for the tokens it processes.
        expected = (2 + 4) * n_enc * d_in + (2 + 4) * n_dec * d_tgt
        if math.isclose(given, expected, rel_tol=1e-9):  # float64 sums of two products: error ~1e-16
            continue
        for hint, wrong in _encoder_decoder_mistakes(n_enc, n_dec, d_in, d_tgt).items():
            if math.isclose(given, wrong, rel_tol=1e-9):
                raise ExerciseError(f"{name}: wrong value for {case}. Hint: {hint}")
        raise ExerciseError(
            f"{name}: wrong value for {case}: your answer is {given / expected:.3g}× the expected one (allowed relative error 1e-09)."
        )
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
    _require_function(name, doubling_time_months, ("years", "values"))
    for seed, true_months, n in ((1, 7.0, 25), (2, 20.0, 12), (3, 3.4, 40)):
        years, values = _synthetic_growth(seed, true_months, n)
        case = f"{n} noisy points (seed {seed})"
        given = _require_number(name, doubling_time_months(years.copy(), values.copy()))
        expected = _reference_doubling_months(years, values)
        if given <= 0:
            raise ExerciseError(f"{name}: expected a positive number of months for growing data ({case}), got {given:.3g}")
        # 1e-6 admits any float64 least-squares method: polyfit on raw years errs by about 2^-52 × cond([year, 1]) ~ 1e-10.
        _compare(name, given, expected, 1e-6, case, _DOUBLING_HINTS)
    _passed(name)


# Exercise 3 ----------------------------------------------------------------------------------------------------


def check_compute_optimal_size(compute_optimal_size: Callable[[float, float], tuple[float, float]]) -> None:
    """Exercise 3: ``compute_optimal_size(compute_flop, tokens_per_param) -> (n_params, n_tokens)`` with C = 6ND, D = rN."""
    name = "compute_optimal_size"
    _require_function(name, compute_optimal_size, ("compute_flop", "tokens_per_param"))
    for compute_flop, ratio in ((5.76e23, 20.0), (1.0e21, 20.0), (3.8e25, 40.0)):
        case = f"compute_flop={compute_flop:g}, tokens_per_param={ratio:g}"
        answer = compute_optimal_size(compute_flop, ratio)
        if not isinstance(answer, (tuple, list)):
            fix = " (your function returned None: end it with return n_params, n_tokens)" if answer is None else ""
            raise ExerciseError(f"{name}: expected a tuple (n_params, n_tokens), got {type(answer).__name__}{fix}")
        if len(answer) != 2:
            raise ExerciseError(f"{name}: expected a tuple of 2 numbers (n_params, n_tokens), got {len(answer)} items")
        n_params = _require_number(name, answer[0], "[0] (n_params)")
        n_tokens = _require_number(name, answer[1], "[1] (n_tokens)")
        if n_params <= 0 or n_tokens <= 0:
            raise ExerciseError(f"{name}: expected positive n_params and n_tokens for {case}, got {n_params:.3g} and {n_tokens:.3g}")
        if n_params > n_tokens:
            raise ExerciseError(
                f"{name}: for {case} your n_params ({n_params:.3g}) exceeds your n_tokens ({n_tokens:.3g}): "
                "did you swap them? The tuple is (n_params, n_tokens)."
            )
        # rel_tol 1e-6: a square root and a few products in float64 err by ~1e-16; any correct derivation passes.
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
    _require_function(name, years_ahead_of_trend, ("slope", "intercept", "year", "value"))
    # rel_tol 1e-6 below: a learner may take log2 in another way (log(v)/log(2)), which differs by a few 2^-53;
    # abs_tol 1e-9 years for a model that sits on the trend (expected 0).
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
