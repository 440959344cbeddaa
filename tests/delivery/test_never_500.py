"""Every field of a full delivery request, replaced by every JSON type: never a 500.

A 200 (the value is acceptable) or Adobe's 400 naming a field are the only answers allowed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from . import _scenario as sc

pytestmark = [pytest.mark.anyio]

URL = "/rest/v1/delivery?client=acme&sessionId=s1"
DETAIL = {
    "address": {"url": "https://example.com/a?b=1", "referringUrl": "https://r.example/"},
    "parameters": {"color": "red", "profile.legacy": "1"},
    "profileParameters": {"tier": "gold"},
    "order": {"id": "o-1", "total": 10.5, "purchasedProductIds": ["p1", "p2"]},
    "product": {"id": "sku", "categoryId": "shoes"},
}
FULL: dict[str, Any] = {
    "requestId": "r-1",
    "impressionId": "i-1",
    "id": {
        "tntId": "abc.0",
        "thirdPartyId": "crm-1",
        "marketingCloudVisitorId": "mc-1",
        "customerIds": [
            {"id": "c1", "integrationCode": "crm", "authenticatedState": "authenticated"}
        ],
    },
    "environmentId": 1,
    "property": {"token": "prop"},
    "context": {
        "channel": "web",
        "userAgent": "Mozilla/5.0 Chrome/120",
        "timeOffsetInMinutes": 60,
        "address": {"url": "https://example.com/"},
        "screen": {"width": 1200, "height": 800},
        "browser": {"host": "example.com"},
        "geo": {"latitude": 1.5, "longitude": 2.5, "countryCode": "FR", "city": "Paris"},
    },
    "experienceCloud": {"analytics": {"logging": "server_side", "supplementalDataId": "x"}},
    "execute": {"pageLoad": DETAIL, "mboxes": [{"index": 1, "name": "hero", **DETAIL}]},
    "prefetch": {
        "views": [{"name": "home", **DETAIL}],
        "mboxes": [{"index": 2, "name": "checkout", **DETAIL}],
    },
    "notifications": [
        {
            "id": "n-1",
            "type": "display",
            "timestamp": 1_767_225_600_000,
            "mbox": {"name": "checkout", "state": "s"},
            "tokens": ["t"],
            **DETAIL,
        }
    ],
}
REPLACEMENTS: list[Any] = [None, 0, -1, 2**63 - 1, 1.5, True, "", "x" * 300, [], [1], {}, {"a": 1}]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from paths(item, (*prefix, index))


def replaced(path: tuple[Any, ...], new: Any) -> dict[str, Any]:
    body = copy.deepcopy(FULL)
    target: Any = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return body


PATHS = list(paths(FULL))


async def test_the_full_request_is_accepted(world: Any, app: Any, http: Any) -> None:
    world.tenant("acme")
    sc.install(app, sc.artifact())
    response = await http.post(URL, json=FULL)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", PATHS, ids=[".".join(map(str, p)) for p in PATHS])
async def test_any_value_anywhere_gets_200_or_400(
    world: Any, app: Any, http: Any, path: tuple[Any, ...]
) -> None:
    world.tenant("acme")
    sc.install(app, sc.artifact())
    for new in REPLACEMENTS:
        response = await http.post(URL, json=replaced(path, new))
        assert response.status_code in (200, 400), (path, new, response.text)
        if response.status_code == 400:
            assert response.json()["status"] == 400
