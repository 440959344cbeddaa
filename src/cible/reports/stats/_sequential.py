# ruff: noqa: RUF002 (formulas keep their Greek letters and minus signs)
"""Always-valid p-values and confidence sequences, so that a report may be read every day.

A fixed-horizon p-value read repeatedly until it dips under 0.05 declares far more than 5 % of
A/A tests (the "peeking" problem). The mixture sequential probability ratio test (Johari, Pekelis,
Walsh, "Always Valid Inference", arXiv:1512.04922; Optimizely's Stats Engine) keeps its error rate
at any stopping time. Written in GrowthBook's parametrisation (Waudby-Smith et al.,
arXiv:2103.06476, eq. 9 and 155): the tuning ``n_star`` is the total sample size at which the
interval is tightest; docs/reports.md ("Sequential testing").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from cible.reports.stats._moments import Float, _f

__all__ = ["Sequential", "mixture_rho", "sequential"]


def mixture_rho(n_star: float, alpha: float = 0.05) -> float:
    """Mixing scale so that the confidence sequence is tightest at ``n_star`` units in total."""
    if n_star <= 0:
        raise ValueError("n_star must be positive")
    a = -2.0 * np.log(alpha)
    return float(np.sqrt((a + np.log(a + 1.0)) / n_star))


@dataclass(frozen=True)
class Sequential:
    p_value: Float
    lower: Float
    upper: Float


def sequential(
    effect: ArrayLike,
    se: ArrayLike,
    n_total: ArrayLike,
    *,
    n_star: float = 5000.0,
    alpha: float = 0.05,
) -> Sequential:
    """Always-valid two-sided p-value and ``1 − alpha`` interval for an effect with standard error
    ``se`` estimated on ``n_total`` units (both arms).

    ``p = min(1, 1/Λ)`` with ``Λ = exp(ρ²S/(2(Nρ²+1)))/sqrt(Nρ²+1)``, ``S = Δ²N/SE²``; the
    interval is the set of effects the test does not reject.
    """
    d, s_e, n = _f(effect), _f(se), _f(n_total)
    ok = (s_e > 0) & (n > 0)
    n_ = np.where(ok, n, 1.0)
    se_ = np.where(ok, s_e, 1.0)
    rho2 = mixture_rho(n_star, alpha) ** 2
    k = n_ * rho2 + 1.0
    s = d * d * n_ / (se_ * se_)
    log_lambda = rho2 * s / (2.0 * k) - 0.5 * np.log(k)
    p = np.where(ok, np.minimum(1.0, np.exp(-log_lambda)), 1.0)
    half = np.sqrt(se_ * se_ * n_ * 2.0 * k / (n_ * n_ * rho2) * np.log(np.sqrt(k) / alpha))
    half = np.where(ok, half, np.inf)
    return Sequential(p, d - half, d + half)
