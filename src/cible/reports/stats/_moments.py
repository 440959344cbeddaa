# ruff: noqa: RUF002 (formulas keep their Greek letters and minus signs)
"""Per-arm means and unit variances from sufficient statistics.

Reports never hold per-visitor arrays in memory: each arm arrives as ``n`` units, the sum of the
metric and the sum of its squares (docs/reports.md, "Statistics"). Every function here accepts
numpy arrays as well as floats so that the simulation tests run thousands of experiments in one
call.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

Float = NDArray[np.float64]

__all__ = [
    "Float",
    "adobe_extreme_orders",
    "binary_variance",
    "mean",
    "unit_variance",
    "winsorize",
]


def _f(x: ArrayLike) -> Float:
    return np.asarray(x, dtype=np.float64)


def mean(n: ArrayLike, total: ArrayLike) -> Float:
    """``total / n``, 0 where an arm has no unit."""
    n_, s = _f(n), _f(total)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n_ > 0, s / np.where(n_ > 0, n_, 1.0), 0.0)


def unit_variance(n: ArrayLike, total: ArrayLike, total_sq: ArrayLike) -> Float:
    """Unbiased sample variance of one unit's value, ``(Σy² − (Σy)²/n)/(n − 1)``; 0 when n ≤ 1.

    Negative round-off (a constant metric) is clipped to 0.
    """
    n_, s, ss = _f(n), _f(total), _f(total_sq)
    safe_n = np.where(n_ > 1, n_, 2.0)
    var = (ss - s * s / safe_n) / (safe_n - 1.0)
    return np.where(n_ > 1, np.maximum(var, 0.0), 0.0)


def binary_variance(n: ArrayLike, conversions: ArrayLike) -> Float:
    """Adobe's variance of a conversion indicator, ``μ̂(1 − μ̂)`` (no n/(n − 1) factor)."""
    p = mean(n, conversions)
    return p * (1.0 - p)


def winsorize(values: ArrayLike, percentile: float) -> tuple[Float, float]:
    """Values capped at their ``percentile`` (0-100, inclusive) and the cap applied.

    Outlying orders otherwise dominate revenue per visitor (GrowthBook's percentile capping).
    """
    v = _f(values)
    if v.size == 0:
        return v, float("inf")
    if not 0.0 < percentile <= 100.0:
        raise ValueError("percentile must be in (0, 100]")
    cap = float(np.percentile(v, percentile))
    return np.minimum(v, cap), cap


def adobe_extreme_orders(totals: ArrayLike) -> NDArray[np.bool_]:
    """Orders more than three standard deviations from the mean order value.

    Adobe Target, "Excluding extreme orders": a value is extreme when it lies beyond ±3 SD of the
    average order value; the orders report flags it (``outlier``).
    """
    v = _f(totals)
    if v.size < 2:
        return np.zeros(v.shape, dtype=np.bool_)
    mu, sd = float(v.mean()), float(v.std(ddof=1))
    return np.asarray(np.abs(v - mu) > 3.0 * sd, dtype=np.bool_)
