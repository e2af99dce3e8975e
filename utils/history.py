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

FLOP_PER_PARAMETER_PER_TOKEN = 6  # 2 in the forward pass (multiply + add), 4 in the backward pass
MIN_DISTINCT_RESAMPLES = 256  # fewest distinct case resamples for a percentile bootstrap (0.025 * 256 = 6.4 per tail)


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
        return 2.0 ** (self.intercept + self.slope * np.asarray(years, dtype=np.float64))

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
    if not math.isfinite(decimal):
        raise ValueError(f"year_month needs a finite decimal year, got {decimal}")
    year = math.floor(decimal)
    month = min(12, math.floor((decimal - year) * 12) + 1)
    return f"{year:d}-{month:02d}"


def decimal_year(year, month=None) -> np.ndarray:
    """Year as a float at the middle of ``month`` (1..12): ``year + (month - 0.5) / 12``; mid-year where month is NaN/None.

    Accepts numbers or arrays of equal length; returns a float64 array.
    """
    year = np.asarray(year, dtype=np.float64)
    month = np.full_like(year, np.nan) if month is None else np.asarray(month, dtype=np.float64)
    if year.shape != month.shape:
        raise ValueError(f"year and month must have the same shape, got {year.shape} and {month.shape}")
    known = ~np.isnan(month)
    if np.any((month[known] < 1) | (month[known] > 12)):
        raise ValueError(f"month must be in 1..12 or NaN, got {month[known][(month[known] < 1) | (month[known] > 12)]}")
    return year + np.where(known, (month - 0.5) / 12.0, 0.5)


def _check_series(years, values) -> tuple[np.ndarray, np.ndarray]:
    years = np.asarray(years, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if years.ndim != 1 or years.shape != values.shape:
        raise ValueError(f"years and values must be 1-D of the same length, got shapes {years.shape} and {values.shape}")
    if years.size < 3:
        raise ValueError(f"a doubling-time fit with an interval needs at least 3 points, got {years.size}")
    if not (np.all(np.isfinite(years)) and np.all(np.isfinite(values))):
        raise ValueError("years and values must be finite (drop rows with missing figures first)")
    if np.any(values <= 0):
        raise ValueError(f"values must be positive to take log2, got minimum {values.min():g}")
    if np.ptp(years) == 0:
        raise ValueError("years must not all be equal: a slope needs at least two different years")
    return years, values


def fit_doubling_time(years, values, confidence: float = 0.95) -> DoublingTimeFit:
    """Fit ``log2(values) = a + b * years`` by least squares; return a :class:`DoublingTimeFit` with a t-interval.

    ``years``: 1-D array of decimal years; ``values``: 1-D array of positive numbers (parameters, FLOP, ...),
    at least 3 points. The interval is the slope's t-interval at ``confidence`` (see the module docstring).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
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


def count_distinct_resamples(n: int) -> int:
    """How many different multisets a case bootstrap of ``n`` points can draw: :math:`\\binom{2n-1}{n}`.

    A resample picks ``n`` of the ``n`` points with replacement and the order does not matter, so it is a multiset
    of size ``n`` from ``n`` kinds ("stars and bars"). ``count_distinct_resamples(4) -> 35``.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive whole number of points, got {n!r}")
    return math.comb(2 * int(n) - 1, int(n))


def bootstrap_doubling_time(years, values, n_resamples: int, seed: int = 0, confidence: float = 0.95,
                            min_distinct_resamples: int = MIN_DISTINCT_RESAMPLES) -> tuple[float, float]:  # fmt: skip
    """Percentile bootstrap interval of the doubling time in months: resample (year, value) pairs with replacement.

    Resamples whose years are all equal are skipped; a resample with a slope ≤ 0 counts as an infinite
    doubling time. Returns ``(low, high)`` in months (``high`` may be ``inf``). Raises ``ValueError`` when the
    points allow fewer than ``min_distinct_resamples`` distinct resamples (:func:`count_distinct_resamples`):
    with 4 points there are only 35, too few for a percentile interval; report the t-interval alone.
    """
    years, values = _check_series(years, values)
    if n_resamples < 10:
        raise ValueError(f"n_resamples must be at least 10, got {n_resamples}")
    distinct = count_distinct_resamples(years.size)
    if distinct < min_distinct_resamples:
        raise ValueError(
            f"a bootstrap of {years.size} points has only {distinct} distinct resamples, fewer than "
            f"{min_distinct_resamples}: its percentiles would be a handful of values; use the t-interval "
            f"(fit_doubling_time) or more points"
        )
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
    low, high = np.percentile(np.array(doubling_months), [tail, 100 - tail])
    return float(low), float(high)


def estimate_training_compute(n_params, n_tokens):
    """Training FLOPs of a dense transformer, :math:`C \\approx 6ND` (``N`` parameters, ``D`` training tokens).

    6 = 2 FLOPs per parameter per token in the forward pass (a multiply and an add) + 4 in the backward pass
    (gradients for the activations and for the weights). Ignores attention over the context and the
    embeddings' cheaper lookups. Numbers or arrays (broadcast); returns the same kind.
    """
    n_params_arr, n_tokens_arr = np.asarray(n_params, dtype=np.float64), np.asarray(n_tokens, dtype=np.float64)
    if np.any(n_params_arr <= 0) or np.any(n_tokens_arr <= 0):
        raise ValueError("n_params and n_tokens must be positive")
    compute = FLOP_PER_PARAMETER_PER_TOKEN * n_params_arr * n_tokens_arr
    return float(compute) if compute.ndim == 0 else compute


def compute_optimal_allocation(compute_flop: float, tokens_per_parameter: float) -> tuple[float, float]:
    """Split a compute budget ``C`` into ``(N, D)`` with ``C = 6ND`` and ``D = r N`` (``r = tokens_per_parameter``).

    Solving gives :math:`N = \\sqrt{C / (6r)}` and :math:`D = rN`; Chinchilla's compute-optimal ratio is
    about 20 tokens per parameter. Returns floats ``(n_params, n_tokens)``.
    """
    if compute_flop <= 0 or tokens_per_parameter <= 0:
        raise ValueError(f"compute_flop and tokens_per_parameter must be positive, got {compute_flop} and {tokens_per_parameter}")
    n_params = math.sqrt(compute_flop / (FLOP_PER_PARAMETER_PER_TOKEN * tokens_per_parameter))
    return n_params, tokens_per_parameter * n_params


def add_compute_estimates(milestones: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``milestones`` (from :func:`utils.cited.load_milestones`) with compute filled for rows marked
    ``estimated by code``: :math:`6ND`, with ``N`` the active parameters where given (mixtures of experts),
    else all parameters. Adds ``compute_params`` (the ``N`` used; NaN elsewhere). Reported compute is kept.
    """
    required = {"compute_status", "parameters", "active_parameters", "training_tokens", "training_compute_flop"}
    if not required <= set(milestones.columns):
        raise ValueError(f"milestones must have columns {sorted(required)}, missing {sorted(required - set(milestones.columns))}")
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
    if fit.slope <= 0:
        raise ValueError(f"years_off_trend needs a growing trend (slope > 0), got slope {fit.slope:g}")
    if value <= 0:
        raise ValueError(f"value must be positive, got {value}")
    return (math.log2(value) - (fit.intercept + fit.slope * year)) / fit.slope
