"""Growth of models over time: training compute from N and D, and doubling times fitted on a log2 scale.

Doubling time. A quantity that doubles every :math:`T` years grows as :math:`v(t) = v_0 2^{t/T}`, so
:math:`\\log_2 v = a + b t` is a straight line with slope :math:`b = 1/T` doublings per year.
:func:`fit_doubling_time` fits that line by ordinary least squares and reports :math:`T = 1/b`.

Interval. The slope's confidence interval is the classical t-interval,
:math:`b \\pm t_{n-2,\\,1-\\alpha/2}\\,\\mathrm{SE}(b)` with
:math:`\\mathrm{SE}(b) = s / \\sqrt{\\sum (t_i - \\bar t)^2}` and :math:`s^2` the residual variance with
:math:`n-2` degrees of freedom; it assumes independent, normal residuals of equal spread in log space. Because
:math:`T = 1/b` is monotone in :math:`b`, the interval for :math:`T` is :math:`[1/b_{hi}, 1/b_{lo}]`; when
:math:`b_{lo} \\le 0` the data cannot exclude "no growth" and the upper end is infinite.
:func:`bootstrap_doubling_time` gives a second, assumption-light interval (percentiles of the doubling time
over case resamples). It needs enough points to have something to resample: ``n`` points have only
:math:`\binom{2n-1}{n}` distinct resamples (:func:`count_distinct_resamples`: 35 for 4 points), and a percentile
interval drawn from a few dozen distinct values is a rounding of them, not an interval. Below
``MIN_DISTINCT_RESAMPLES`` (256: each 2.5% tail then holds at least 6 distinct resamples) it refuses.
Milestones are a chosen sample, not a random one: read either interval as the spread the chosen points allow,
not as a sampling guarantee.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from utils.checks import check_int, check_number, describe, fail

__all__ = [
    "FLOP_PER_PARAMETER_PER_TOKEN", "MIN_DISTINCT_RESAMPLES", "CALENDAR_YEARS", "DoublingTimeFit", "year_month",
    "decimal_year", "fit_doubling_time", "count_distinct_resamples", "bootstrap_doubling_time",
    "estimate_training_compute", "compute_optimal_allocation", "add_compute_estimates", "years_off_trend",
]

FLOP_PER_PARAMETER_PER_TOKEN = 6  # 2 in the forward pass (multiply + add), 4 in the backward pass
MIN_DISTINCT_RESAMPLES = 256  # fewest distinct case resamples for a percentile bootstrap (0.025 * 256 = 6.4 per tail)
CALENDAR_YEARS = (1000, 3000)  # a year outside this range is a swapped argument or a year counted from another origin


@dataclass(frozen=True)
class DoublingTimeFit:
    """A straight-line fit of ``log2(value) = intercept + slope * year``, with the doubling time it implies.

    ``slope`` is in doublings per year; ``slope_interval`` its t-interval at ``confidence``;
    ``doubling_time_months`` is ``12 / slope`` (``inf`` if the slope is not positive) and
    ``doubling_time_interval_months`` the matching interval, ``(low, high)``, ``high`` may be ``inf``.
    ``start`` and ``end`` are the first and last year of the data; ``n`` the number of points; ``r_squared``
    the share of variance in ``log2(value)`` the line explains.
    """

    slope: float
    intercept: float
    slope_interval: tuple[float, float]
    confidence: float
    n: int
    start: float
    end: float
    r_squared: float

    def __post_init__(self):
        for name in ("slope", "intercept", "start", "end"):
            check_number(name, getattr(self, name))
        if not (isinstance(self.slope_interval, tuple) and len(self.slope_interval) == 2):
            fail(f"slope_interval must be a tuple (low, high), got {describe(self.slope_interval)}", TypeError)
        low, high = (check_number("slope_interval", bound) for bound in self.slope_interval)
        if not low <= self.slope <= high:
            fail(f"slope_interval must contain the slope {self.slope:g}, got ({low:g}, {high:g})", ValueError,
                 "make the fit with fit_doubling_time(years, values)")
        _check_confidence(self.confidence)
        check_int("n", self.n, minimum=3, hint="a fit with an interval needs at least 3 points")
        if self.start > self.end:
            fail(f"start must not be after end, got start {self.start:g} and end {self.end:g}", ValueError)
        check_number("r_squared", self.r_squared, maximum=1.0)

    @property
    def doubling_time_months(self) -> float:
        return 12.0 / self.slope if self.slope > 0 else math.inf

    @property
    def doubling_time_interval_months(self) -> tuple[float, float]:
        low_slope, high_slope = self.slope_interval
        low = 12.0 / high_slope if high_slope > 0 else math.inf
        high = 12.0 / low_slope if low_slope > 0 else math.inf
        return (low, high)

    @property
    def growth_per_year(self) -> float:
        """The factor by which the quantity grows in one year, ``2 ** slope``."""
        return 2.0**self.slope

    def predict(self, years) -> np.ndarray:
        """The fitted value (not its log) at ``years`` (a number or an array), as a float64 array."""
        return 2.0 ** (self.intercept + self.slope * _as_floats("years", years))

    def describe(self) -> str:
        """One line, e.g. ``'doubling every 7.1 months (95% CI 5.6–9.8), n=14, 2017-06 to 2024-12'``."""
        low, high = self.doubling_time_interval_months
        high_text = "∞" if math.isinf(high) else f"{high:.1f}"
        return (
            f"doubling every {self.doubling_time_months:.1f} months ({self.confidence:.0%} CI {low:.1f}–{high_text}), "
            f"n={self.n}, {year_month(self.start)} to {year_month(self.end)}"
        )


def year_month(decimal: float) -> str:
    """A decimal year as ``'YYYY-MM'``: the inverse of :func:`decimal_year` (``2024.9583`` -> ``'2024-12'``).

    A mid-month date ``year + (month - 0.5) / 12`` maps back to its month; a mid-year date (month unknown) to July.
    """
    decimal = check_number("decimal", decimal, hint="year_month needs a finite decimal year, e.g. 2017.46")
    year = math.floor(decimal)
    month = min(12, math.floor((decimal - year) * 12) + 1)
    return f"{year:d}-{month:02d}"


def decimal_year(year, month=None) -> np.ndarray:
    """Year as a float at the middle of ``month`` (1..12): ``year + (month - 0.5) / 12``; mid-year where month is NaN/None.

    ``year``: whole calendar years; ``month``: whole months 1..12 or NaN. Numbers or arrays of equal length;
    returns a float64 array.
    """
    year = _as_floats("year", year)
    month = np.full_like(year, np.nan) if month is None else _as_floats("month", month)
    if year.shape != month.shape:
        fail(f"year and month must have the same shape, got {year.shape} and {month.shape}", ValueError)
    known = ~np.isnan(month)
    swapped = "did you swap year and month? the order is decimal_year(year, month)"
    bad_month = month[known][(month[known] < 1) | (month[known] > 12) | (month[known] != np.round(month[known]))]
    if bad_month.size:
        fail(f"month must be a whole number in 1..12 or NaN, got {bad_month[:5]}", ValueError,
             swapped if np.all(bad_month >= CALENDAR_YEARS[0]) else "")
    if not np.all(np.isfinite(year)):
        fail("year must be finite, got NaN or infinity", ValueError, "drop the rows whose year is missing first")
    _check_calendar_years("year", year, swapped)
    if np.any(year != np.round(year)):
        fail(f"year must hold whole years, got {year[year != np.round(year)][:5]}", ValueError,
             "pass the year and the month separately; a decimal year is what decimal_year returns")
    return year + np.where(known, (month - 0.5) / 12.0, 0.5)


def _as_floats(name: str, value) -> np.ndarray:
    """``value`` (a number, list, array or Series) as a float64 array, or a TypeError that names ``name``."""
    if isinstance(value, (str, bytes)) or value is None:
        fail(f"{name} must be numbers (a number, list, array or Series), got {describe(value)}", TypeError)
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        fail(f"{name} must be numbers (a number, list, array or Series), got {describe(value)}", TypeError,
             "convert text columns first, e.g. pd.to_numeric(column)")


def _check_calendar_years(name: str, years: np.ndarray, hint: str) -> None:
    finite = years[np.isfinite(years)]
    if finite.size and (finite.min() < CALENDAR_YEARS[0] or finite.max() > CALENDAR_YEARS[1]):
        bad = finite.min() if finite.min() < CALENDAR_YEARS[0] else finite.max()
        fail(f"{name} must be calendar years in {CALENDAR_YEARS}, got {bad:g}", ValueError, hint)


def _check_series(years, values) -> tuple[np.ndarray, np.ndarray]:
    years, values = _as_floats("years", years), _as_floats("values", values)
    if years.ndim != 1 or years.shape != values.shape:
        fail(f"years and values must be 1-D of the same length, got shapes {years.shape} and {values.shape}", ValueError)
    if years.size < 3:
        fail(f"a doubling-time fit with an interval needs at least 3 points, got {years.size}", ValueError)
    if not (np.all(np.isfinite(years)) and np.all(np.isfinite(values))):
        fail("years and values must be finite", ValueError, "drop rows with missing figures first, e.g. table.dropna()")
    looks_swapped = np.all((values >= CALENDAR_YEARS[0]) & (values <= CALENDAR_YEARS[1]))
    _check_calendar_years("years", years, "did you swap years and values? the order is (years, values)"
                          if looks_swapped else "decimal years such as 2017.46, e.g. from decimal_year(year, month)")
    if np.any(values <= 0):
        fail(f"values must be positive to take log2, got minimum {values.min():g}", ValueError,
             "a doubling time is for quantities that grow by factors: parameters, tokens, FLOP")
    if np.ptp(years) == 0:
        fail("years must not all be equal: a slope needs at least two different years", ValueError)
    return years, values


def fit_doubling_time(years, values, confidence: float = 0.95) -> DoublingTimeFit:
    """Fit ``log2(values) = a + b * years`` by least squares; return a :class:`DoublingTimeFit` with a t-interval.

    ``years``: 1-D array of decimal years; ``values``: 1-D array of positive numbers (parameters, FLOP, ...),
    at least 3 points. The interval is the slope's t-interval at ``confidence`` (see the module docstring).
    """
    _check_confidence(confidence)
    years, values = _check_series(years, values)
    log_values = np.log2(values)
    year_mean = years.mean()
    sxx = np.sum((years - year_mean) ** 2)
    slope = float(np.sum((years - year_mean) * (log_values - log_values.mean())) / sxx)
    intercept = float(log_values.mean() - slope * year_mean)
    residuals = log_values - (intercept + slope * years)
    n = years.size
    residual_sd = math.sqrt(np.sum(residuals**2) / (n - 2))
    slope_se = residual_sd / math.sqrt(sxx)
    half_width = stats.t.ppf(0.5 + confidence / 2, df=n - 2) * slope_se
    total = np.sum((log_values - log_values.mean()) ** 2)
    return DoublingTimeFit(
        slope=slope,
        intercept=intercept,
        slope_interval=(slope - half_width, slope + half_width),
        confidence=confidence,
        n=n,
        start=float(years.min()),
        end=float(years.max()),
        r_squared=float(1 - np.sum(residuals**2) / total) if total > 0 else 1.0,
    )


def _check_confidence(confidence) -> None:
    check_number("confidence", confidence, above=0.0, hint="a fraction, e.g. 0.95 for 95%")
    if not confidence < 1:
        fail(f"confidence must be < 1, got {confidence:g}", ValueError, "a fraction, e.g. 0.95 for 95%")


def count_distinct_resamples(n: int) -> int:
    """How many different multisets a case bootstrap of ``n`` points can draw: :math:`\\binom{2n-1}{n}`.

    A resample picks ``n`` of the ``n`` points with replacement and the order does not matter, so it is a multiset
    of size ``n`` from ``n`` kinds ("stars and bars"). ``count_distinct_resamples(4) -> 35``.
    """
    n = check_int("n", n, minimum=1, hint="n is a number of points, e.g. len(years)")
    return math.comb(2 * n - 1, n)


def bootstrap_doubling_time(years, values, n_resamples: int, seed: int = 0, confidence: float = 0.95,
                            min_distinct_resamples: int = MIN_DISTINCT_RESAMPLES) -> tuple[float, float]:  # fmt: skip
    """Percentile bootstrap interval of the doubling time in months: resample (year, value) pairs with replacement.

    Resamples whose years are all equal are skipped; a resample with a slope ≤ 0 counts as an infinite
    doubling time. Returns ``(low, high)`` in months (``high`` may be ``inf``). Raises ``ValueError`` when the
    points allow fewer than ``min_distinct_resamples`` distinct resamples (:func:`count_distinct_resamples`):
    with 4 points there are only 35, too few for a percentile interval; report the t-interval alone.
    """
    years, values = _check_series(years, values)
    check_int("n_resamples", n_resamples, minimum=10, hint="a few thousand resamples give a stable interval")
    check_int("seed", seed, minimum=0)
    _check_confidence(confidence)
    check_int("min_distinct_resamples", min_distinct_resamples, minimum=1)
    distinct = count_distinct_resamples(years.size)
    if distinct < min_distinct_resamples:
        fail(f"a bootstrap of {years.size} points has only {distinct} distinct resamples, fewer than "
             f"{min_distinct_resamples}: its percentiles would be a handful of values", ValueError,
             "use the t-interval (fit_doubling_time) or more points")
    rng = np.random.default_rng(seed)
    log_values = np.log2(values)
    doubling_months = []
    for _ in range(n_resamples):
        pick = rng.integers(0, years.size, size=years.size)
        x, y = years[pick], log_values[pick]
        if np.ptp(x) == 0:
            continue
        slope = np.sum((x - x.mean()) * (y - y.mean())) / np.sum((x - x.mean()) ** 2)
        doubling_months.append(12.0 / slope if slope > 0 else math.inf)
    tail = (1 - confidence) / 2 * 100
    # numpy interpolates a percentile that falls next to an infinite doubling time as inf - inf = NaN; any weight
    # on an infinite doubling time makes the percentile infinite.
    with np.errstate(invalid="ignore"):
        percentiles = np.percentile(np.array(doubling_months), [tail, 100 - tail])
    low, high = np.nan_to_num(percentiles, nan=math.inf, posinf=math.inf)
    return float(low), float(high)


def estimate_training_compute(n_params, n_tokens):
    """Training FLOPs of a dense transformer, :math:`C \\approx 6ND` (``N`` parameters, ``D`` training tokens).

    6 = 2 FLOPs per parameter per token in the forward pass (a multiply and an add) + 4 in the backward pass
    (gradients for the activations and for the weights). Ignores attention over the context and the
    embeddings' cheaper lookups. Numbers or arrays (broadcast); returns the same kind.
    """
    n_params_arr, n_tokens_arr = _as_floats("n_params", n_params), _as_floats("n_tokens", n_tokens)
    for name, array in (("n_params", n_params_arr), ("n_tokens", n_tokens_arr)):
        if not np.all(np.isfinite(array)):
            fail(f"{name} must be finite, got NaN or infinity", ValueError,
                 "drop the rows where the figure is missing first, e.g. table.dropna(subset=[...])")
        if np.any(array <= 0):
            fail(f"{name} must be positive, got minimum {array.min():g}", ValueError)
    try:
        np.broadcast_shapes(n_params_arr.shape, n_tokens_arr.shape)
    except ValueError:
        fail(f"n_params and n_tokens must broadcast, got shapes {n_params_arr.shape} and {n_tokens_arr.shape}",
             ValueError, "give one number per model in each, or a single number for all")
    compute = FLOP_PER_PARAMETER_PER_TOKEN * n_params_arr * n_tokens_arr
    return float(compute) if compute.ndim == 0 else compute


def compute_optimal_allocation(compute_flop: float, tokens_per_parameter: float) -> tuple[float, float]:
    """Split a compute budget ``C`` into ``(N, D)`` with ``C = 6ND`` and ``D = r N`` (``r = tokens_per_parameter``).

    Solving gives :math:`N = \\sqrt{C / (6r)}` and :math:`D = rN`; Chinchilla's compute-optimal ratio is
    about 20 tokens per parameter. Returns floats ``(n_params, n_tokens)``.
    """
    compute_flop = check_number("compute_flop", compute_flop, above=0.0)
    tokens_per_parameter = check_number("tokens_per_parameter", tokens_per_parameter, above=0.0,
                                        hint="Chinchilla's ratio is about 20")
    n_params = math.sqrt(compute_flop / (FLOP_PER_PARAMETER_PER_TOKEN * tokens_per_parameter))
    if n_params < 1:
        fail(f"compute_flop={compute_flop:g} at tokens_per_parameter={tokens_per_parameter:g} buys fewer than one "
             f"parameter (N = {n_params:.3g})", ValueError,
             "did you swap the arguments? the order is (compute_flop, tokens_per_parameter)")
    return n_params, tokens_per_parameter * n_params


def add_compute_estimates(milestones: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``milestones`` (from :func:`utils.cited.load_milestones`) with compute filled for rows marked
    ``estimated by code``: :math:`6ND`, with ``N`` the active parameters where given (mixtures of experts),
    else all parameters. Adds ``compute_params`` (the ``N`` used; NaN elsewhere). Reported compute is kept.
    """
    if not isinstance(milestones, pd.DataFrame):
        fail(f"milestones must be a pandas DataFrame, got {describe(milestones)}", TypeError,
             "load it with utils.cited.load_milestones()")
    numeric = ("parameters", "active_parameters", "training_tokens", "training_compute_flop")
    required = {"compute_status", *numeric}
    if not required <= set(milestones.columns):
        fail(f"milestones must have columns {sorted(required)}, missing {sorted(required - set(milestones.columns))}",
             ValueError, "load it with utils.cited.load_milestones()")
    text = [column for column in numeric if not pd.api.types.is_numeric_dtype(milestones[column])]
    if text:
        fail(f"milestones columns {text} must hold numbers, got {milestones[text[0]].dtype}", TypeError,
             "load the table with utils.cited.load_milestones(), which types the figures")
    table = milestones.copy()
    estimate = table["compute_status"] == "estimated by code"
    n_params = table["active_parameters"].fillna(table["parameters"])
    table["compute_params"] = n_params.where(estimate)
    if estimate.any():
        table.loc[estimate, "training_compute_flop"] = estimate_training_compute(
            n_params[estimate].to_numpy(), table.loc[estimate, "training_tokens"].to_numpy()
        )
    return table


def years_off_trend(fit: DoublingTimeFit, year: float, value: float) -> float:
    """How many years ahead of the fitted trend a point lies: ``(log2(value) - (a + b*year)) / b``.

    Positive: the point reached its value earlier than the trend line does. Needs a positive slope.
    """
    if not isinstance(fit, DoublingTimeFit):
        fail(f"fit must be a DoublingTimeFit, got {describe(fit)}", TypeError,
             "make it with fit_doubling_time(years, values)")
    if fit.slope <= 0:
        fail(f"years_off_trend needs a growing trend (slope > 0), got slope {fit.slope:g}", ValueError)
    year = check_number("year", year)
    value = check_number("value", value, above=0.0)
    looks_swapped = CALENDAR_YEARS[0] <= value <= CALENDAR_YEARS[1]
    _check_calendar_years("year", np.array([year]), "did you swap year and value? the order is (fit, year, value)"
                          if looks_swapped else "a decimal year such as 2020.4")
    return (math.log2(value) - (fit.intercept + fit.slope * year)) / fit.slope
