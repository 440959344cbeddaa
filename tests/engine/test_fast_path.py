"""The untraced `decide` (indexed rule lists, audiences before bands) decides as the traced one.

`decide(..., trace=True)` evaluates every rule's compiled condition in full; without a trace the
engine skips rules that cannot match (docs/engine.md, "Performance"). Random artifacts and
requests drive both and must give the same response, the same decided rules and the same
notifications and remote lists. Also: responses never share a mutable object, and a rule whose
condition was replaced after loading (as delivery's sticky assignments do) is decided by the
replacement.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from cible.engine import EXTRA_KEY, decide, load_artifact

NOW = datetime(2026, 3, 4, 12, 30, tzinfo=UTC)
VALUES = ["a", "b", "c", "A", "3", "03", ""]


def _allocation(rng: random.Random) -> list[Any]:
    var = {"var": "allocation"}
    low, high = sorted(rng.sample(range(0, 101), 2))
    shapes = [
        [{"<=": [low, var]}, {">=": [high, var]}],
        [{"<=": [low, var]}, {">": [high, var]}],
        [{"<": [low, var, high]}],
        [{"<=": [low, var, high]}],
        [{">=": [var, low]}, {"<": [var, high]}],
        [{">": [var, low + 0.5]}],
        [{"!": {"<": [var, low]}}],  # not a band: evaluated as written
        [{"!": {"missing": ["allocation"]}}, {"<": [var, high]}],  # reads it without a var
        [],
    ]
    return rng.choice(shapes)


def _audience(rng: random.Random) -> list[Any]:
    clauses: list[Any] = []
    for _ in range(rng.randrange(0, 3)):
        param = rng.choice(["mbox.p", "mbox.p_lc", "mbox.q"])
        kind = rng.randrange(9)
        value = rng.choice(VALUES)
        if kind <= 2:
            pair = [value, {"var": param}] if rng.random() < 0.5 else [{"var": param}, value]
            clauses.append({rng.choice(["==", "==", "==="]): pair})
        elif kind == 3:
            clauses.append({"or": [{"==": [v, {"var": param}]} for v in rng.sample(VALUES, 2)]})
        elif kind == 4:
            clauses.append({"!=": [{"var": param}, value]})
        elif kind == 5:
            clauses.append({"==": [{"var": param}, rng.choice([3, 0, True, None])]})
        elif kind == 6:
            clauses.append({"==": [{"var": "user.browserType"}, rng.choice(["chrome", "safari"])]})
        elif kind == 7:
            clauses.append({">": [{"var": "profile.age"}, 30]})
        else:
            clauses.append({"in": [value or "x", {"var": "page.url"}]})
    return clauses


def _rule(rng: random.Random, number: int, activity: int, name: str) -> dict[str, Any]:
    clauses = _allocation(rng) + _audience(rng)
    if clauses and rng.random() < 0.3:
        condition: Any = {"and": [{"and": clauses[:1]}, *clauses[1:]]}
    elif len(clauses) == 1 and rng.random() < 0.5:
        condition = clauses[0]
    else:
        condition = {"and": clauses} if clauses else rng.choice([True, {"and": []}])
    rule: dict[str, Any] = {
        "ruleKey": f"{activity}-{number % 3}",
        "activityId": activity,
        "meta": {"activity.id": activity, "experience.id": number, "offer.id": number},
        "condition": condition,
        "consequence": {
            "name": name,
            "options": [
                {
                    "type": "json",
                    "content": {"n": number, "list": [1, {"d": 2}]},
                    "eventToken": f"t{number}",
                }
            ],
            "metrics": [{"type": "click", "eventToken": f"c{number}", "selector": "#x"}],
        },
    }
    if rng.random() < 0.1:
        rule["propertyTokens"] = ["prop-1"]
    return rule


def _artifact(rng: random.Random) -> dict[str, Any]:
    names = ["m1", "m2", "target-global-mbox"]
    mboxes: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    views: dict[str, list[dict[str, Any]]] = {"v1": []}
    number = 0
    for _ in range(rng.randrange(4, 16)):
        activity = rng.randrange(100, 110)
        target = rng.choice([*names, "v1"])
        for _experience in range(rng.randrange(1, 3)):
            number += 1
            rules = views[target] if target == "v1" else mboxes[target]
            rules.append(_rule(rng, number, activity, target))
    return {
        "version": "1.0.0",
        "meta": {"clientCode": "acme"},
        "responseTokens": ["activity.id", "offer.id", "geo.city"],
        "localMboxes": names,
        "localViews": ["v1"],
        "rules": {"mboxes": mboxes, "views": views},
    }


def _request(rng: random.Random) -> dict[str, Any]:
    def detail(name: str, index: int) -> dict[str, Any]:
        parameters: dict[str, Any] = {}
        for key in ("p", "q"):
            if rng.random() < 0.8:
                parameters[key] = rng.choice([*VALUES, 3, True, None])
        return {"name": name, "index": index, "parameters": parameters}

    request: dict[str, Any] = {
        "context": {
            "channel": "web",
            "address": {"url": rng.choice(["https://a.example/b", "https://x.example/a?c=3"])},
            "userAgent": rng.choice(["Mozilla/5.0 Chrome/119.0 Safari/537.36", "curl"]),
            "geo": {"city": "Paris"},
        },
        "requestId": "r",
    }
    if rng.random() < 0.9:
        request["id"] = {"tntId": f"{rng.getrandbits(64):016x}.28_0"}
    if rng.random() < 0.2:
        request["property"] = {"token": "prop-1"}
    mode = rng.choice(["execute", "prefetch"])
    block: dict[str, Any] = {"mboxes": [detail(rng.choice(["m1", "m2"]), i) for i in range(2)]}
    if rng.random() < 0.5:
        block["pageLoad"] = {"parameters": detail("", 0)["parameters"]}
    if mode == "prefetch" and rng.random() < 0.5:
        block["views"] = [detail("v1", 0) if rng.random() < 0.5 else {}]
    request[mode] = block
    return request


def _cases(count: int) -> Iterator[tuple[Any, dict[str, Any], Any]]:
    rng = random.Random(16)
    for _ in range(count):
        artifact = load_artifact(_artifact(rng))
        for _ in range(8):
            profile = rng.choice([None, {"age": rng.choice([20, 40, "35"])}])
            yield artifact, _request(rng), profile


def test_untraced_decisions_equal_traced_ones() -> None:
    checked = matched = 0
    for artifact, request, profile in _cases(150):
        fast = decide(artifact, request, profile=profile, now=NOW)
        traced = decide(artifact, request, profile=profile, now=NOW, trace=True)
        fast_extra, traced_extra = fast.pop(EXTRA_KEY), traced.pop(EXTRA_KEY)
        assert fast == traced, request
        for key in ("decided", "notifications", "remoteMboxes", "remoteViews"):
            assert fast_extra[key] == traced_extra[key], (key, request)
        checked += 1
        matched += len(fast_extra["decided"])
    assert checked == 1200
    assert matched > 500  # the random artifacts do decide, not only miss


def _indexed_artifact(rules: list[dict[str, Any]]) -> Any:
    return load_artifact(
        {
            "version": "1.0.0",
            "meta": {"clientCode": "acme"},
            "responseTokens": ["activity.id"],
            "localMboxes": ["hero"],
            "rules": {"mboxes": {"hero": rules}},
        }
    )


def _segment_rule(activity: int, segment: str) -> dict[str, Any]:
    return {
        "ruleKey": str(activity),
        "activityId": activity,
        "meta": {"activity.id": activity, "experience.id": 0},
        "condition": {
            "and": [
                {"<=": [0, {"var": "allocation"}, 100]},
                {"==": [segment, {"var": "mbox.segment"}]},
            ]
        },
        "consequence": {
            "name": "hero",
            "options": [{"type": "json", "content": {"a": activity, "nested": {"x": [1]}}}],
            "metrics": [
                {"type": "click", "eventToken": f"c{activity}", "analytics": {"payload": [1]}}
            ],
        },
    }


def _hero(segment: Any, visitor: str = "v1") -> dict[str, Any]:
    return {
        "id": {"tntId": visitor},
        "execute": {"mboxes": [{"name": "hero", "index": 0, "parameters": {"segment": segment}}]},
    }


def test_index_picks_the_rule_of_the_value_and_walks_no_other() -> None:
    artifact = _indexed_artifact([_segment_rule(100 + n, str(n)) for n in range(10)])
    result = decide(artifact, _hero("7"), now=NOW)
    assert result["execute"]["mboxes"][0]["options"][0]["content"]["a"] == 107
    assert [d["activityId"] for d in result[EXTRA_KEY]["decided"]] == [107]
    # JavaScript's == makes the number 7 equal "7": a non-string value walks every rule.
    number = decide(artifact, _hero(7), now=NOW)
    assert number["execute"]["mboxes"][0]["options"][0]["content"]["a"] == 107
    assert "options" not in decide(artifact, _hero("70"), now=NOW)["execute"]["mboxes"][0]


def test_a_replaced_condition_decides_instead_of_the_fast_form() -> None:
    # Delivery's sticky view replaces `condition.matches` of pinned rules with
    # dataclasses.replace; the fast form of the original must not be used for them.
    artifact = _indexed_artifact([_segment_rule(100, "1"), _segment_rule(101, "1")])
    first = artifact.mbox_rules["hero"][0]
    never = dataclasses.replace(first.condition, matches=lambda _context: False)
    pinned = dataclasses.replace(
        artifact,
        mbox_rules={
            "hero": (dataclasses.replace(first, condition=never), artifact.mbox_rules["hero"][1])
        },
    )
    assert decide(artifact, _hero("1"), now=NOW)[EXTRA_KEY]["decided"][0]["activityId"] == 100
    for trace in (False, True):
        decided = decide(pinned, _hero("1"), now=NOW, trace=trace)[EXTRA_KEY]["decided"]
        assert [d["activityId"] for d in decided] == [101]
    # The original artifact still decides with its own rules afterwards.
    assert decide(artifact, _hero("1"), now=NOW)[EXTRA_KEY]["decided"][0]["activityId"] == 100


def _containers(value: Any) -> Iterator[int]:
    if isinstance(value, dict | list):
        yield id(value)
        for item in value.values() if isinstance(value, dict) else value:
            yield from _containers(item)


@pytest.mark.parametrize("mode", ["execute", "prefetch"])
def test_responses_share_no_mutable_object(mode: str) -> None:
    artifact = _indexed_artifact([_segment_rule(100, "1")])
    request = _hero("1")
    request[mode] = request.pop("execute")
    first = decide(artifact, request, now=NOW)
    second = decide(artifact, request, now=NOW)
    assert first == second
    assert set(_containers(first)).isdisjoint(_containers(second))
    # Delivery rewrites tokens in place; a caller may edit content: neither leaks.
    option = first[mode]["mboxes"][0]["options"][0]
    option["responseTokens"]["activity.decisioningMethod"] = "server-side"
    option["content"]["nested"]["x"].append(2)
    option["content"]["a"] = 0
    third = decide(artifact, request, now=NOW)
    assert third == second
    assert third[mode]["mboxes"][0]["options"][0]["content"] == {"a": 100, "nested": {"x": [1]}}
    assert third[mode]["mboxes"][0]["options"][0]["responseTokens"] == {
        "activity.id": 100,
        "activity.decisioningMethod": "on-device",
    }


def test_decided_names_each_location() -> None:
    artifact = _indexed_artifact([_segment_rule(100, "1")])
    request = {
        "id": {"tntId": "v"},
        "execute": {"mboxes": [{"name": "hero", "index": 3, "parameters": {"segment": "1"}}]},
    }
    decided = decide(artifact, request, now=NOW)[EXTRA_KEY]["decided"]
    assert decided == [
        {
            "mode": "execute",
            "scope": "mbox",
            "name": "hero",
            "index": 3,
            "ruleKey": "100",
            "activityId": 100,
            "experienceId": 0,
        }
    ]
