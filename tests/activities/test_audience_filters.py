"""``GET /audiences`` field filters: several values, ``!`` negation, date ranges, bad values."""

from __future__ import annotations

import pytest

from tests.conftest import BACKENDS, Credential, FakeClock, World

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]

V3 = "application/vnd.adobe.target.v3+json"
RULE = {"profile": "memberLevel", "equals": ["gold"]}


async def _make(world: World, acme: Credential, clock: FakeClock) -> dict[str, int]:
    ids = {}
    # One audience every 5 hours from 2026-01-15T12:00Z (the test clock's start).
    for name in ("Gold members", "Silver members", "Gold prospects", "Churn risk"):
        made = await world.http.post(
            "/acme/target/audiences",
            json={"name": name, "targetRule": RULE},
            headers={**acme.headers, "Content-Type": V3},
        )
        assert made.status_code == 201, made.text
        ids[name] = made.json()["id"]
        clock.advance(hours=5)
    return ids


async def _names(world: World, acme: Credential, query: str) -> list[str]:
    listed = await world.http.get(
        f"/acme/target/audiences?sortBy=id&{query}", headers={**acme.headers, "Accept": V3}
    )
    assert listed.status_code == 200, listed.text
    return [a["name"] for a in listed.json()["audiences"]]


async def test_negation_and_ranges(world: World, acme: Credential, clock: FakeClock) -> None:
    ids = await _make(world, acme, clock)
    gold, silver = ids["Gold members"], ids["Silver members"]

    assert await _names(world, acme, f"id=!{gold}") == [
        "Silver members",
        "Gold prospects",
        "Churn risk",
    ]
    assert await _names(world, acme, f"id=!{gold},!{silver}") == ["Gold prospects", "Churn risk"]
    assert await _names(world, acme, f"id={gold}&id={silver}") == ["Gold members", "Silver members"]
    assert await _names(world, acme, "name=!gold") == ["Silver members", "Churn risk"]
    assert await _names(world, acme, "name=members&name=!silver") == ["Gold members"]
    assert await _names(world, acme, "workspace=!999999") == list(ids)

    # Both ends are included; either end may be left open.
    assert await _names(world, acme, "modifiedAt=2026-01-15T17:00Z/2026-01-15T22:00:00Z") == [
        "Silver members",
        "Gold prospects",
    ]
    assert await _names(world, acme, "createdAt=2026-01-15T22:00Z/") == [
        "Gold prospects",
        "Churn risk",
    ]
    assert await _names(world, acme, "createdAt=/2026-01-15T12:00Z") == ["Gold members"]
    assert await _names(world, acme, "modifiedAt=2026-01-15T17:00Z/&name=!silver") == [
        "Gold prospects",
        "Churn risk",
    ]


async def test_malformed_filters_are_400(world: World, acme: Credential, clock: FakeClock) -> None:
    await _make(world, acme, clock)
    for query, field in (
        ("id=!x", "id"),
        ("id=!", "id"),
        ("workspace=abc", "workspace"),
        ("modifiedAt=2026-01-16", "modifiedAt"),
        ("createdAt=yesterday/", "createdAt"),
    ):
        response = await world.http.get(f"/acme/target/audiences?{query}", headers=acme.headers)
        assert response.status_code == 400, (query, response.text)
        assert field in response.json()["errors"][0]["message"], response.text
