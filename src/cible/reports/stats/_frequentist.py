# ruff: noqa: RUF002 (formulas keep their Greek letters and minus signs)
"""Fixed-horizon statistics of one challenger against the control, as Adobe Target reports them.

Adobe Target compares each experience with the control by Welch's t-test (confidence = 1 − p),
shows 95 % normal intervals of each rate and of the relative lift, the lift interval from the
delta method ("Statistical calculations", experienceleague.adobe.com/en/docs/target). The same
formulas are GrowthBook's frequentist engine; docs/reports.md gives each field.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from cible.reports.stats._moments import Float, _f

__all__ = ["Lift", "Welch", "lift", "mean_interval", "welch"]


@dataclass(frozen=True)
class Welch:
    """Welch's unequal-variance t-test of ``mean_t − mean_c``."""

    difference: Float
    se: Float
    df: Float
    t: Float
    p_value: Float

    @property
    def confidence(self) -> Float:
        """Adobe's "Confidence": ``1 − p``."""
        return 1.0 - self.p_value


def welch(
    mean_t: ArrayLike,
    var_t: ArrayLike,
    n_t: ArrayLike,
    mean_c: ArrayLike,
    var_c: ArrayLike,
    n_c: ArrayLike,
) -> Welch:
    """Two-sided Welch t-test from per-arm means, unit variances and sizes.

    The Welch–Satterthwaite degrees of freedom use ``n − 1`` per arm; an arm with fewer than two
    units or no variance on either side gives ``p = 1``.
    """
    from scipy import stats

    mt, vt, nt, mc, vc, nc = (_f(x) for x in (mean_t, var_t, n_t, mean_c, var_c, n_c))
    ok = (nt > 1) & (nc > 1) & ((vt > 0) | (vc > 0))
    nt_, nc_ = np.where(ok, nt, 2.0), np.where(ok, nc, 2.0)
    at, ac = vt / nt_, vc / nc_
    se2 = np.where(ok, at + ac, 1.0)
    se = np.sqrt(se2)
    diff = mt - mc
    denom = np.where(ok, at * at / (nt_ - 1.0) + ac * ac / (nc_ - 1.0), 1.0)
    df = np.where(ok, se2 * se2 / np.where(denom > 0, denom, 1.0), 1.0)
    t = np.where(ok, diff / se, 0.0)
    p = np.where(ok, 2.0 * stats.t.sf(np.abs(t), df), 1.0)
    return Welch(diff, np.where(ok, se, 0.0), df, t, p)


def mean_interval(
    mean_: ArrayLike, var: ArrayLike, n: ArrayLike, level: float = 0.95
) -> tuple[Float, Float]:
    """Normal interval of a mean, ``μ̂ ± z·sqrt(var/n)`` (Adobe: always z for 95 %)."""
    from scipy import stats

    m, v, n_ = _f(mean_), _f(var), _f(n)
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    half = z * np.sqrt(np.where(n_ > 0, v / np.where(n_ > 0, n_, 1.0), 0.0))
    return m - half, m + half


@dataclass(frozen=True)
class Lift:
    """Relative lift ``(μ̂_t − μ̂_c)/μ̂_c`` with its delta-method standard error and interval."""

    estimate: Float
    se: Float
    lower: Float
    upper: Float
    defined: Float  # 1.0 where the control mean is non-zero


def lift(
    mean_t: ArrayLike,
    var_t: ArrayLike,
    n_t: ArrayLike,
    mean_c: ArrayLike,
    var_c: ArrayLike,
    n_c: ArrayLike,
    level: float = 0.95,
) -> Lift:
    """Delta-method lift: ``Var = SE_t²/μ̂_c² + μ̂_t²·SE_c²/μ̂_c⁴`` (arms independent).

    Adobe, "Average lift bounds and confidence interval"; no lift when the control mean is 0.
    """
    from scipy import stats

    mt, vt, nt, mc, vc, nc = (_f(x) for x in (mean_t, var_t, n_t, mean_c, var_c, n_c))
    defined = (mc != 0) & (nt > 0) & (nc > 0)
    mc_ = np.where(defined, mc, 1.0)
    se_t2 = vt / np.where(nt > 0, nt, 1.0)
    se_c2 = vc / np.where(nc > 0, nc, 1.0)
    est = np.where(defined, (mt - mc_) / np.abs(mc_), 0.0)
    var = se_t2 / mc_**2 + mt**2 * se_c2 / mc_**4
    se = np.where(defined, np.sqrt(var), 0.0)
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    return Lift(est, se, est - z * se, est + z * se, defined.astype(np.float64))
