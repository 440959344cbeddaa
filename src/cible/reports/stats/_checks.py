# ruff: noqa: RUF002 (formulas keep their Greek letters and minus signs)
"""Health checks and multiple-comparison corrections over the experiences of one activity.

- Sample ratio mismatch: Pearson's chi-square of the observed units against the configured split
  (GrowthBook's health check, warned under p < 0.001). A mismatch means the assignment or the
  counting is broken, and no lift in the report can be trusted.
- Holm (family-wise error) and Benjamini–Hochberg (false discovery rate) adjust the p-values of
  several challengers, each compared with the control; Adobe leaves that to the reader.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from cible.reports.stats._moments import Float, _f

__all__ = ["CORRECTIONS", "Srm", "adjust_p_values", "srm"]

CORRECTIONS = ("none", "holm", "benjamini-hochberg")


@dataclass(frozen=True)
class Srm:
    chi_square: float
    p_value: float
    expected: Float


def srm(observed: ArrayLike, weights: ArrayLike) -> Srm:
    """Chi-square goodness of fit of ``observed`` units to ``weights`` (arms with weight ≤ 0 are
    left out); ``p = 1`` without units or with fewer than two weighted arms."""
    from scipy import stats

    o, w = _f(observed), _f(weights)
    if o.shape != w.shape or o.ndim != 1:
        raise ValueError("observed and weights must be one-dimensional and of equal length")
    keep = w > 0
    o, w = o[keep], w[keep]
    total = float(o.sum())
    if total <= 0 or o.size < 2:
        return Srm(0.0, 1.0, w * 0.0)
    expected = total * w / w.sum()
    chi = float(((o - expected) ** 2 / expected).sum())
    return Srm(chi, float(stats.chi2.sf(chi, o.size - 1)), expected)


def adjust_p_values(p_values: ArrayLike, method: str) -> Float:
    """Holm or Benjamini–Hochberg adjusted p-values, in the input order.

    Holm: ``p'_(i) = max_{j≤i} min(1, (m − j + 1)·p_(j))``; BH: ``p'_(i) = min_{j≥i} min(1,
    m·p_(j)/j)`` (ranks ascending).
    """
    p = _f(p_values)
    if method not in CORRECTIONS:
        raise ValueError(f"unknown correction {method!r}")
    if method == "none" or p.size == 0:
        return p.copy()
    m = p.size
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    ranks = np.arange(1, m + 1, dtype=np.float64)
    if method == "holm":
        adj = np.maximum.accumulate(np.minimum(1.0, (m - ranks + 1.0) * ranked))
    else:
        adj = np.minimum.accumulate(np.minimum(1.0, m * ranked / ranks)[::-1])[::-1]
    out = np.empty(m, dtype=np.float64)
    out[order] = adj
    return out
