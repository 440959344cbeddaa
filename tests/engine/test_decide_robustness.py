"""`decide` never raises on request data: garbage in gives an empty decision with reasons."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cible.engine import EXTRA_KEY, decide, load_artifact

ARTIFACT = load_artifact(
    (Path(__file__).parents[1] / "spec" / "decisioning" / "artifacts" / "retail.json").read_bytes()
)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
GOOD = {
    "requestId": "r-1",
    "context": {
        "channel": "web",
        "address": {"url": "https://www.acme-shop.com/sale", "referringUrl": "https://x.io/"},
        "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Chrome/119.0 Safari/537.36",
        "geo": {"countryCode": "US", "city": "Austin", "latitude": 30.2},
        "screen": {"width": 1280},
    },
    "id": {"tntId": "abc.28_0", "marketingCloudVisitorId": "mc", "thirdPartyId": "tp"},
    "property": {"token": "p"},
    "execute": {
        "pageLoad": {"parameters": {"a": "b"}},
        "mboxes": [
            {"name": "hero-banner", "index": 1, "parameters": {"pageType": "home"}},
            {"name": "product-recs", "index": 2, "address": {"url": "https://y.io/"}},
        ],
    },
    "prefetch": {"views": [{}, {"name": "cart", "parameters": {"cartTotal": "70"}}]},
}


def _garbage(rng: random.Random, depth: int = 0) -> Any:
    choices: list[Any] = [
        None,
        True,
        False,
        0,
        -1,
        2**70,
        1e308,
        float("inf"),
        float("nan"),
        "",
        "text",
        "ÿ😀\x00",
        "a.b..c",
        "https://[::1",
        "http://%zz/",
        [],
        {},
    ]
    if depth < 3:
        choices.append([_garbage(rng, depth + 1) for _ in range(rng.randint(1, 3))])
        key = rng.choice(["name", "index", "url", "x", "a.b", ""])
        choices.append({key: _garbage(rng, depth + 1)})
    return rng.choice(choices)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_paths(item, (*prefix, index)))
    return found


def _corrupt(rng: random.Random) -> Any:
    request = json.loads(json.dumps(GOOD))
    for _ in range(rng.randint(1, 4)):
        path = rng.choice(_paths(request))
        if not path:
            return _garbage(rng)
        target = request
        try:
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = _garbage(rng)
        except (KeyError, IndexError, TypeError):
            continue
    return request


def _check(result: Any) -> None:
    assert isinstance(result, dict)
    extras = result[EXTRA_KEY]
    assert set(extras) == {"reasons", "decided", "notifications", "remoteMboxes", "remoteViews"}
    messages = [r.get("message", "") for r in extras["reasons"]]
    assert not any("engine error" in message for message in messages), messages
    json.dumps(result, allow_nan=True)  # serialisable


def test_good_request_decides() -> None:
    result = decide(ARTIFACT, GOOD, now=NOW)
    _check(result)
    assert result["execute"]["mboxes"][0]["name"] == "hero-banner"


@pytest.mark.parametrize("seed", range(300))
def test_corrupted_requests_never_raise(seed: int) -> None:
    rng = random.Random(seed)
    _check(decide(ARTIFACT, _corrupt(rng), now=NOW))


@pytest.mark.parametrize(
    "request_value",
    [None, 0, "text", [], [GOOD], {"execute": "x"}, {"prefetch": {"views": "all"}}, {"id": []}],
)
def test_non_object_requests_give_empty_decisions(request_value: Any) -> None:
    result = decide(ARTIFACT, request_value, now=NOW)
    _check(result)
    assert result[EXTRA_KEY]["notifications"] == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"profile": "gold"},
        {"profile": {"tier": object()}},
        {"now": "2026-11-25"},
        {"now": 1764072000},
        {"client": 42},
        {"now": datetime(2026, 11, 25)},  # naive means UTC
    ],
)
def test_bad_arguments_do_not_raise(kwargs: dict[str, Any]) -> None:
    _check(decide(ARTIFACT, GOOD, **kwargs))


def test_non_artifact_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        decide({"version": "1.0.0"}, GOOD)  # type: ignore[arg-type]


class _FailingContext(Mapping[str, Any]):
    """A request mapping whose `context` read raises: an error inside the engine itself."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __getitem__(self, key: str) -> Any:
        if key == "context":
            raise RuntimeError("unreadable context")
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def test_an_engine_error_gives_an_empty_decision_with_the_request_id() -> None:
    result = decide(ARTIFACT, _FailingContext(GOOD), now=NOW)
    assert (result["status"], result["requestId"]) == (200, "r-1")
    assert "execute" not in result and "prefetch" not in result
    extras = result[EXTRA_KEY]
    assert [r["message"] for r in extras["reasons"]] == [
        "engine error, nothing decided: RuntimeError('unreadable context')"
    ]
    assert (extras["decided"], extras["notifications"]) == ([], [])


def test_an_engine_error_keeps_only_a_string_request_id() -> None:
    result = decide(ARTIFACT, _FailingContext({**GOOD, "requestId": 5}), now=NOW)
    assert "requestId" not in result
    assert "engine error" in result[EXTRA_KEY]["reasons"][0]["message"]
