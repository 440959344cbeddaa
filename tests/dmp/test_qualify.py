"""Real-time qualification without I/O: the indexes that bound a call's work, and limits."""

from __future__ import annotations

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
from cible.dmp.segmentrule import DAY_MS


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
