"""Bad input to chapter 1's modules (history, cited) and to the exercise checkers: a clear error, raised in utils."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

import utils.cited as cited
import utils.exercises as exercises
import utils.exercises.history as exercises_history
import utils.history as history
from bad_inputs import BadInput, assert_clear_error, case_id

YEARS = np.array([2017.5, 2018.2, 2019.0, 2020.4, 2021.9, 2022.3, 2024.5])
VALUES = np.array([6.5e7, 3.4e8, 1.5e9, 1.75e11, 5.3e11, 5.4e11, 4.05e11])
FIT = history.fit_doubling_time(YEARS, VALUES)
FLAT_FIT = history.fit_doubling_time([2000.0, 2001.0, 2002.0], [4.0, 2.0, 1.0])
GOOD_FIT_FIELDS = {"slope": 1.0, "intercept": -2000.0, "slope_interval": (0.5, 1.5), "confidence": 0.95, "n": 10,
                   "start": 2000.0, "end": 2010.0, "r_squared": 0.9}
GOOD_FIGURE_FIELDS = {"key": "bert_base_params", "value": 110e6, "unit": "parameters", "what": "BERT-base",
                      "source": "Devlin et al. 2019, Table 1"}


def _fit_with(**fields):
    return history.DoublingTimeFit(**{**GOOD_FIT_FIELDS, **fields})


def _figure_with(**fields):
    return cited.CitedFigure(**{**GOOD_FIGURE_FIELDS, **fields})


def _returns_nothing(*_args):
    6 * 2  # a body that computes and forgets to return


CASES = [
    # utils.history ------------------------------------------------------------------------------------------
    BadInput("utils.history.DoublingTimeFit", "confidence in percent", lambda: _fit_with(confidence=95),
             ValueError, "confidence"),
    BadInput("utils.history.DoublingTimeFit", "the slope interval as a list", lambda: _fit_with(slope_interval=[0.5, 1.5]),
             TypeError, "slope_interval"),
    BadInput("utils.history.DoublingTimeFit", "start after end", lambda: _fit_with(start=2010.0, end=2000.0),
             ValueError, "start"),
    BadInput("utils.history.DoublingTimeFit", "a count of points as a float", lambda: _fit_with(n=10.0),
             TypeError, "n must be an int"),
    BadInput("utils.history.year_month", "a date as text", lambda: history.year_month("2017-06"), TypeError, "decimal"),
    BadInput("utils.history.year_month", "a missing date", lambda: history.year_month(float("nan")), ValueError,
             "decimal"),
    BadInput("utils.history.decimal_year", "year and month swapped", lambda: history.decimal_year(6, 2017),
             ValueError, "swap year and month"),
    BadInput("utils.history.decimal_year", "months counted from 0", lambda: history.decimal_year([2017, 2018], [0, 11]),
             ValueError, "month"),
    BadInput("utils.history.decimal_year", "a half month", lambda: history.decimal_year(2017, 6.5), ValueError, "month"),
    BadInput("utils.history.decimal_year", "a decimal year with a month", lambda: history.decimal_year(2017.5, 6),
             ValueError, "year"),
    BadInput("utils.history.decimal_year", "a date as text", lambda: history.decimal_year("June 2017"), TypeError,
             "year"),
    BadInput("utils.history.decimal_year", "more months than years", lambda: history.decimal_year([2017], [6, 7]),
             ValueError, "year and month"),
    BadInput("utils.history.fit_doubling_time", "years and values swapped",
             lambda: history.fit_doubling_time(VALUES, YEARS), ValueError, "swap years and values"),
    BadInput("utils.history.fit_doubling_time", "years counted from 2017",
             lambda: history.fit_doubling_time(YEARS - 2017, VALUES), ValueError, "years"),
    BadInput("utils.history.fit_doubling_time", "confidence in percent",
             lambda: history.fit_doubling_time(YEARS, VALUES, confidence=95), ValueError, "confidence"),
    BadInput("utils.history.fit_doubling_time", "figures typed as text",
             lambda: history.fit_doubling_time(YEARS[:3], ["65M", "340M", "1.5B"]), TypeError, "values"),
    BadInput("utils.history.fit_doubling_time", "a missing figure",
             lambda: history.fit_doubling_time(YEARS, np.r_[VALUES[:-1], np.nan]), ValueError, "dropna"),
    BadInput("utils.history.fit_doubling_time", "a value of zero",
             lambda: history.fit_doubling_time(YEARS, np.r_[0.0, VALUES[1:]]), ValueError, "values"),
    BadInput("utils.history.fit_doubling_time", "two points", lambda: history.fit_doubling_time(YEARS[:2], VALUES[:2]),
             ValueError, "at least 3 points"),
    BadInput("utils.history.count_distinct_resamples", "a count as a float",
             lambda: history.count_distinct_resamples(4.0), TypeError, "n"),
    BadInput("utils.history.count_distinct_resamples", "the points instead of their number",
             lambda: history.count_distinct_resamples(YEARS), TypeError, "n"),
    BadInput("utils.history.count_distinct_resamples", "no points", lambda: history.count_distinct_resamples(0),
             ValueError, "n"),
    BadInput("utils.history.bootstrap_doubling_time", "resamples written as 1e3",
             lambda: history.bootstrap_doubling_time(YEARS, VALUES, 1e3), TypeError, "n_resamples"),
    BadInput("utils.history.bootstrap_doubling_time", "five resamples",
             lambda: history.bootstrap_doubling_time(YEARS, VALUES, 5), ValueError, "n_resamples"),
    BadInput("utils.history.bootstrap_doubling_time", "a negative seed",
             lambda: history.bootstrap_doubling_time(YEARS, VALUES, 100, seed=-1), ValueError, "seed"),
    BadInput("utils.history.bootstrap_doubling_time", "confidence 1",
             lambda: history.bootstrap_doubling_time(YEARS, VALUES, 100, confidence=1.0), ValueError, "confidence"),
    BadInput("utils.history.bootstrap_doubling_time", "four points",
             lambda: history.bootstrap_doubling_time(YEARS[:4], VALUES[:4], 100), ValueError, "4 points"),
    BadInput("utils.history.estimate_training_compute", "a missing token count",
             lambda: history.estimate_training_compute(175e9, np.nan), ValueError, "n_tokens"),
    BadInput("utils.history.estimate_training_compute", "parameters as text",
             lambda: history.estimate_training_compute("175B", 300e9), TypeError, "n_params"),
    BadInput("utils.history.estimate_training_compute", "arrays of different lengths",
             lambda: history.estimate_training_compute(np.ones(3), np.ones(2)), ValueError, "n_params and n_tokens"),
    BadInput("utils.history.estimate_training_compute", "a negative count",
             lambda: history.estimate_training_compute(-1.0, 1e10), ValueError, "n_params"),
    BadInput("utils.history.compute_optimal_allocation", "arguments swapped",
             lambda: history.compute_optimal_allocation(20.0, 5.76e23), ValueError, "swap"),
    BadInput("utils.history.compute_optimal_allocation", "the ratio as text",
             lambda: history.compute_optimal_allocation(5.76e23, "20"), TypeError, "tokens_per_parameter"),
    BadInput("utils.history.compute_optimal_allocation", "no budget",
             lambda: history.compute_optimal_allocation(0.0, 20.0), ValueError, "compute_flop"),
    BadInput("utils.history.add_compute_estimates", "the file path instead of the table",
             lambda: history.add_compute_estimates(cited.MILESTONES_PATH), TypeError, "load_milestones"),
    BadInput("utils.history.add_compute_estimates", "a table read as text",
             lambda: history.add_compute_estimates(pd.read_csv(cited.MILESTONES_PATH, dtype=str)), TypeError,
             "milestones"),
    BadInput("utils.history.add_compute_estimates", "a table without compute columns",
             lambda: history.add_compute_estimates(pd.DataFrame({"parameters": [1.0]})), ValueError, "milestones"),
    BadInput("utils.history.years_off_trend", "the slope instead of the fit",
             lambda: history.years_off_trend(FIT.slope, 2020.4, 1.75e11), TypeError, "fit"),
    BadInput("utils.history.years_off_trend", "year and value swapped",
             lambda: history.years_off_trend(FIT, 1.75e11, 2020.4), ValueError, "swap year and value"),
    BadInput("utils.history.years_off_trend", "a value of zero", lambda: history.years_off_trend(FIT, 2020.4, 0.0),
             ValueError, "value"),
    BadInput("utils.history.years_off_trend", "a trend that does not grow",
             lambda: history.years_off_trend(FLAT_FIT, 2001.0, 2.0), ValueError, "slope"),
    # utils.cited --------------------------------------------------------------------------------------------
    BadInput("utils.cited.CitedFigure", "the value as text", lambda: _figure_with(value="110M"), TypeError, "value"),
    BadInput("utils.cited.CitedFigure", "no source", lambda: _figure_with(source=""), ValueError, "source"),
    BadInput("utils.cited.CitedFigure", "a key with spaces", lambda: _figure_with(key="bert base"), ValueError, "key"),
    BadInput("utils.cited.validate_milestones", "a table that is already typed",
             lambda: cited.validate_milestones(cited.load_milestones()), TypeError, "load_milestones"),
    BadInput("utils.cited.validate_milestones", "a path instead of a table",
             lambda: cited.validate_milestones(cited.MILESTONES_PATH), TypeError, "table"),
    BadInput("utils.cited.validate_milestones", "the cited-figures table",
             lambda: cited.validate_milestones(pd.read_csv(cited.CITED_FIGURES_PATH, dtype=str)),
             cited.CitationSchemaError, "table"),
    BadInput("utils.cited.load_milestones", "a file that does not exist",
             lambda: cited.load_milestones("no_such_milestones.csv"), FileNotFoundError, "path"),
    BadInput("utils.cited.load_milestones", "a folder", lambda: cited.load_milestones(cited.DATA_DIR),
             FileNotFoundError, "folder"),
    BadInput("utils.cited.load_milestones", "the cited-figures file",
             lambda: cited.load_milestones(cited.CITED_FIGURES_PATH), cited.CitationSchemaError, "load_cited_figures"),
    BadInput("utils.cited.load_milestones", "a number as the path", lambda: cited.load_milestones(2017), TypeError,
             "path"),
    BadInput("utils.cited.load_cited_figures", "the milestones file",
             lambda: cited.load_cited_figures(cited.MILESTONES_PATH), cited.CitationSchemaError, "load_milestones"),
    BadInput("utils.cited.cited_figure", "a misspelt key", lambda: cited.cited_figure("bert_base_parms"), KeyError,
             "bert_base_params"),
    BadInput("utils.cited.cited_figure", "a key as a number", lambda: cited.cited_figure(3), TypeError, "key"),
    BadInput("utils.cited.figure", "the value instead of the key", lambda: cited.figure(110e6), TypeError, "key"),
    BadInput("utils.cited.figure", "a key that is not cited", lambda: cited.figure("gpt5_params"), KeyError,
             "gpt5_params"),
    # utils.exercises ----------------------------------------------------------------------------------------
    BadInput("utils.exercises.check_type", "a type name as text", lambda: exercises.check_type("x", 3, "int"),
             TypeError, "expected_type"),
    BadInput("utils.exercises.check_type", "a function that returns nothing",
             lambda: exercises.check_type("x", _returns_nothing(), int), exercises.ExerciseError, "return"),
    BadInput("utils.exercises.check_shape", "a size instead of a shape",
             lambda: exercises.check_shape("t", torch.zeros(5), 5), TypeError, "expected_shape"),
    BadInput("utils.exercises.check_shape", "a negative size",
             lambda: exercises.check_shape("t", torch.zeros(5), (-1,)), ValueError, "expected_shape"),
    BadInput("utils.exercises.check_shape", "a list instead of an array",
             lambda: exercises.check_shape("t", [1.0, 2.0], (2,)), exercises.ExerciseError, "np.array"),
    BadInput("utils.exercises.check_close", "a negative tolerance",
             lambda: exercises.check_close("x", 1.0, 1.0, rtol=-1e-5), ValueError, "rtol"),
    BadInput("utils.exercises.check_close", "no reference", lambda: exercises.check_close("x", 1.0, None),
             TypeError, "expected"),
    BadInput("utils.exercises.check_close", "a function that returns nothing",
             lambda: exercises.check_close("x", _returns_nothing(), 1.0), exercises.ExerciseError, "return"),
    BadInput("utils.exercises.check_close", "the name left out",
             lambda: exercises.check_close(1.0, 1.0, 1.0), TypeError, "name"),
    BadInput("utils.exercises.check_equal", "a hint that is not text",
             lambda: exercises.check_equal("ids", [1], [1], hint=3), TypeError, "hint"),
    BadInput("utils.exercises.check_equal", "a function that returns nothing",
             lambda: exercises.check_equal("ids", _returns_nothing(), [1, 2]), exercises.ExerciseError, "return"),
    BadInput("utils.exercises.run_exercise", "no checker", lambda: exercises.run_exercise(None, _returns_nothing),
             TypeError, "checker"),
    BadInput("utils.exercises.run_exercise", "checker and answer swapped",
             lambda: exercises.run_exercise(_returns_nothing, exercises_history.check_compute_optimal_size),
             TypeError, "swapped"),
    # utils.exercises.history --------------------------------------------------------------------------------
    BadInput("utils.exercises.history.check_encoder_decoder_compute", "None instead of the function",
             lambda: exercises_history.check_encoder_decoder_compute(None), exercises.ExerciseError,
             "encoder_decoder_compute"),
    BadInput("utils.exercises.history.check_encoder_decoder_compute", "the function called instead of passed",
             lambda: exercises_history.check_encoder_decoder_compute(6.4e22), exercises.ExerciseError,
             "without calling it"),
    BadInput("utils.exercises.history.check_encoder_decoder_compute", "two arguments instead of four",
             lambda: exercises_history.check_encoder_decoder_compute(lambda n, d: 6 * n * d), exercises.ExerciseError,
             "must take 4 arguments"),
    BadInput("utils.exercises.history.check_doubling_time_months", "None instead of the function",
             lambda: exercises_history.check_doubling_time_months(None), exercises.ExerciseError,
             "doubling_time_months"),
    BadInput("utils.exercises.history.check_doubling_time_months", "a function that returns nothing",
             lambda: exercises_history.check_doubling_time_months(_returns_nothing), exercises.ExerciseError,
             "returned None"),
    BadInput("utils.exercises.history.check_compute_optimal_size", "None instead of the function",
             lambda: exercises_history.check_compute_optimal_size(None), exercises.ExerciseError,
             "compute_optimal_size"),
    BadInput("utils.exercises.history.check_compute_optimal_size", "a function that returns nothing",
             lambda: exercises_history.check_compute_optimal_size(_returns_nothing), exercises.ExerciseError,
             "return n_params, n_tokens"),
    BadInput("utils.exercises.history.check_compute_optimal_size", "n_params as text",
             lambda: exercises_history.check_compute_optimal_size(lambda c, r: ("1e9", 2e10)), exercises.ExerciseError,
             "n_params"),
    BadInput("utils.exercises.history.check_years_ahead_of_trend", "None instead of the function",
             lambda: exercises_history.check_years_ahead_of_trend(None), exercises.ExerciseError,
             "years_ahead_of_trend"),
    BadInput("utils.exercises.history.check_years_ahead_of_trend", "a function that returns nothing",
             lambda: exercises_history.check_years_ahead_of_trend(_returns_nothing), exercises.ExerciseError,
             "returned None"),
]

NO_BAD_INPUT = {
    "utils.cited.CitationSchemaError": "an exception type",
    "utils.exercises.ExerciseError": "an exception type",
}

# Inputs that get an answer rather than an error, on purpose.
DOCUMENTED = {
    "utils.history.fit_doubling_time": "values that do not grow give a slope <= 0: doubling_time_months is inf "
    "(not NaN), and the interval's upper end is inf whenever the data cannot exclude 'no growth'; kept, because "
    "'never doubles' is the true answer and the DoublingTimeFit docstring says so",
    "utils.history.bootstrap_doubling_time": "a resample whose slope is <= 0 counts as an infinite doubling time, so "
    "the upper end may be inf (never NaN); kept for the same reason",
    "utils.exercises.run_exercise": "an answer that is None is reported ('✗ answer is None: ...') and gives False "
    "instead of raising, like every wrong answer, so that the notebook runs top to bottom",
}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input_gets_a_clear_error_from_utils(case):
    assert_clear_error(case)


def test_documented_answers_are_infinite_not_nan(capsys):
    flat = FLAT_FIT
    assert math.isinf(flat.doubling_time_months) and math.isinf(flat.doubling_time_interval_months[1])
    noisy = history.fit_doubling_time([2000.0, 2001.0, 2002.0, 2003.0], [1.0, 8.0, 1.0, 8.0])
    assert math.isinf(noisy.doubling_time_interval_months[1]) and not math.isnan(noisy.doubling_time_months)
    years = np.arange(2000.0, 2008.0)
    low, high = history.bootstrap_doubling_time(years, [1.0, 8.0, 1.0, 8.0, 1.0, 8.0, 1.0, 8.0], 200, seed=0)
    assert math.isinf(high) and not math.isnan(low)
    assert exercises.run_exercise(exercises_history.check_doubling_time_months, None) is False
    assert "answer is None" in capsys.readouterr().out


def test_good_input_of_the_notebook_kinds_is_accepted():
    # The kinds the chapter passes: pandas columns with NaN months, numpy scalars, Python ints.
    milestones = cited.load_milestones()
    dates = history.decimal_year(milestones["year"], milestones["month"])
    assert dates.shape == (len(milestones),) and np.all(np.isfinite(dates))
    filled = history.add_compute_estimates(milestones)
    with_compute = filled[filled["training_compute_flop"].notna()]
    fit = history.fit_doubling_time(pd.Series(dates[with_compute.index]), with_compute["training_compute_flop"])
    row = with_compute.iloc[-1]
    ahead = history.years_off_trend(fit, np.float64(dates[with_compute.index[-1]]), row["training_compute_flop"])
    assert math.isfinite(ahead)
    n_params, n_tokens = history.compute_optimal_allocation(np.float64(5.76e23), np.float64(20.0))
    assert n_tokens / n_params == pytest.approx(20.0, rel=1e-12)  # a square root and a product in float64
    assert history.count_distinct_resamples(np.int64(4)) == 35
