"""``context.geo`` resolved from ``geo.ipAddress`` by a pluggable lookup, feeding geo audiences."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from cible.artifacts import compile_artifact
from cible.engine import load_artifact

from . import _scenario as sc

pytestmark = [pytest.mark.anyio]

URL = "/rest/v1/delivery?client=acme&sessionId=s1"


class Table:
    """A lookup over a fixed table (what a MaxMind reader would be in production)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def lookup(self, ip_address: str) -> Mapping[str, Any] | None:
        self.asked.append(ip_address)
        return {"192.0.2.1": {"countryCode": "FR", "city": "PARIS"}}.get(ip_address)


def geo_artifact() -> Any:
    audiences = {7: {"id": 7, "name": "France", "targetRule": {"geo": "country", "equals": ["fr"]}}}
    activity = sc.activity(201, "xt", "geo", [None, None], [[7], []])
    return load_artifact(
        compile_artifact(
            client="acme",
            environment="production",
            activities=[activity],
            offers=sc.OFFERS,
            audiences=audiences,
            generated_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
    )


def body(geo: dict[str, Any]) -> dict[str, Any]:
    return {"context": {"channel": "web", "geo": geo}, "execute": sc.mboxes("geo")}


@pytest.mark.parametrize("with_lookup", [False, True])
async def test_ip_address_resolves_geo_only_with_a_lookup(
    world: Any, app: Any, http: Any, with_lookup: bool
) -> None:
    world.tenant("acme")
    sc.install(app, geo_artifact())
    table = Table()
    if with_lookup:
        app.state.geo_lookup = table
    by_ip = (await http.post(URL, json=body({"ipAddress": "192.0.2.1"}))).json()
    expected = {"offer": 0} if with_lookup else {"offer": 1}
    assert sc.content(by_ip) == {"geo": expected}
    # Fields the request gives win over the lookup's.
    given = await http.post(URL, json=body({"ipAddress": "192.0.2.1", "countryCode": "DE"}))
    assert sc.content(given.json()) == {"geo": {"offer": 1}}
    unknown = (await http.post(URL, json=body({"ipAddress": "198.51.100.9"}))).json()
    assert sc.content(unknown) == {"geo": {"offer": 1}}
    assert table.asked == (["192.0.2.1"] * 2 + ["198.51.100.9"] if with_lookup else [])
