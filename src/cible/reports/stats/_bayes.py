# ruff: noqa: RUF001 (formulas keep their Greek letters and minus signs)
"""Bayesian reading of an effect: chance to beat control, expected loss, credible interval.

Adobe Target's Bayesian mode shows "Chance to Beat Control" and a credible interval without
publishing its model; Cible uses GrowthBook's normal model on the relative lift (docs/reports.md,
"Bayesian"): a normal prior ``N(prior_mean, prior_sd²)`` (improper by default: the posterior is
then ``N(lift, se²)``), a normal likelihood, and closed forms from scipy's normal distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from cible.reports.stats._moments import Float, _f

__all__ = ["Posterior", "posterior"]


@dataclass(frozen=True)
class Posterior:
    mean: Float
    sd: Float
    chance_to_beat: Float
    """``P(Δ > 0)``."""
    loss_choosing_treatment: Float
    """``E[max(−Δ, 0)]``: lift given up by shipping the challenger if it is in fact worse."""
    loss_choosing_control: Float
    """``E[max(Δ, 0)]``: lift given up by keeping the control if the challenger is better."""
    lower: Float
    upper: Float


def posterior(
    effect: ArrayLike,
    se: ArrayLike,
    *,
    prior_mean: float = 0.0,
    prior_sd: float | None = None,
    level: float = 0.95,
) -> Posterior:
    """Normal-normal posterior of an effect estimated as ``effect`` with standard error ``se``."""
    from scipy import stats

    d, s = _f(effect), _f(se)
    ok = s > 0
    s_ = np.where(ok, s, 1.0)
    if prior_sd is None:
        mu, sd = d, s_
    else:
        if prior_sd <= 0:
            raise ValueError("prior_sd must be positive")
        prec = 1.0 / prior_sd**2 + 1.0 / s_**2
        mu = (prior_mean / prior_sd**2 + d / s_**2) / prec
        sd = np.sqrt(1.0 / prec)
    z = mu / sd
    pdf, cdf_pos, cdf_neg = stats.norm.pdf(z), stats.norm.cdf(z), stats.norm.cdf(-z)
    chance = np.where(ok, cdf_pos, 0.5)
    loss_t = np.where(ok, sd * pdf - mu * cdf_neg, 0.0)
    loss_c = np.where(ok, sd * pdf + mu * cdf_pos, 0.0)
    q = float(stats.norm.ppf(0.5 + level / 2.0))
    return Posterior(mu, np.where(ok, sd, 0.0), chance, loss_t, loss_c, mu - q * sd, mu + q * sd)
