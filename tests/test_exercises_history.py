"""Chapter 1 exercises: every solution passes its checker; known-wrong answers are rejected with a helpful message."""

import math

import numpy as np
import pytest

from utils.exercises import ExerciseError
from utils.exercises import history as ex


# The solutions, as in the notebook's hidden solution cells.
def encoder_decoder_compute(n_encoder, n_decoder, n_input_tokens, n_target_tokens):
    return 6 * (n_encoder * n_input_tokens + n_decoder * n_target_tokens)


def doubling_time_months(years, values):
    slope, _ = np.polyfit(years, np.log2(values), 1)
    return 12 / slope


def compute_optimal_size(compute_flop, tokens_per_param=20.0):
    n_params = math.sqrt(compute_flop / (6 * tokens_per_param))
    return n_params, tokens_per_param * n_params


def years_ahead_of_trend(slope, intercept, year, value):
    return (math.log2(value) - (intercept + slope * year)) / slope


@pytest.mark.parametrize(
    ("checker", "solution"),
    [
        (ex.check_encoder_decoder_compute, encoder_decoder_compute),
        (ex.check_doubling_time_months, doubling_time_months),
        (ex.check_compute_optimal_size, compute_optimal_size),
        (ex.check_years_ahead_of_trend, years_ahead_of_trend),
    ],
)
def test_solutions_pass(checker, solution, capsys):
    checker(solution)
    assert "correct" in capsys.readouterr().out


def test_solutions_agree_with_utils():
    from utils.history import compute_optimal_allocation, estimate_training_compute, fit_doubling_time

    # Each half is a dense stack that sees its own tokens: the sum of two 6ND estimates.
    both_halves = estimate_training_compute(5e9, 8e11) + estimate_training_compute(6e9, 2e11)
    assert encoder_decoder_compute(5e9, 6e9, 8e11, 2e11) == pytest.approx(both_halves, rel=1e-12)
    # Same formula in float64 (a square root and three products): equal to ~1e-16, 1e-12 allowed.
    assert compute_optimal_size(1e22, 20.0) == pytest.approx(compute_optimal_allocation(1e22, 20.0), rel=1e-12)
    years = np.array([2000.0, 2003.0, 2007.0, 2010.0])
    values = np.array([1.0, 9.0, 100.0, 900.0])
    # polyfit on raw years vs a centred fit: they differ by about 2^-52 × cond([year, 1]) (~1e-10 for years near 2000).
    tolerance = np.finfo(float).eps * np.linalg.cond(np.column_stack([years, np.ones_like(years)]))
    assert doubling_time_months(years, values) == pytest.approx(fit_doubling_time(years, values).doubling_time_months, rel=tolerance)


@pytest.mark.parametrize(
    ("checker", "wrong", "message"),
    [
        (ex.check_encoder_decoder_compute, lambda ne, nd, di, dt: 6 * (ne + nd) * (di + dt), "every token through every parameter"),
        (ex.check_encoder_decoder_compute, lambda ne, nd, di, dt: 6 * (ne * dt + nd * di), "encoder and decoder swapped"),
        (ex.check_encoder_decoder_compute, lambda ne, nd, di, dt: 2 * (ne * di + nd * dt), "only the forward pass"),
        (ex.check_encoder_decoder_compute, lambda ne, nd, di, dt: ne * di + nd * dt, "FLOPs per parameter per token are missing"),
        (ex.check_encoder_decoder_compute, lambda ne, nd, di, dt: 6 * (ne + nd) * di, "decoder does not read the input tokens"),
        (ex.check_encoder_decoder_compute, lambda ne, nd, di, dt: 6 * (ne * (di + dt) + nd * dt), "encoder reads only the input tokens"),
        (ex.check_encoder_decoder_compute, lambda ne, nd, di, dt: 5 * (ne * di + nd * dt), r"0.833× the expected one"),
        (ex.check_encoder_decoder_compute, lambda ne, nd, di, dt: "6ND", r"encoder_decoder_compute\(...\) must be a number, got '6ND' \(str\)"),
        (ex.check_encoder_decoder_compute, 6e20, r"must be a function, got 6e\+20 \(float\) \(pass the function itself"),
        (ex.check_doubling_time_months, lambda y, v: 1 / np.polyfit(y, np.log2(v), 1)[0], "years, not months"),
        (ex.check_doubling_time_months, lambda y, v: 12 / np.polyfit(y, np.log(v), 1)[0], "natural log"),
        (ex.check_doubling_time_months, lambda y, v: 12 / np.polyfit(y, np.log10(v), 1)[0], "log10"),
        (ex.check_doubling_time_months, lambda y, v: -12 / np.polyfit(y, np.log2(v), 1)[0], "expected a positive number of months"),
        (ex.check_doubling_time_months, lambda y, v: np.array([1.0, 2.0]), r"must be a number, got ndarray \(2,\) float64"),
        (ex.check_compute_optimal_size, lambda c, r: math.sqrt(c / r), "expected a tuple"),
        (ex.check_compute_optimal_size, lambda c, r: (1.0, 2.0, 3.0), "expected a tuple of 2 numbers.*got 3 items"),
        (ex.check_compute_optimal_size, lambda c, r: compute_optimal_size(c, r)[::-1], "did you swap them"),
        (ex.check_compute_optimal_size, lambda c, r: (math.sqrt(c / r), r * math.sqrt(c / r)), "spends 6× the budget.*drop the 6"),
        (ex.check_compute_optimal_size, lambda c, r: (math.sqrt(c / 120), 20 * math.sqrt(c / 120)), "n_tokens / n_params is 20, expected tokens_per_param = 40"),
        (ex.check_years_ahead_of_trend, lambda s, i, y, v: -years_ahead_of_trend(s, i, y, v), "wrong sign"),
        (ex.check_years_ahead_of_trend, lambda s, i, y, v: math.log2(v) - (i + s * y), "divide the gap in doublings by the slope"),
        (ex.check_years_ahead_of_trend, lambda s, i, y, v: (v - 2 ** (i + s * y)) / s, "compare log2 values"),
    ],
)
def test_wrong_answers_are_rejected_with_the_right_message(checker, wrong, message):
    with pytest.raises(ExerciseError, match=message):
        checker(wrong)


def test_messages_do_not_reveal_the_answer():
    # The checker's message for a wrong answer never prints the reference value itself (first case: 6.38e+22 FLOP).
    with pytest.raises(ExerciseError) as info:
        ex.check_encoder_decoder_compute(lambda ne, nd, di, dt: 5 * (ne * di + nd * dt))
    expected = encoder_decoder_compute(5.5e9, 5.5e9, 8.0e11, 2.0e11)
    assert f"{expected:.3g}" not in str(info.value) and f"{expected:g}" not in str(info.value)


def test_stub_raises_not_implemented_through_the_checker():
    def stub(n_encoder, n_decoder, n_input_tokens, n_target_tokens):
        raise NotImplementedError("Exercise 1")

    with pytest.raises(NotImplementedError):
        ex.check_encoder_decoder_compute(stub)
