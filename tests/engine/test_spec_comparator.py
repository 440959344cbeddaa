"""The spec comparator fails when a response disagrees, so a passing spec run means something."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cible.engine import decide, load_artifact
from tests.spec.spec_cases import assert_decision_matches, case_now, load_decisioning_cases

CASES = dict(load_decisioning_cases())


def _run(case: dict[str, Any]) -> dict[str, Any]:
    return decide(
        load_artifact(case["artifact"]),
        case["request"],
        profile=case.get("profile"),
        now=case_now(case),
        client=case.get("client"),
        trace=True,
    )


def test_every_case_has_a_unique_id() -> None:
    assert len(CASES) == len(load_decisioning_cases())


@pytest.mark.parametrize(
    ("case_id", "mutate"),
    [
        ("delivery/xt-second-audience", lambda r: r["execute"]["mboxes"][0]["options"].pop()),
        (
            "delivery/xt-second-audience",
            lambda r: r["execute"]["mboxes"][0]["options"][0]["content"].update(lang="en"),
        ),
        (
            "delivery/xt-second-audience",
            lambda r: r["execute"]["mboxes"][0]["options"][0]["responseTokens"].update(
                {"experience.id": 2}
            ),
        ),
        ("delivery/xt-second-audience", lambda r: r["execute"]["mboxes"][0].update(index=9)),
        ("delivery/xt-second-audience", lambda r: r.update(prefetch=r["execute"])),
        (
            "delivery/execute-options-have-no-event-token",
            lambda r: r["execute"]["mboxes"][0]["options"][0].update(eventToken="x"),
        ),
        (
            "delivery/execute-options-have-no-event-token",
            lambda r: r["cible"]["notifications"].pop(),
        ),
        ("delivery/remote-mboxes-listed", lambda r: r["cible"]["remoteMboxes"].pop()),
        ("delivery/views-prefetch-all", lambda r: r["prefetch"]["views"].clear()),
        ("context/time-without-now-never-matches", lambda r: r["cible"]["reasons"].clear()),
    ],
)
def test_comparator_detects_differences(case_id: str, mutate: Any) -> None:
    case = CASES[case_id]
    response = _run(case)
    assert_decision_matches(case, response)
    broken = copy.deepcopy(response)
    mutate(broken)
    with pytest.raises(AssertionError, match=case["name"]):
        assert_decision_matches(case, broken)


def test_comparator_ignores_engine_extras_when_absent() -> None:
    case = CASES["delivery/remote-mboxes-listed"]
    response = _run(case)
    del response["cible"]
    assert_decision_matches(case, response)


def test_engine_marks_its_decisions_on_device() -> None:
    # Kept out of the shared cases: the delivery API answers "server-side" for the same decision.
    case = CASES["delivery/response-tokens-all-enabled"]
    options = _run(case)["execute"]["mboxes"][0]["options"]
    assert options[0]["responseTokens"]["activity.decisioningMethod"] == "on-device"
