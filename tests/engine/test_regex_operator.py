"""The ``regex`` operator: Cible's JSON Logic extension for ``matchesRegex`` audiences, decided
by the delivery API only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cible.engine import ArtifactError, decide, load_artifact


def _artifact(condition: Any) -> dict[str, Any]:
    rule = {
        "ruleKey": "1",
        "activityId": 1,
        "meta": {"activity.id": 1, "experience.id": 0, "location.name": "m"},
        "condition": condition,
        "consequence": {"name": "m", "options": [{"type": "html", "content": "hit"}]},
    }
    return {"version": "1.0.0", "meta": {"clientCode": "c"}, "rules": {"mboxes": {"m": [rule]}}}


def _hit(artifact: Any, parameters: dict[str, Any]) -> bool:
    request = {
        "id": {"tntId": "v.0"},
        "execute": {"mboxes": [{"index": 0, "name": "m", "parameters": parameters}]},
    }
    result = decide(artifact, request, now=datetime(2026, 1, 1, tzinfo=UTC))
    return bool(result["execute"]["mboxes"][0].get("options"))


def test_matches_strings_anywhere() -> None:
    artifact = load_artifact(_artifact({"regex": [{"var": "mbox.sku"}, r"AB-\d+$"]}))
    assert _hit(artifact, {"sku": "AB-12"})
    assert _hit(artifact, {"sku": "x-AB-3"})
    assert not _hit(artifact, {"sku": "AB-x"})
    assert not _hit(artifact, {})  # absent: false, never an error


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"regex": [{"var": "mbox.sku"}, "("]}, "invalid regular expression"),
        ({"regex": [{"var": "mbox.sku"}, {"var": "mbox.p"}]}, "literal string pattern"),
        ({"regex": [{"var": "mbox.sku"}]}, "expects 2 arguments"),
    ],
)
def test_bad_patterns_are_refused_at_load(condition: Any, message: str) -> None:
    with pytest.raises(ArtifactError, match=message):
        load_artifact(_artifact(condition))
