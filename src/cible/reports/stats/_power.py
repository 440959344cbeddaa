# ruff: noqa: RUF002 (formulas keep their Greek letters and minus signs)
"""Minimum sample size and power of the fixed-horizon test.

Adobe's sample size calculator asks for significance, power, baseline rate and the minimum
relative lift to detect, and answers visitors per experience, without publishing its formula; Cible
uses the standard two-proportion formula (docs/reports.md, "Sample size"). The report's
sample-size progress compares each arm's visitors with this figure.
"""

from __future__ import annotations

import math

__all__ = ["power", "sample_size", "sample_size_continuous"]


def _z(alpha: float, comparisons: int) -> float:
    from scipy import stats

    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must be in (0, 1)")
    if comparisons < 1:
        raise ValueError("comparisons must be at least 1")
    # Bonferroni across the challengers compared with the control.
    return float(stats.norm.isf(alpha / comparisons / 2.0))


def sample_size(
    baseline: float,
    relative_lift: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    comparisons: int = 1,
) -> int:
    """Units per arm: ``(z_{1−α/2} + z_{1−β})²·(p₁(1−p₁) + p₂(1−p₂))/(p₂ − p₁)²``, rounded up."""
    if not 0.0 < baseline < 1.0:
        raise ValueError("baseline must be in (0, 1)")
    p2 = baseline * (1.0 + relative_lift)
    if relative_lift == 0 or not 0.0 < p2 < 1.0:
        raise ValueError("relative_lift must be non-zero and keep the rate in (0, 1)")
    var = baseline * (1.0 - baseline) + p2 * (1.0 - p2)
    return _size(var, p2 - baseline, alpha, power, comparisons)


def sample_size_continuous(
    mean: float,
    variance: float,
    relative_lift: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    comparisons: int = 1,
) -> int:
    """Units per arm for a continuous metric (revenue per visitor), both arms of ``variance``."""
    if mean == 0 or relative_lift == 0 or variance <= 0:
        raise ValueError("mean, variance and relative_lift must be non-zero")
    return _size(2.0 * variance, mean * relative_lift, alpha, power, comparisons)


def _size(var: float, delta: float, alpha: float, power_: float, comparisons: int) -> int:
    from scipy import stats

    if not 0.0 < power_ < 1.0:
        raise ValueError("power must be in (0, 1)")
    z = _z(alpha, comparisons) + float(stats.norm.ppf(power_))
    return math.ceil(z * z * var / (delta * delta))


def power(n_per_arm: float, baseline: float, treatment: float, *, alpha: float = 0.05) -> float:
    """Two-sided power of the normal test at ``n_per_arm``:
    ``1 − Φ(z_{1−α/2} − Δ/σ_Δ) + Φ(−z_{1−α/2} − Δ/σ_Δ)``."""
    from scipy import stats

    sd = math.sqrt((baseline * (1 - baseline) + treatment * (1 - treatment)) / n_per_arm)
    shift = abs(treatment - baseline) / sd
    z = _z(alpha, 1)
    return float(stats.norm.sf(z - shift) + stats.norm.cdf(-z - shift))
