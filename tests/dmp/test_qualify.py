"""Real-time qualification without I/O: the indexes that bound a call's work, and limits."""

from __future__ import annotations

import random
from typing import Any

from cible.dmp.qualify import (
    MAX_TIMES_PER_TRAIT,
    DeviceState,
    RuleSet,
    SegmentDef,
    TraitDef,
    apply_call,
    expiry_ms,
)
from cible.dmp.segmentrule import DAY_MS, SegmentRuleError


class _Counting:
    def __init__(self, rule: Any, calls: list[int], sid: int) -> None:
        self.rule, self.calls, self.sid = rule, calls, sid

    def evaluate(self, signals: Any) -> bool:
        self.calls.append(self.sid)
        return bool(self.rule.evaluate(signals))


def test_a_call_evaluates_only_the_traits_its_keys_reach() -> None:
    traits = [TraitDef(i, f'c_k{i} == "1"', 120) for i in range(1, 5001)]
    traits.append(TraitDef(9001, 'NOT c_optout == "1"', 120))  # true without its key
    rules = RuleSet.build(traits, [SegmentDef(1, "17T")], [])
    calls: list[int] = []
    for sid, rule in list(rules.compiled.items()):
        rules.compiled[sid] = _Counting(rule, calls, sid)  # type: ignore[assignment]
    _, outcome = apply_call(rules, DeviceState(), {"c_k17": ["1"], "c_other": ["x"]}, 0)
    assert sorted(calls) == [17, 9001]
    assert outcome.realized == [17, 9001]
    assert outcome.entered == [1]


def test_segments_are_evaluated_only_when_their_traits_are_held() -> None:
    rules = RuleSet.build(
        [TraitDef(1, 'c_a == "1"', 120), TraitDef(2, 'c_b == "1"', 120)],
        [SegmentDef(10, "1T"), SegmentDef(20, "2T")],
        [],
    )
    assert rules.segments_of_trait == {1: {10}, 2: {20}}
    state, outcome = apply_call(rules, DeviceState(), {"c_a": ["1"]}, 0)
    assert outcome.entered == [10] and state.segments == {10: 0}


def test_realization_timestamps_are_bounded_but_the_count_is_not() -> None:
    rules = RuleSet.build([TraitDef(1, 'c_a == "1"', 0)], [], [])
    state = DeviceState()
    for i in range(MAX_TIMES_PER_TRAIT + 5):
        state, _ = apply_call(rules, state, {"c_a": ["1"]}, i)
    count, times = state.realizations[1]
    assert count == MAX_TIMES_PER_TRAIT + 5
    assert len(times) == MAX_TIMES_PER_TRAIT and times[0] == 5  # type: ignore[arg-type, index]


def test_state_round_trips_and_ttl_formula() -> None:
    state = DeviceState({1: [2, [5, 6]]}, {3: 5})
    assert DeviceState.decode(state.encode()) == state
    # AAM: a 1-day TTL lasts 24 + (24 - UTC hour of realization) hours.
    realized = 10 * DAY_MS + 18 * 3_600_000
    assert expiry_ms(realized, 1) == realized + (24 + 6) * 3_600_000
    assert expiry_ms(realized, 0) is None


def test_an_inactive_trait_realizes_nothing_but_keeps_what_it_realized() -> None:
    active = RuleSet.build([TraitDef(1, 'c_a == "1"', 120)], [SegmentDef(5, "1T")], [])
    state, _ = apply_call(active, DeviceState(), {"c_a": ["1"]}, 0)
    paused = RuleSet.build(
        [TraitDef(1, 'c_a == "1"', 120, active=False)], [SegmentDef(5, "1T")], []
    )
    state, outcome = apply_call(paused, state, {"c_a": ["1"]}, 1_000, direct=[1])
    assert outcome.realized == [] and state.realizations[1][0] == 1
    assert state.segments == {5: 0}
    gone = RuleSet.build([], [SegmentDef(5, "frequency([2T]) >= 1")], [])
    state, outcome = apply_call(gone, state, {}, 2_000)
    assert state.realizations == {} and outcome.exited == [5]


def _random_rule(rng: random.Random, traits: int) -> str:
    """A segment rule over ``traits`` with recency windows both ways, every count test and NOT."""

    def term() -> str:
        ids = ",".join(f"{rng.randrange(1, traits + 1)}T" for _ in range(rng.randint(1, 2)))
        window = rng.choice(["", " <= 2D", " >= 2D", " <= 5D"])
        count = rng.choice(["", " >= 2", " <= 1", " == 1"])
        return f"frequency([{ids}]{window}){count}"

    positive = f"{rng.randrange(1, traits + 1)}T"
    extra = [term() if rng.random() < 0.7 else f"NOT {term()}" for _ in range(rng.randint(0, 2))]
    glue = rng.choice([" AND ", " OR "])
    return (
        f"{positive} AND ({glue.join([term(), *extra])})" if extra else f"{positive} AND {term()}"
    )


def test_incremental_membership_equals_a_full_evaluation_over_time() -> None:
    """A call re-evaluates only the segments its changes or the clock can move; over random
    taxonomies and calls spread across days (TTLs expiring, windows opening and closing), the
    memberships are those of evaluating every segment on every call."""
    for seed in range(12):
        rng = random.Random(seed)
        traits = [TraitDef(i, f'c_k{i} == "1"', rng.choice([0, 1, 3])) for i in range(1, 9)]
        segments = []
        for sid in range(1, 16):
            try:
                segments.append(SegmentDef(sid, _random_rule(rng, 8)))
                RuleSet.build(traits, segments, [])
            except SegmentRuleError:
                segments.pop()  # a rule an empty profile satisfies: AAM refuses it too
        rules = RuleSet.build(traits, segments, [])
        incremental, full = DeviceState(), DeviceState()
        now = 0
        for _ in range(120):
            now += rng.choice([0, 3_600_000, DAY_MS // 2, DAY_MS, 2 * DAY_MS])
            keys = rng.sample(range(1, 9), rng.randint(0, 2))
            signals = {f"c_k{k}": ["1"] for k in keys}
            incremental, got = apply_call(rules, incremental, signals, now)
            full.generation = None  # forces every segment to be evaluated
            full, expected = apply_call(rules, full, signals, now)
            assert incremental.segments == full.segments, (seed, now, signals)
            assert (got.entered, got.exited) == (expected.entered, expected.exited)
