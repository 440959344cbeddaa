"""Every shared decisioning spec case (tests/spec/decisioning/*.json) through `cible.engine`."""

from __future__ import annotations

from typing import Any

import pytest

from cible.engine import decide, load_artifact
from tests.spec.spec_cases import assert_decision_matches, case_now, load_decisioning_cases

CASES = load_decisioning_cases()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "decisioning_case" in metafunc.fixturenames:
        metafunc.parametrize(
            "decisioning_case", [case for _, case in CASES], ids=[case_id for case_id, _ in CASES]
        )


def _decide(case: dict[str, Any], trace: bool) -> dict[str, Any]:
    return decide(
        load_artifact(case["artifact"]),
        case["request"],
        profile=case.get("profile"),
        now=case_now(case),
        client=case.get("client"),
        trace=trace,
    )


def test_case(decisioning_case: dict[str, Any]) -> None:
    assert_decision_matches(decisioning_case, _decide(decisioning_case, trace=True))


def test_case_without_trace(decisioning_case: dict[str, Any]) -> None:
    """Untraced, the engine skips rules that cannot match: same decision, matched rules only."""
    fast = _decide(decisioning_case, trace=False)
    traced = _decide(decisioning_case, trace=True)
    expected = {k: v for k, v in decisioning_case["expected"].items() if k != "ruleReasons"}
    assert_decision_matches({**decisioning_case, "expected": expected}, fast)
    fast_extra, traced_extra = fast.pop("cible"), traced.pop("cible")
    assert fast == traced
    for key in ("decided", "notifications", "remoteMboxes", "remoteViews"):
        assert fast_extra[key] == traced_extra[key], key
    matched = [
        (entry["scope"], entry["name"], rule["ruleKey"])
        for entry in traced_extra["reasons"]
        if entry["scope"] != "request"
        for rule in entry["rules"]
        if rule["matched"]
    ]
    assert matched == [(d["scope"], d["name"], d["ruleKey"]) for d in fast_extra["decided"]]
    fast_rules = [
        (entry["scope"], entry["name"], rule["ruleKey"])
        for entry in fast_extra["reasons"]
        if entry["scope"] != "request"
        for rule in entry["rules"]
    ]
    assert fast_rules == matched


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 60
