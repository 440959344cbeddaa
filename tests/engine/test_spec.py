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


def test_case(decisioning_case: dict[str, Any]) -> None:
    artifact = load_artifact(decisioning_case["artifact"])
    response = decide(
        artifact,
        decisioning_case["request"],
        profile=decisioning_case.get("profile"),
        now=case_now(decisioning_case),
        client=decisioning_case.get("client"),
    )
    assert_decision_matches(decisioning_case, response)


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 60
