"""utils.history: doubling-time fits pinned to scipy.stats.linregress, compute from N and D, placement on a trend."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from utils.history import (
    add_compute_estimates,
    MIN_DISTINCT_RESAMPLES,
    bootstrap_doubling_time,
    compute_optimal_allocation,
    count_distinct_resamples,
    decimal_year,
    estimate_training_compute,
    fit_doubling_time,
    year_month,
    years_off_trend,
)


def _noisy_growth(doubling_months=6.0, n=30, seed=0, noise=0.5):
    rng = np.random.default_rng(seed)
    years = np.sort(rng.uniform(2010, 2024, n))
    return years, 2.0 ** (20 + (years - 2010) * 12 / doubling_months + rng.normal(0, noise, n))


def test_exact_exponential_gives_exact_doubling_time():
    years = np.arange(2000.0, 2010.0)
    fit = fit_doubling_time(years, 3.0 * 2.0 ** ((years - 2000) / 1.5))  # doubles every 1.5 years
    # Exact data: only float64 rounding (a few 1e-16 per sum of 10 terms) separates the fit from the truth; the
    # interval's half-width is t * SE with SE ~ 1e-15, hence the looser 1e-9 on its ends.
    assert fit.doubling_time_months == pytest.approx(18.0, rel=1e-12)
    low, high = fit.doubling_time_interval_months
    assert low == pytest.approx(18.0, rel=1e-9) and high == pytest.approx(18.0, rel=1e-9)
    assert fit.r_squared == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(fit.predict([2003.0]), [3.0 * 2.0**2], rtol=1e-9)
    assert fit.growth_per_year == pytest.approx(2 ** (1 / 1.5), rel=1e-12)


def test_fit_matches_scipy_linregress_and_t_interval():
    years, values = _noisy_growth()
    fit = fit_doubling_time(years, values, confidence=0.9)
    reference = stats.linregress(years, np.log2(values))
    # Two float64 least-squares fits of 30 centred points: relative differences of order 30 * 2^-53 ~ 3e-15 per
    # sum; 1e-10 (slope) and 1e-9 (intercept, one product with the mean year ~2017) leave wide room.
    assert fit.slope == pytest.approx(reference.slope, rel=1e-10)
    assert fit.intercept == pytest.approx(reference.intercept, rel=1e-9)
    assert fit.r_squared == pytest.approx(reference.rvalue**2, rel=1e-10)
    half = stats.t.ppf(0.95, len(years) - 2) * reference.stderr
    assert fit.slope_interval == pytest.approx((reference.slope - half, reference.slope + half), rel=1e-10)
    low, high = fit.doubling_time_interval_months
    assert low == pytest.approx(12 / (reference.slope + half), rel=1e-10) and high == pytest.approx(12 / (reference.slope - half), rel=1e-10)
    assert low < fit.doubling_time_months < high
    assert "doubling every" in fit.describe() and "90% CI" in fit.describe()


def test_year_month_inverts_decimal_year():
    years, months = np.repeat(np.arange(1958, 2026), 12), np.tile(np.arange(1, 13), 2026 - 1958)
    decimals = decimal_year(years, months)
    assert [year_month(d) for d in decimals] == [f"{y}-{m:02d}" for y, m in zip(years, months)]
    assert year_month(float(decimal_year(2024, None)[()])) == "2024-07"  # month unknown: mid-year
    fit = fit_doubling_time(decimal_year([2017, 2020, 2024], [6, 5, 12]), [1.0, 8.0, 64.0])
    assert fit.describe().endswith("2017-06 to 2024-12")
    with pytest.raises(ValueError, match="decimal must be finite, got nan"):
        year_month(float("nan"))


def test_interval_covers_the_true_doubling_time_about_95_percent():
    # 200 fits with fixed seeds: the coverage of a correct 95% interval is Binomial(200, 0.95) / 200, standard
    # deviation sqrt(0.95 * 0.05 / 200) = 0.015, so [0.90, 0.99] is about -3.2 to +2.6 standard deviations.
    covered = 0
    for seed in range(200):
        fit = fit_doubling_time(*_noisy_growth(doubling_months=8.0, n=15, seed=seed, noise=1.0))
        low, high = fit.doubling_time_interval_months
        covered += low <= 8.0 <= high
    assert 0.90 <= covered / 200 <= 0.99, f"coverage {covered / 200:.3f}"


def test_uncertain_slope_gives_infinite_upper_end():
    fit = fit_doubling_time([2000.0, 2001.0, 2002.0, 2003.0], [1.0, 8.0, 1.0, 8.0])
    assert math.isinf(fit.doubling_time_interval_months[1])
    flat = fit_doubling_time([2000.0, 2001.0, 2002.0], [4.0, 2.0, 1.0])
    assert math.isinf(flat.doubling_time_months)
    with pytest.raises(ValueError, match="growing trend"):
        years_off_trend(flat, 2001.0, 2.0)


@pytest.mark.parametrize(
    ("years", "values", "message"),
    [
        ([2000.0, 2001.0], [1.0, 2.0], "at least 3 points, got 2"),
        ([2000.0, 2001.0, 2002.0], [1.0, 2.0], r"same length, got shapes \(3,\) and \(2,\)"),
        ([2000.0, 2001.0, 2002.0], [1.0, 0.0, 2.0], "must be positive"),
        ([2000.0, 2001.0, 2002.0], [1.0, float("nan"), 2.0], "finite"),
        ([2000.0, 2000.0, 2000.0], [1.0, 2.0, 3.0], "not all be equal"),
    ],
)
def test_fit_rejects_bad_input(years, values, message):
    with pytest.raises(ValueError, match=message):
        fit_doubling_time(years, values)


def test_bootstrap_interval_brackets_the_fit_and_is_reproducible():
    years, values = _noisy_growth(n=40)
    fit = fit_doubling_time(years, values)
    low, high = bootstrap_doubling_time(years, values, n_resamples=500, seed=1)
    assert low < fit.doubling_time_months < high
    assert (low, high) == bootstrap_doubling_time(years, values, n_resamples=500, seed=1)
    with pytest.raises(ValueError, match="n_resamples must be >= 10, got 5"):
        bootstrap_doubling_time(years, values, n_resamples=5)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7])
def test_count_distinct_resamples_matches_enumeration(n):
    # Independent count: enumerate the multisets of size n drawn from n points.
    assert count_distinct_resamples(n) == sum(1 for _ in itertools.combinations_with_replacement(range(n), n))


def test_bootstrap_refuses_too_few_distinct_resamples():
    years, values = _noisy_growth(n=40)
    assert count_distinct_resamples(5) < MIN_DISTINCT_RESAMPLES <= count_distinct_resamples(6)
    with pytest.raises(ValueError, match="4 points has only 35 distinct resamples, fewer than 256"):
        bootstrap_doubling_time(years[:4], values[:4], n_resamples=500)
    low, high = bootstrap_doubling_time(years[:6], values[:6], n_resamples=500)  # 462 distinct: allowed
    assert low <= high
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        count_distinct_resamples(0)


def test_decimal_year():
    np.testing.assert_allclose(decimal_year([2017, 2020], [6, np.nan]), [2017 + 5.5 / 12, 2020.5])
    np.testing.assert_allclose(decimal_year(1958), 1958.5)
    with pytest.raises(ValueError, match="1..12"):
        decimal_year([2017], [13])


def test_training_compute_is_6nd():
    assert estimate_training_compute(175e9, 300e9) == pytest.approx(3.15e23, rel=1e-15)  # two float64 products
    np.testing.assert_allclose(estimate_training_compute(np.array([1e9, 2e9]), 1e10), [6e19, 1.2e20])
    with pytest.raises(ValueError, match="positive"):
        estimate_training_compute(-1.0, 1e10)


def test_compute_optimal_allocation_spends_the_budget():
    n_params, n_tokens = compute_optimal_allocation(5.76e23, 20.0)
    # A square root and a few float64 products: ~1e-16 relative, 1e-12 allowed.
    assert 6 * n_params * n_tokens == pytest.approx(5.76e23, rel=1e-12)
    assert n_tokens / n_params == pytest.approx(20.0, rel=1e-12)
    with pytest.raises(ValueError, match="compute_flop must be > 0.0, got 0"):
        compute_optimal_allocation(0.0, 20.0)


def test_years_off_trend():
    years = np.arange(2000.0, 2010.0)
    fit = fit_doubling_time(years, 2.0 ** (years - 2000))  # one doubling per year
    # Exact data, slope 1: float64 error of the fit (~1e-13 in log2 units at years ~2000) allows 1e-9.
    assert years_off_trend(fit, 2005.0, 2.0**7) == pytest.approx(2.0, rel=1e-9)  # reached 2005's value + 2 doublings early
    assert years_off_trend(fit, 2005.0, 2.0**4) == pytest.approx(-1.0, rel=1e-9)


def test_add_compute_estimates_rejects_wrong_table():
    import pandas as pd

    with pytest.raises(ValueError, match="missing"):
        add_compute_estimates(pd.DataFrame({"parameters": [1.0]}))


def test_fit_returns_a_doubling_time_fit_with_the_doubling_time_of_its_slope():
    from utils.history import DoublingTimeFit, fit_doubling_time as fit

    years = np.arange(2000, 2010, dtype=float)
    result = fit(years, 2.0 ** (years - 2000))  # one doubling a year
    assert isinstance(result, DoublingTimeFit)
    assert result.doubling_time_months == pytest.approx(12.0, rel=1e-12)
