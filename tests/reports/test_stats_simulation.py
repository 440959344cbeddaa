"""Simulated experiments, vectorised at the statistics layer: error rates, power, SRM, bandit.

Fixed seeds: each assertion is deterministic, and each tolerance is several simulation standard
errors wide, so a correct implementation passes and a wrong formula (pooled df, z for t,
peeking with a fixed-horizon test, no exploration floor) fails.
"""

from __future__ import annotations

import numpy as np

from cible.reports import stats as rs

SIMS = 2000


def _conversion_test(n_t, c_t, n_c, c_c):  # type: ignore[no-untyped-def]
    return rs.welch(
        rs.mean(n_t, c_t),
        rs.unit_variance(n_t, c_t, c_t),
        n_t,
        rs.mean(n_c, c_c),
        rs.unit_variance(n_c, c_c, c_c),
        n_c,
    )


def test_aa_false_positive_rate_of_the_fixed_horizon_test() -> None:
    rng = np.random.default_rng(20261202)
    n = 10_000
    c_a = rng.binomial(n, 0.1, SIMS)
    c_b = rng.binomial(n, 0.1, SIMS)
    rate = float(np.mean(_conversion_test(n, c_b, n, c_a).p_value < 0.05))
    assert 0.035 <= rate <= 0.065, rate


def test_aa_continuous_metric_false_positive_rate() -> None:
    rng = np.random.default_rng(11)
    n = 2000
    # Revenue per visitor: most visitors spend nothing, buyers spend a skewed amount.
    y = rng.binomial(1, 0.05, (2, SIMS, n)) * rng.lognormal(3.0, 1.0, (2, SIMS, n))
    s, ss = y.sum(axis=2), (y * y).sum(axis=2)
    res = rs.welch(
        rs.mean(n, s[0]),
        rs.unit_variance(n, s[0], ss[0]),
        n,
        rs.mean(n, s[1]),
        rs.unit_variance(n, s[1], ss[1]),
        n,
    )
    rate = float(np.mean(res.p_value < 0.05))
    assert 0.035 <= rate <= 0.065, rate


def test_sequential_test_stays_under_alpha_with_daily_peeking() -> None:
    rng = np.random.default_rng(99)
    days, daily = 30, 1000
    c_a = rng.binomial(daily, 0.1, (SIMS, days)).cumsum(axis=1)
    c_b = rng.binomial(daily, 0.1, (SIMS, days)).cumsum(axis=1)
    n = daily * np.arange(1, days + 1)[None, :]
    fixed = _conversion_test(n, c_b, n, c_a)
    seq = rs.sequential(fixed.difference, fixed.se, 2 * n, n_star=20_000)
    peeking_fixed = float(np.mean(np.any(fixed.p_value < 0.05, axis=1)))
    peeking_seq = float(np.mean(np.any(seq.p_value < 0.05, axis=1)))
    # The fixed-horizon test read daily is what the sequential test protects against.
    assert peeking_fixed > 0.15, peeking_fixed
    assert peeking_seq <= 0.05, peeking_seq
    # Any decision from the interval agrees with the p-value.
    excludes_zero = (seq.lower > 0) | (seq.upper < 0)
    assert np.array_equal(excludes_zero, seq.p_value < 0.05)


def test_power_promised_by_the_sample_size_calculator() -> None:
    baseline, lift = 0.10, 0.10
    n = rs.sample_size(baseline, lift, power=0.8)
    rng = np.random.default_rng(5)
    c_c = rng.binomial(n, baseline, SIMS)
    c_t = rng.binomial(n, baseline * (1 + lift), SIMS)
    detected = float(np.mean(_conversion_test(n, c_t, n, c_c).p_value < 0.05))
    assert abs(detected - 0.8) <= 0.03, (n, detected)
    assert abs(rs.power(n, baseline, baseline * (1 + lift)) - 0.8) < 0.001


def test_srm_flags_a_50_5_split_and_not_a_fair_one() -> None:
    assert rs.srm([101_000, 99_000], [50, 50]).p_value < 0.001
    rng = np.random.default_rng(3)
    fair = [rs.srm(np.bincount(rng.integers(0, 2, 200_000)), [1, 1]).p_value for _ in range(200)]
    assert float(np.mean(np.array(fair) < 0.001)) <= 0.01


def test_lift_interval_coverage() -> None:
    rng = np.random.default_rng(17)
    n, p_c, p_t = 20_000, 0.05, 0.055
    c_c = rng.binomial(n, p_c, SIMS)
    c_t = rng.binomial(n, p_t, SIMS)
    res = rs.lift(
        rs.mean(n, c_t),
        rs.binary_variance(n, c_t),
        n,
        rs.mean(n, c_c),
        rs.binary_variance(n, c_c),
        n,
    )
    covered = float(np.mean((res.lower <= 0.1) & (res.upper >= 0.1)))
    assert 0.935 <= covered <= 0.965, covered


def _run_bandit(rates: np.ndarray, algorithm: str, rounds: int, per_round: int, seed: int):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    k = rates.size
    n, s = np.zeros(k), np.zeros(k)
    regret, floors = 0.0, []
    for _ in range(rounds):
        if algorithm == "uniform":
            w = np.full(k, 1 / k)
        else:
            alloc = rs.allocate(n, s, algorithm=algorithm, rng=rng, draws=2000)
            w = alloc.weights
            floors.append(float(w.min()))
            assert abs(w.sum() - 1) < 1e-12
        visitors = rng.multinomial(per_round, w)
        conversions = rng.binomial(visitors, rates)
        n += visitors
        s += conversions
        regret += float((visitors * (rates.max() - rates)).sum())
    return regret, floors, rs.allocate(n, s)


def test_bandit_regret_beats_uniform_and_keeps_exploring() -> None:
    rates = np.array([0.05, 0.06, 0.08])
    uniform, _, _ = _run_bandit(rates, "uniform", 300, 1000, 1)
    for algorithm in ("adobe", "thompson"):
        regret, floors, final = _run_bandit(rates, algorithm, 300, 1000, 1)
        assert regret < 0.7 * uniform, (algorithm, regret, uniform)
        # 20 % of traffic is always spread evenly: no experience gets less than 20 %/3.
        assert min(floors) >= 0.2 / 3 - 1e-12
    assert final.leader == 2


def test_bandit_warm_up_two_arms_and_winner() -> None:
    warm = rs.allocate([5000, 900, 5000], [400, 80, 300])
    assert warm.phase == "warmup" and np.allclose(warm.weights, 1 / 3)
    even = rs.allocate([2000, 2000], [100, 101])
    assert np.allclose(even.weights, 0.5)
    two = rs.allocate([20_000, 20_000], [1000, 1200])
    assert two.winner == 1 and np.allclose(two.weights, [0.1, 0.9])
    many = rs.allocate([50_000] * 4, [2500, 2500, 2500, 5000])
    assert many.phase == "winner" and many.winner == 3
    assert np.allclose(many.weights, [0.05, 0.05, 0.05, 0.85])
    explore = rs.allocate([5000] * 4, [250, 260, 270, 280])
    assert explore.phase == "explore" and explore.weights[3] == max(explore.weights)
    assert np.isclose(sorted(explore.weights)[-2], 0.45)


def test_aa_bandit_rarely_declares_a_winner() -> None:
    rng = np.random.default_rng(8)
    k, runs = 3, 200
    declared = 0
    for _ in range(runs):
        n = np.full(k, 30_000.0)
        s = rng.binomial(30_000, 0.05, k).astype(float)
        declared += rs.allocate(n, s).winner is not None
    assert declared / runs < 0.05
