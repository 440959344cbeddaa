"""Audience clauses are tested before the visitor is hashed into an allocation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cible.engine import decide, load_artifact


def _rule(key: str, category: str, low: float, high: float) -> dict[str, Any]:
    return {
        "ruleKey": key,
        "activityId": int(key),
        "meta": {"activity.id": int(key), "experience.id": 0, "location.name": "m"},
        "condition": {
            "and": [
                {"<=": [low, {"var": "allocation"}, high]},
                {"==": [category, {"var": "mbox.category"}]},
            ]
        },
        "consequence": {"name": "m", "options": [{"type": "html", "content": key}]},
    }


ARTIFACT = load_artifact(
    {
        "version": "1.0.0",
        "meta": {"clientCode": "c"},
        "rules": {"mboxes": {"m": [_rule("1", "shoes", 0, 100), _rule("2", "hats", 0, 100)]}},
    }
)


def _decide(category: str) -> dict[str, Any]:
    request = {
        "id": {"tntId": "visitor.0"},
        "execute": {"mboxes": [{"index": 0, "name": "m", "parameters": {"category": category}}]},
    }
    return decide(ARTIFACT, request, now=datetime(2026, 1, 1, tzinfo=UTC), trace=True)


def test_a_rule_whose_audience_fails_is_not_hashed() -> None:
    result = _decide("hats")
    assert result["execute"]["mboxes"][0]["options"][0]["content"] == "2"
    first, second = result["cible"]["reasons"][-1]["rules"]
    assert first["matched"] is False and "allocation" not in first
    assert first["reason"] == "condition not met"
    assert second["matched"] is True and 0 <= second["allocation"] <= 100


def test_allocation_bands_still_decide() -> None:
    narrow = load_artifact(
        {
            "version": "1.0.0",
            "meta": {"clientCode": "c"},
            "rules": {"mboxes": {"m": [_rule("1", "shoes", 0, 0.001)]}},
        }
    )
    request = {
        "id": {"tntId": "visitor.0"},
        "execute": {"mboxes": [{"index": 0, "name": "m", "parameters": {"category": "shoes"}}]},
    }
    result = decide(narrow, request, now=datetime(2026, 1, 1, tzinfo=UTC), trace=True)
    entry = result["cible"]["reasons"][-1]["rules"][0]
    assert entry["matched"] is False and entry["allocation"] > 0.001
