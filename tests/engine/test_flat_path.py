"""`decide`'s flat path (one function for the common request) decides as the general walk.

The common request, regular mboxes executed or prefetched with no view, no pageLoad and no trace,
is decided by `_decide._flat`, which takes each matched rule's options from a fragment prepared
once (docs/engine.md, "Performance"). Random artifacts and requests of that shape and around it
(remote and global mboxes, rules reading the profile, macros, geo response tokens, missing ids,
clocks or client codes) go through `decide` with the flat path and with it switched off: the
results, reasons included, must be equal. Responses must share no mutable object, so one
visitor's response, rewritten by its caller, never changes another's or the fragments.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from cible.engine import EXTRA_KEY, _decide, decide, load_artifact

NOW = datetime(2026, 3, 4, 12, 30, tzinfo=UTC)
VALUES = ["a", "b", "A", "3", ""]


def _condition(rng: random.Random) -> Any:
    var = {"var": "allocation"}
    low, high = sorted(rng.sample(range(0, 101), 2))
    clauses: list[Any] = rng.choice(
        [
            [{"<=": [low, var]}, {">": [high, var]}],
            [{"<=": [low, var, high]}],
            [{"!": {"<": [var, low]}}],  # no band: the rule has no fast form
            [],
        ]
    )
    for _ in range(rng.randrange(0, 3)):
        kind = rng.randrange(6)
        if kind <= 2:
            param = rng.choice(["mbox.p", "mbox.p_lc"])
            clauses.append({"==": [rng.choice(VALUES), {"var": param}]})
        elif kind == 3:
            clauses.append({"==": [{"var": "user.browserType"}, "chrome"]})
        elif kind == 4:
            clauses.append({"in": ["b", {"var": "page.url"}]})
        elif rng.random() < 0.3:
            clauses.append({">": [{"var": "profile.age"}, 30]})
    return {"and": clauses} if clauses else True


def _rule(rng: random.Random, number: int, activity: int, name: str) -> dict[str, Any]:
    content: Any = {"n": number, "list": [1, {"d": 2}]}
    kind = "json"
    if rng.random() < 0.15:
        kind, content = "html", "<b>${activity.id} ${mbox.name} ${mbox.p}</b>"
    options: list[dict[str, Any]] = [{"type": kind, "content": content, "eventToken": f"t{number}"}]
    if rng.random() < 0.2:
        options.append({"type": "json", "content": [number], "responseTokens": {"x": 1}})
    rule: dict[str, Any] = {
        "ruleKey": f"{activity}-{number % 3}",
        "activityId": activity,
        "meta": {"activity.id": activity, "experience.id": number, "offer.id": number},
        "condition": _condition(rng),
        "consequence": {
            "name": name,
            "options": options,
            "metrics": rng.choice(
                [
                    [],
                    [{"type": "click", "eventToken": f"c{number}", "selector": "#x"}],
                    [
                        {"type": "click", "eventToken": "same", "selector": "#a"},
                        {"type": "click", "eventToken": "same", "selector": "#b"},
                        {"type": "click", "selector": "#no-token"},
                        {"type": "display", "eventToken": f"d{number}"},
                    ],
                ]
            ),
        },
    }
    if rng.random() < 0.1:
        rule["propertyTokens"] = ["prop-1"]
    return rule


def _artifact(rng: random.Random) -> dict[str, Any]:
    names = ["m1", "m2", "m3", "target-global-mbox"]
    mboxes: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    number = 0
    for _ in range(rng.randrange(3, 12)):
        activity = rng.randrange(100, 108)
        target = rng.choice(names)
        for _experience in range(rng.randrange(1, 3)):
            number += 1
            mboxes[target].append(_rule(rng, number, activity, target))
    artifact: dict[str, Any] = {
        "version": "1.0.0",
        "responseTokens": rng.choice([["activity.id"], ["activity.id", "geo.city"]]),
        "localMboxes": ["m1", "m2", "target-global-mbox"],
        "remoteMboxes": rng.choice([[], ["m2"]]),
        "rules": {"mboxes": mboxes, "views": {}},
    }
    if rng.random() < 0.95:
        artifact["meta"] = {"clientCode": "acme"}
    return artifact


def _request(rng: random.Random) -> dict[str, Any]:
    def detail(index: int) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": rng.choice(["m1", "m1", "m2", "m3"])}
        if rng.random() < 0.9:
            entry["index"] = rng.choice([index, index, True, "1"])
        if rng.random() < 0.9:
            entry["parameters"] = {"p": rng.choice([*VALUES, 3])}
        if rng.random() < 0.1:
            entry["address"] = {"url": "https://b.example/"}
        if rng.random() < 0.05:
            entry["name"] = "target-global-mbox"
        return entry

    request: dict[str, Any] = {
        "context": {
            "channel": "web",
            "address": {"url": rng.choice(["https://a.example/b", "https://x.example/a"])},
            "userAgent": rng.choice(["Mozilla/5.0 Chrome/119.0 Safari/537.36", "curl"]),
            "geo": {"city": "Paris"},
        },
    }
    if rng.random() < 0.7:
        request["requestId"] = rng.choice(["r", ""])
    ids = rng.random()
    if ids < 0.8:
        request["id"] = {"tntId": f"{rng.getrandbits(64):016x}.28_0"}
    elif ids < 0.9:
        request["id"] = {"marketingCloudVisitorId": "ecid", "tntId": "t"}
    elif ids < 0.95:
        request["id"] = {"thirdPartyId": 3}
    if rng.random() < 0.2:
        request["property"] = {"token": "prop-1"}
    mode = rng.choice(["execute", "prefetch"])
    block: dict[str, Any] = {"mboxes": [detail(i) for i in range(rng.choice([1, 1, 1, 2, 3]))]}
    if rng.random() < 0.1:
        block["pageLoad"] = {}
    request[mode] = block
    if rng.random() < 0.05:
        request["prefetch" if mode == "execute" else "execute"] = {"mboxes": [detail(0)]}
    return request


def _cases(count: int) -> Iterator[tuple[Any, dict[str, Any], dict[str, Any]]]:
    rng = random.Random(1616)
    for _ in range(count):
        artifact = load_artifact(_artifact(rng))
        for _ in range(10):
            options: dict[str, Any] = {"now": rng.choice([NOW, NOW, NOW, None])}
            if rng.random() < 0.2:
                options["profile"] = {"age": rng.choice([20, 40])}
            if rng.random() < 0.1:
                options["client"] = rng.choice(["other", ""])
            yield artifact, _request(rng), options


def test_flat_path_decides_as_the_general_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    flat = _decide._flat
    taken = 0

    def counting(*args: Any) -> Any:
        nonlocal taken
        found = flat(*args)
        taken += found is not None
        return found

    cases = list(_cases(200))
    monkeypatch.setattr(_decide, "_flat", counting)
    fast = [decide(artifact, request, **options) for artifact, request, options in cases]
    monkeypatch.setattr(_decide, "_flat", lambda *args: None)
    general = [decide(artifact, request, **options) for artifact, request, options in cases]
    matched = 0
    for (_artifact, request, options), one, other in zip(cases, fast, general, strict=True):
        assert one == other, (request, options)
        matched += len(one[EXTRA_KEY]["decided"])
    # The flat path did decide a good share of the cases, and they did match rules.
    assert taken > 200, taken
    assert matched > 500, matched


def _hero_artifact() -> Any:
    rule = {
        "ruleKey": "100",
        "activityId": 100,
        "meta": {"activity.id": 100, "experience.id": 0},
        "condition": {"and": [{"<=": [0, {"var": "allocation"}, 100]}]},
        "consequence": {
            "name": "hero",
            "options": [
                {"type": "json", "eventToken": "e", "content": {"a": 1, "nested": {"x": [1]}}}
            ],
            "metrics": [{"type": "click", "eventToken": "c", "analytics": {"payload": [1]}}],
        },
    }
    return load_artifact(
        {
            "version": "1.0.0",
            "meta": {"clientCode": "acme"},
            "responseTokens": ["activity.id"],
            "localMboxes": ["hero"],
            "rules": {"mboxes": {"hero": [rule]}},
        }
    )


def _containers(value: Any) -> Iterator[int]:
    if isinstance(value, dict | list):
        yield id(value)
        for item in value.values() if isinstance(value, dict) else value:
            yield from _containers(item)


@pytest.mark.parametrize("mode", ["execute", "prefetch"])
def test_one_visitors_response_cannot_change_another(mode: str) -> None:
    artifact = _hero_artifact()

    def request(visitor: str) -> dict[str, Any]:
        return {
            "context": {"channel": "web"},
            "id": {"tntId": visitor},
            mode: {"mboxes": [{"name": "hero", "index": 0}]},
        }

    first = decide(artifact, request("v1"), now=NOW)
    second = decide(artifact, request("v2"), now=NOW)
    assert first[mode]["mboxes"][0]["options"]
    assert set(_containers(first)).isdisjoint(_containers(second))
    expected = decide(artifact, request("v3"), now=NOW)
    # Delivery rewrites tokens in place and callers edit content: nothing leaks.
    entry = first[mode]["mboxes"][0]
    entry["options"][0]["responseTokens"]["activity.decisioningMethod"] = "server-side"
    entry["options"][0]["content"]["nested"]["x"].append(2)
    entry["options"][0]["eventToken"] = "rewritten"
    for metric in entry.get("metrics", []):
        metric["analytics"]["payload"].append(2)
    assert decide(artifact, request("v3"), now=NOW) == expected
    third = decide(artifact, request("v3"), now=NOW)[mode]["mboxes"][0]
    assert third["options"][0]["content"] == {"a": 1, "nested": {"x": [1]}}
    assert third["options"][0]["responseTokens"]["activity.decisioningMethod"] == "on-device"
    assert second[mode]["mboxes"][0]["options"][0]["content"]["nested"] == {"x": [1]}
