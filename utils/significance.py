"""Is model A really better than model B on the same test examples? Paired tests: McNemar's and the paired bootstrap.

Both look only at the examples where the two models disagree about being right, which is what makes them far more
sensitive than comparing two separate confidence intervals. :func:`mcnemar_test` equals ``statsmodels``'
``mcnemar`` (exact binomial, or chi-squared with or without the continuity correction; McNemar, 1947);
:func:`paired_bootstrap` resamples the test examples once and scores both models on the same resamples (Efron and
Tibshirani, 1993).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from utils.checks import check_bool, check_callable, check_int, check_number, describe, fail
from utils.metrics import _labels, _pair, _same_length, accuracy

__all__ = ["mcnemar_table", "McNemarResult", "mcnemar_test", "PairedBootstrap", "paired_bootstrap"]


def _triple(y_true, pred_a, pred_b) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y_true, pred_a = _pair(y_true, pred_a)
    pred_b = _labels("pred_b", pred_b)
    _same_length("pred_a", pred_a, "pred_b", pred_b)
    return y_true, pred_a, pred_b


def mcnemar_table(y_true, pred_a, pred_b) -> np.ndarray:
    """The 2×2 table ``[[both right, A right and B wrong], [A wrong and B right, both wrong]]`` (int64).

    ``y_true``, ``pred_a``, ``pred_b``: labels ``(n,)`` of the same examples in the same order.
    """
    y_true, pred_a, pred_b = _triple(y_true, pred_a, pred_b)
    right_a, right_b = pred_a == y_true, pred_b == y_true
    return np.array([[np.sum(right_a & right_b), np.sum(right_a & ~right_b)],
                     [np.sum(~right_a & right_b), np.sum(~right_a & ~right_b)]], dtype=np.int64)


@dataclass
class McNemarResult:
    """McNemar's test: ``statistic``, two-sided ``pvalue``, the discordant counts and which test ran."""

    statistic: float
    pvalue: float
    a_only: int  # examples A gets right and B wrong
    b_only: int  # examples B gets right and A wrong
    exact: bool


def _table(table) -> np.ndarray:
    array = np.asarray(table)
    if array.shape != (2, 2):
        fail(f"table must be a 2×2 table of counts, got {describe(table)}", ValueError,
             "build it with mcnemar_table(y_true, pred_a, pred_b)")
    if not np.issubdtype(array.dtype, np.integer) and not np.all(np.mod(array, 1) == 0):
        fail("table must hold whole counts, got fractions", ValueError, "counts of examples, not rates")
    if array.min() < 0:
        fail(f"table must hold counts >= 0, got {array.min()}", ValueError)
    return array.astype(np.int64)


def mcnemar_test(table, exact: bool = True, correction: bool = True) -> McNemarResult:
    """McNemar's test of "A and B are right equally often" from the 2×2 ``table`` of :func:`mcnemar_table`.

    With ``b = table[0, 1]`` and ``c = table[1, 0]`` (the discordant pairs): ``exact`` gives the binomial test,
    statistic ``min(b, c)`` and ``p = min(1, 2 P(X <= min(b, c)))`` for ``X ~ Binomial(b + c, 1/2)``; otherwise
    the chi-squared test with one degree of freedom, statistic ``(|b - c| - 1)^2 / (b + c)`` (``correction``,
    Edwards') or ``(b - c)^2 / (b + c)``. Equal to ``statsmodels``; where statsmodels divides by zero (no
    discordant pair, chi-squared) this returns statistic 0 and p = 1: the models never disagree.
    """
    from scipy import stats

    table = _table(table)
    exact, correction = check_bool("exact", exact), check_bool("correction", correction)
    b, c = int(table[0, 1]), int(table[1, 0])
    if exact:
        statistic = float(min(b, c))
        pvalue = min(1.0, 2.0 * float(stats.binom.cdf(min(b, c), b + c, 0.5)))
    elif b + c == 0:
        statistic, pvalue = 0.0, 1.0
    else:
        statistic = (abs(b - c) - int(correction)) ** 2 / (b + c)
        pvalue = float(stats.chi2.sf(statistic, 1))
    return McNemarResult(float(statistic), pvalue, b, c, exact)


@dataclass
class PairedBootstrap:
    """``difference`` = metric(A) − metric(B) on the test set, its percentile interval ``(low, high)``, a p-value."""

    difference: float
    low: float
    high: float
    pvalue: float  # two-sided: twice the smaller share of resampled differences on either side of 0, at most 1
    n_resamples: int


def paired_bootstrap(y_true, pred_a, pred_b, metric: Callable[[np.ndarray, np.ndarray], float] = accuracy,
                     n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0) -> PairedBootstrap:
    """The paired bootstrap of ``metric(y_true, pred_a) - metric(y_true, pred_b)`` (labels ``(n,)`` each).

    Each of ``n_resamples`` resamples draws ``n`` examples with replacement (``default_rng(seed)``, the draws of
    ``utils.metrics.bootstrap_interval``) and scores **both** models on the same draw, so the luck of the draw
    cancels. The interval is the percentile one; ``pvalue = min(1, 2 min(P*(d <= 0), P*(d >= 0)))`` over the
    resampled differences ``d``: small when the resamples rarely cross zero.
    """
    y_true, pred_a, pred_b = _triple(y_true, pred_a, pred_b)
    check_callable("metric", metric)
    n_resamples = check_int("n_resamples", n_resamples, minimum=100, hint="a 95% interval needs hundreds of resamples")
    confidence = check_number("confidence", confidence, above=0.0, maximum=0.999)
    seed = check_int("seed", seed, minimum=0)
    rows = np.random.default_rng(seed).integers(0, len(y_true), size=(n_resamples, len(y_true)))  # (R, n)
    if metric is accuracy:
        diffs = ((pred_a == y_true).astype(np.float64) - (pred_b == y_true))[rows].mean(axis=1)
    else:
        diffs = np.array([metric(y_true[r], pred_a[r]) - metric(y_true[r], pred_b[r]) for r in rows])
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(diffs, [tail, 1.0 - tail])
    pvalue = min(1.0, 2.0 * min(np.mean(diffs <= 0), np.mean(diffs >= 0)))
    difference = metric(y_true, pred_a) - metric(y_true, pred_b)
    return PairedBootstrap(float(difference), float(low), float(high), float(pvalue), n_resamples)
