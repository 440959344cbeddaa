# ruff: noqa: RUF002, RUF003 (formulas keep their Greek letters and minus signs)
"""CUPED: variance reduction from each unit's pre-period value of the metric.

Deng, Xu, Kohavi, Walker, "Improving the Sensitivity of Online Controlled Experiments by Utilizing
Pre-Experiment Data" (WSDM 2013), as GrowthBook implements it: ``θ = cov(Y, X)/var(X)`` pooled
over both arms, adjusted mean ``Ȳ − θX̄``, per-arm variance ``σ_Y² + θ²σ_X² − 2θσ_XY``. The lift
divides the adjusted difference by the unadjusted control mean (docs/reports.md, "CUPED").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CovariateMoments", "CupedLift", "cuped_lift"]


@dataclass(frozen=True)
class CovariateMoments:
    """One arm's sums of the metric ``y`` and its pre-period value ``x``."""

    n: float
    sum_y: float
    sum_y2: float
    sum_x: float
    sum_x2: float
    sum_xy: float

    def _cov(self, a: float, b: float, ab: float) -> float:
        return (ab - a * b / self.n) / (self.n - 1.0)


@dataclass(frozen=True)
class CupedLift:
    theta: float
    mean_t: float
    mean_c: float
    var_t: float
    """Unit variance of the adjusted treatment metric."""
    var_c: float
    estimate: float
    se: float
    lower: float
    upper: float
    applied: bool
    """False when the pre-period data carry no variance (the unadjusted lift is returned)."""


def cuped_lift(
    treatment: CovariateMoments, control: CovariateMoments, level: float = 0.95
) -> CupedLift:
    """CUPED-adjusted relative lift of ``treatment`` over ``control``, delta-method interval."""
    from scipy import stats

    t, c = treatment, control
    if t.n < 2 or c.n < 2:
        raise ValueError("each arm needs at least two units")
    n = t.n + c.n
    pooled = CovariateMoments(
        n,
        t.sum_y + c.sum_y,
        t.sum_y2 + c.sum_y2,
        t.sum_x + c.sum_x,
        t.sum_x2 + c.sum_x2,
        t.sum_xy + c.sum_xy,
    )
    var_x = pooled._cov(pooled.sum_x, pooled.sum_x, pooled.sum_x2)
    var_xt = t._cov(t.sum_x, t.sum_x, t.sum_x2)
    var_xc = c._cov(c.sum_x, c.sum_x, c.sum_x2)
    applied = var_x > 0 and var_xt > 0 and var_xc > 0
    theta = pooled._cov(pooled.sum_x, pooled.sum_y, pooled.sum_xy) / var_x if applied else 0.0

    def arm(a: CovariateMoments) -> tuple[float, float, float, float]:
        vy = a._cov(a.sum_y, a.sum_y, a.sum_y2)
        vx = a._cov(a.sum_x, a.sum_x, a.sum_x2)
        vxy = a._cov(a.sum_x, a.sum_y, a.sum_xy)
        adj_mean = (a.sum_y - theta * a.sum_x) / a.n
        adj_var = max(vy + theta * theta * vx - 2.0 * theta * vxy, 0.0)
        return adj_mean, adj_var, vy, vxy

    mt, vt, _, _ = arm(t)
    mc, vc, vyc, vxyc = arm(c)
    base = c.sum_y / c.n
    if base == 0:
        raise ValueError("the control mean is 0: no relative lift")
    diff = mt - mc
    # R = (A_t − A_c)/B_c with A the adjusted means and B_c the unadjusted control mean;
    # Cov(A_c, B_c) = (σ_Y² − θσ_XY)/n_c.
    var = (
        (vt / t.n + vc / c.n) / base**2
        + diff**2 * vyc / (c.n * base**4)
        + 2.0 * diff * (vyc - theta * vxyc) / (c.n * base**3)
    )
    se = float(np.sqrt(max(var, 0.0)))
    est = diff / abs(base)
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    return CupedLift(theta, mt, mc, vt, vc, est, se, est - z * se, est + z * se, applied)
