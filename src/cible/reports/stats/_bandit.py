# ruff: noqa: RUF002 (formulas keep their Greek letters and minus signs)
"""Traffic weights of an auto-allocate activity: Adobe's documented bandit, or Thompson sampling.

Adobe Target, "Auto-Allocate" (experienceleague.adobe.com/en/docs/target): every experience gets
equal traffic until each has 1,000 visitors and 50 conversions; then, each hourly round, 80 % of
new visitors go to two experiences — the best observed conversion rate and, among the others, the
highest upper bound of a 95 % Bernstein interval — and 20 % are spread over all experiences. A
winner is declared when its interval overlaps no other experience's; it then takes the 80 %. With
two experiences traffic stays even until the leader reaches 75 % confidence (2/3 vs 1/3), then
95 % (90 % vs 10 %). Adobe does not publish its Bernstein bound: Cible uses the empirical
Bernstein bound of Maurer & Pontil (arXiv:0907.3740, Thm 4). Thompson sampling (Russo et al.,
"A Tutorial on Thompson Sampling") is the alternative: weights are the posterior probabilities of
being best, with the same exploration floor. docs/reports.md, "Auto-allocate".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from cible.reports.stats._moments import Float, _f

__all__ = ["ALGORITHMS", "Allocation", "allocate", "bernstein_bounds"]

ALGORITHMS = ("adobe", "thompson")


@dataclass(frozen=True)
class Allocation:
    weights: Float
    """One weight per experience, summing to 1."""
    phase: str
    """``warmup``, ``explore`` (two-arm rounds), ``winner`` or ``thompson``."""
    winner: int | None
    """Index of the declared winner, if any."""
    leader: int | None
    confidence: float
    """Probability that the leader's rate is above every other's (normal approximation)."""


def bernstein_bounds(
    visitors: ArrayLike, conversions: ArrayLike, delta: float = 0.05
) -> tuple[Float, Float]:
    """Empirical Bernstein interval of each conversion rate:
    ``p̂ ± (sqrt(2V ln(2/δ)/n) + 7 ln(2/δ)/(3(n − 1)))``, V the sample variance."""
    n, s = _f(visitors), _f(conversions)
    ok = n > 1
    n_ = np.where(ok, n, 2.0)
    p = s / n_
    v = p * (1.0 - p) * n_ / (n_ - 1.0)
    log_term = np.log(2.0 / delta)
    half = np.sqrt(2.0 * v * log_term / n_) + 7.0 * log_term / (3.0 * (n_ - 1.0))
    return np.where(ok, p - half, 0.0), np.where(ok, p + half, 1.0)


def _leader_confidence(n: Float, s: Float, leader: int) -> float:
    from scipy import stats

    p = s / np.maximum(n, 1.0)
    var = p * (1.0 - p) / np.maximum(n, 1.0)
    others = [i for i in range(n.size) if i != leader]
    se = np.sqrt(var[leader] + var[others])
    z = np.where(se > 0, (p[leader] - p[others]) / np.where(se > 0, se, 1.0), 0.0)
    return float(np.min(stats.norm.cdf(z)))


def allocate(
    visitors: ArrayLike,
    conversions: ArrayLike,
    *,
    algorithm: str = "adobe",
    exploration: float = 0.2,
    min_visitors: int = 1000,
    min_conversions: int = 50,
    delta: float = 0.05,
    rng: np.random.Generator | None = None,
    draws: int = 10_000,
) -> Allocation:
    """The next round's weights from each experience's cumulative visitors and conversions."""
    n, s = _f(visitors), _f(conversions)
    k = n.size
    if k < 2 or n.shape != s.shape or n.ndim != 1:
        raise ValueError("at least two experiences, one count of each per experience")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}")
    if not 0.0 < exploration <= 1.0:
        raise ValueError("exploration must be in (0, 1]")
    even = np.full(k, 1.0 / k)
    if bool(np.any(n < min_visitors) or np.any(s < min_conversions)):
        return Allocation(even, "warmup", None, None, 0.0)
    rates = s / n
    leader = int(np.argmax(rates))
    confidence = _leader_confidence(n, s, leader)
    if algorithm == "thompson":
        gen = rng if rng is not None else np.random.default_rng()
        samples = gen.beta(1.0 + s, 1.0 + n - s, size=(draws, k))
        best = np.bincount(np.argmax(samples, axis=1), minlength=k) / draws
        weights = exploration / k + (1.0 - exploration) * best
        return Allocation(weights, "thompson", None, leader, confidence)
    if k == 2:
        share = 0.9 if confidence >= 0.95 else (2.0 / 3.0 if confidence >= 0.75 else 0.5)
        weights = np.full(2, 1.0 - share)
        weights[leader] = share
        winner = leader if confidence >= 0.95 else None
        return Allocation(
            weights, "winner" if winner is not None else "explore", winner, leader, confidence
        )
    lower, upper = bernstein_bounds(n, s, delta)
    others = np.arange(k) != leader
    base = np.full(k, exploration / k)
    if bool(np.all(lower[leader] > upper[others])):
        base[leader] += 1.0 - exploration
        return Allocation(base, "winner", leader, leader, confidence)
    challenger = int(np.argmax(np.where(others, upper, -np.inf)))
    base[leader] += (1.0 - exploration) / 2.0
    base[challenger] += (1.0 - exploration) / 2.0
    return Allocation(base, "explore", None, leader, confidence)
