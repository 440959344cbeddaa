"""Every container of a response is the response's own, at any depth and from any input.

Delivery rewrites tokens in place and callers may edit content, so a nested list or object
shared between two responses (or with the artifact) would leak one visitor's answer into the
next. `load_artifact` also takes an already parsed artifact: a caller's mappings that are not
dicts and tuples come back as plain dicts and lists, so a response is always JSON.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import pytest

from cible.engine import decide, load_artifact

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CONTENT = {"rows": [[1, {"x": [2]}], {"y": [[3]]}], "meta": {"tags": [["a"]]}}


def _artifact(content: Any, metrics: list[Any]) -> dict[str, Any]:
    return {
        "version": "1.0.0",
        "meta": {"clientCode": "acme"},
        "localMboxes": ["probe"],
        "rules": {
            "mboxes": {
                "probe": [
                    {
                        "ruleKey": "1",
                        "activityId": 1,
                        "meta": {"activity.id": 1, "experience.id": 0},
                        "condition": {"==": [1, 1]},
                        "consequence": {
                            "name": "probe",
                            "options": [{"type": "json", "content": content}],
                            "metrics": metrics,
                        },
                    }
                ]
            },
            "views": {},
        },
    }


def _request(mode: str) -> dict[str, Any]:
    return {"id": {"tntId": "visitor-1.28_0"}, mode: {"mboxes": [{"name": "probe", "index": 1}]}}


@pytest.mark.parametrize("trace", [False, True])
@pytest.mark.parametrize("mode", ["execute", "prefetch"])
def test_nested_containers_are_not_shared(mode: str, trace: bool) -> None:
    click = {"type": "click", "eventToken": "t", "selector": "#a"}
    artifact = load_artifact(_artifact(json.loads(json.dumps(CONTENT)), [click]))
    first = decide(artifact, _request(mode), now=NOW, trace=trace)[mode]["mboxes"][0]
    content = first["options"][0]["content"]
    content["rows"][0][1]["x"].append(99)
    content["rows"][0].append("leak")
    content["rows"][1]["y"][0].append(4)
    content["meta"]["tags"][0].append("b")
    for metric in first.get("metrics", []):
        metric["eventToken"] = "rewritten"
    second = decide(artifact, _request(mode), now=NOW, trace=trace)[mode]["mboxes"][0]
    assert second["options"][0]["content"] == CONTENT
    if mode == "execute":
        assert second["metrics"] == [click]


@pytest.mark.parametrize("trace", [False, True])
def test_a_parsed_artifact_of_other_mappings_and_tuples_answers_plain_json(trace: bool) -> None:
    content = MappingProxyType({"rows": (1, MappingProxyType({"x": (2, "b")})), "n": None})
    metric = MappingProxyType({"type": "click", "eventToken": "t", "path": ("a", 1)})
    artifact = load_artifact(MappingProxyType(_artifact(content, [metric])))
    mbox = decide(artifact, _request("execute"), now=NOW, trace=trace)["execute"]["mboxes"][0]
    got_content, got_metric = mbox["options"][0]["content"], mbox["metrics"][0]
    assert got_content == {"rows": [1, {"x": [2, "b"]}], "n": None}
    assert got_metric == {"type": "click", "eventToken": "t", "path": ["a", 1]}
    assert type(got_content) is dict and type(got_content["rows"][1]) is dict
    assert type(got_content["rows"]) is list and type(got_metric["path"]) is list
    assert type(got_metric) is dict
    json.dumps(mbox)
