"""Closed-form statistics against scipy/statsmodels on fixed data, and Adobe's worked example."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower

from cible.reports import stats as rs


def _moments(y: np.ndarray) -> tuple[float, float, float]:
    return float(y.size), float(y.sum()), float((y * y).sum())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_welch_matches_scipy_on_raw_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.lognormal(1.0, 1.2, size=700)
    b = rng.lognormal(1.1, 1.0, size=950)
    ma, va = rs.mean(*_moments(a)[:2]), rs.unit_variance(*_moments(a))
    mb, vb = rs.mean(*_moments(b)[:2]), rs.unit_variance(*_moments(b))
    ours = rs.welch(mb, vb, b.size, ma, va, a.size)
    ref = stats.ttest_ind(b, a, equal_var=False)
    assert float(ours.t) == pytest.approx(ref.statistic, abs=1e-9)
    assert float(ours.p_value) == pytest.approx(ref.pvalue, abs=1e-9)
    assert float(ours.df) == pytest.approx(ref.df, rel=1e-9)
    low, high = ref.confidence_interval(0.95)
    t_crit = stats.t.ppf(0.975, float(ours.df))
    assert float(ours.difference - t_crit * ours.se) == pytest.approx(low, abs=1e-9)
    assert float(ours.difference + t_crit * ours.se) == pytest.approx(high, abs=1e-9)


def test_welch_on_conversions_matches_scipy_from_stats() -> None:
    n_t, c_t, n_c, c_c = 5000, 560, 5100, 500
    ours = rs.welch(
        rs.mean(n_t, c_t),
        rs.unit_variance(n_t, c_t, c_t),
        n_t,
        rs.mean(n_c, c_c),
        rs.unit_variance(n_c, c_c, c_c),
        n_c,
    )
    ref = stats.ttest_ind_from_stats(
        c_t / n_t,
        math.sqrt(float(rs.unit_variance(n_t, c_t, c_t))),
        n_t,
        c_c / n_c,
        math.sqrt(float(rs.unit_variance(n_c, c_c, c_c))),
        n_c,
        equal_var=False,
    )
    assert float(ours.p_value) == pytest.approx(ref.pvalue, abs=1e-9)
    assert float(ours.confidence) == pytest.approx(1 - ref.pvalue, abs=1e-9)


def test_welch_without_variance_is_uninformative() -> None:
    ours = rs.welch(0.0, 0.0, 100, 0.0, 0.0, 100)
    assert float(ours.p_value) == 1.0
    assert float(rs.welch(0.5, 0.25, 1, 0.4, 0.24, 100).p_value) == 1.0


def test_adobe_lift_worked_example() -> None:
    """Adobe, "Average lift bounds and confidence interval": A 219,328 visitors / 2,466
    conversions, B 218,362 / 3,040 → lift 23.8 %, variance 0.0011, bounds 17.3 % to 30.3 %."""
    n_a, c_a, n_b, c_b = 219_328, 2_466, 218_362, 3_040
    res = rs.lift(
        rs.mean(n_b, c_b),
        rs.binary_variance(n_b, c_b),
        n_b,
        rs.mean(n_a, c_a),
        rs.binary_variance(n_a, c_a),
        n_a,
    )
    assert float(res.estimate) == pytest.approx(0.238, abs=5e-4)
    assert float(res.se) ** 2 == pytest.approx(0.0011, abs=5e-5)
    assert float(res.lower) == pytest.approx(0.173, abs=1e-3)
    assert float(res.upper) == pytest.approx(0.303, abs=1.5e-3)


def test_lift_matches_the_delta_method_written_out() -> None:
    mt, vt, nt, mc, vc, nc = 12.5, 40.0, 800, 10.0, 36.0, 820
    res = rs.lift(mt, vt, nt, mc, vc, nc)
    var = (vt / nt) / mc**2 + mt**2 * (vc / nc) / mc**4
    assert float(res.estimate) == pytest.approx(0.25, abs=1e-12)
    assert float(res.se) == pytest.approx(math.sqrt(var), abs=1e-12)
    z = stats.norm.ppf(0.975)
    assert float(res.upper) == pytest.approx(0.25 + z * math.sqrt(var), abs=1e-12)
    assert float(rs.lift(1.0, 1.0, 10, 0.0, 0.0, 10).defined) == 0.0


def test_mean_interval_is_adobes_normal_interval() -> None:
    low, high = rs.mean_interval(32 / 124, rs.binary_variance(124, 32), 124)
    half = 1.959963984540054 * math.sqrt((32 / 124) * (1 - 32 / 124) / 124)
    assert float(low) == pytest.approx(32 / 124 - half, abs=1e-12)
    assert float(high) == pytest.approx(32 / 124 + half, abs=1e-12)


def test_srm_matches_scipy_chisquare() -> None:
    observed = np.array([10_120, 9_880, 10_400])
    weights = np.array([34, 33, 33])
    ours = rs.srm(observed, weights)
    ref = stats.chisquare(observed, observed.sum() * weights / weights.sum())
    assert ours.chi_square == pytest.approx(ref.statistic, abs=1e-9)
    assert ours.p_value == pytest.approx(ref.pvalue, abs=1e-9)
    assert rs.srm([0, 0], [1, 1]).p_value == 1.0


@pytest.mark.parametrize(("ours", "theirs"), [("holm", "holm"), ("benjamini-hochberg", "fdr_bh")])
def test_corrections_match_statsmodels(ours: str, theirs: str) -> None:
    p = np.array([0.01, 0.04, 0.03, 0.20, 0.0005, 0.04])
    assert rs.adjust_p_values(p, ours) == pytest.approx(
        multipletests(p, method=theirs)[1], abs=1e-12
    )
    with pytest.raises(ValueError, match="unknown correction"):
        rs.adjust_p_values(p, "bonferonni")


def test_power_matches_statsmodels() -> None:
    p1, p2, n = 0.05, 0.0525, 60_000
    sd = math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / 2)
    ref = NormalIndPower().power((p2 - p1) / sd, nobs1=n, alpha=0.05, ratio=1.0)
    assert rs.power(n, p1, p2) == pytest.approx(ref, abs=1e-9)


def test_sample_size_matches_the_closed_form_and_statsmodels() -> None:
    # reference/experiment-statistics.md §1.10: 5 % baseline, 5 % lift, 80 % power → ≈122,000.
    n = rs.sample_size(0.05, 0.05)
    assert 121_000 < n < 123_000
    p1, p2 = 0.05, 0.0525
    sd = math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / 2)
    ref = NormalIndPower().solve_power((p2 - p1) / sd, alpha=0.05, power=0.8, ratio=1.0)
    assert n == math.ceil(ref) or n == math.ceil(ref) + 1
    assert rs.sample_size(0.05, 0.05, comparisons=3) > n
    with pytest.raises(ValueError):
        rs.sample_size(0.0, 0.1)


def test_sequential_matches_optimizely_parametrisation() -> None:
    """Johari et al.'s mSPRT, Λ = sqrt(V/(V+nτ²))·exp(n²τ²θ²/(2V(V+nτ²))), equals GrowthBook's
    form with V = N·SE², τ² = ρ²·N·SE²."""
    effect, se, n_total, n_star, alpha = 0.013, 0.006, 20_000, 5000.0, 0.05
    ours = rs.sequential(effect, se, n_total, n_star=n_star, alpha=alpha)
    rho2 = rs.mixture_rho(n_star, alpha) ** 2
    v, tau2, n = n_total * se**2, rho2 * n_total * se**2, n_total
    lam = math.sqrt(v / (v + n * tau2)) * math.exp(
        n**2 * tau2 * effect**2 / (2 * v * (v + n * tau2))
    )
    assert float(ours.p_value) == pytest.approx(min(1.0, 1 / lam), abs=1e-12)
    half = math.sqrt(
        2 * v * (v + n * tau2) / (n**2 * tau2) * math.log(math.sqrt((v + n * tau2) / v) / alpha)
    )
    assert float(ours.lower) == pytest.approx(effect - half, abs=1e-12)
    # The interval is the set of effects not rejected: at its edge, Lambda = 1/alpha.
    edge = rs.sequential(half, se, n_total, n_star=n_star, alpha=alpha)
    assert float(edge.p_value) == pytest.approx(alpha, rel=1e-9)
    # Always wider than the fixed-horizon interval.
    assert half > stats.norm.ppf(0.975) * se


@pytest.mark.parametrize(("effect", "se", "prior"), [(0.04, 0.03, None), (-0.01, 0.02, 0.3)])
def test_posterior_matches_numerical_integration(
    effect: float, se: float, prior: float | None
) -> None:
    post = rs.posterior(effect, se, prior_sd=prior)
    if prior is None:
        mu, sd = effect, se
    else:
        prec = 1 / prior**2 + 1 / se**2
        mu, sd = (effect / se**2) / prec, math.sqrt(1 / prec)
    dens = stats.norm(mu, sd).pdf
    lo, hi = mu - 12 * sd, mu + 12 * sd
    chance = integrate.quad(dens, 0, hi, epsabs=1e-13)[0]
    loss_t = integrate.quad(lambda x: -x * dens(x), lo, 0, epsabs=1e-13)[0]
    loss_c = integrate.quad(lambda x: x * dens(x), 0, hi, epsabs=1e-13)[0]
    assert float(post.chance_to_beat) == pytest.approx(chance, abs=1e-6)
    assert float(post.loss_choosing_treatment) == pytest.approx(loss_t, abs=1e-6)
    assert float(post.loss_choosing_control) == pytest.approx(loss_c, abs=1e-6)


def test_cuped_matches_raw_computation() -> None:
    rng = np.random.default_rng(7)
    x_c, x_t = rng.gamma(2.0, 5.0, 4000), rng.gamma(2.0, 5.0, 4200)
    y_c = 0.8 * x_c + rng.normal(0, 3, x_c.size) + 5
    y_t = 0.8 * x_t + rng.normal(0, 3, x_t.size) + 5.5

    def moments(x: np.ndarray, y: np.ndarray) -> rs.CovariateMoments:
        return rs.CovariateMoments(
            float(x.size), y.sum(), (y * y).sum(), x.sum(), (x * x).sum(), (x * y).sum()
        )

    res = rs.cuped_lift(moments(x_t, y_t), moments(x_c, y_c))
    x, y = np.concatenate([x_c, x_t]), np.concatenate([y_c, y_t])
    theta = np.cov(x, y, ddof=1)[0, 1] / np.var(x, ddof=1)
    assert res.applied
    assert res.theta == pytest.approx(theta, rel=1e-9)
    assert res.var_t == pytest.approx(np.var(y_t - theta * x_t, ddof=1), rel=1e-9)
    assert res.mean_c == pytest.approx(np.mean(y_c - theta * x_c), rel=1e-9)
    plain = rs.lift(
        y_t.mean(), np.var(y_t, ddof=1), y_t.size, y_c.mean(), np.var(y_c, ddof=1), y_c.size
    )
    # Same estimand, much tighter interval: the covariate explains most of the variance.
    assert res.se < 0.5 * float(plain.se)
    assert res.estimate == pytest.approx(float(plain.estimate), abs=3 * float(plain.se))


def test_winsorize_caps_at_the_percentile() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, 1000.0])
    capped, cap = rs.winsorize(values, 80)
    assert cap == pytest.approx(np.percentile(values, 80))
    assert capped.max() == pytest.approx(cap)
    assert rs.adobe_extreme_orders(np.r_[np.full(50, 40.0), 5000.0]).tolist() == [False] * 50 + [
        True
    ]
