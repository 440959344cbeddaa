"""docs/artifacts.md stays in step with the code: every category, operator and alias is
documented, and the docstring examples of the package run."""

from __future__ import annotations

import doctest
import inspect
import re
from pathlib import Path

import pytest

import cible.artifacts
import cible.artifacts.targeting
import cible.artifacts.tokens
from cible.artifacts.targeting import ALIASES, CATEGORIES, OPERATORS

DOC = Path(__file__).resolve().parents[2] / "docs" / "artifacts.md"


def table_rows(heading: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"### {heading}", 1)[1].split("\n#", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| `")]


def test_every_operator_and_alias_is_documented() -> None:
    documented = {
        name
        for row in table_rows("Operators and their JSON Logic")
        for name in re.findall(r"`(\w+)`", row.split("|")[1])
    }
    assert set(OPERATORS) | set(ALIASES) <= documented


def test_every_category_is_documented() -> None:
    documented = {
        name
        for row in table_rows("Categories")
        for name in re.findall(r"`(\w+)`", row.split("|")[1])
    }
    assert set(CATEGORIES) == documented


@pytest.mark.parametrize(
    "module", [cible.artifacts, cible.artifacts.targeting, cible.artifacts.tokens]
)
def test_docstring_examples_run(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.attempted > 0
    assert result.failed == 0


def test_public_api_is_pinned() -> None:
    assert sorted(cible.artifacts.__all__) == [
        "ARTIFACT_VERSION",
        "ArtifactError",
        "DEFAULT_GLOBAL_MBOX",
        "DEFAULT_RESPONSE_TOKENS",
        "EventTokenRef",
        "TargetRuleError",
        "compile_artifact",
        "compile_target_rule",
        "decode_event_token",
        "dump_artifact",
        "event_token",
        "translate_target_rule",
    ]
    parameters = inspect.signature(cible.artifacts.compile_artifact).parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values())
    assert list(parameters)[:6] == [
        "client",
        "environment",
        "activities",
        "offers",
        "audiences",
        "generated_at",
    ]
