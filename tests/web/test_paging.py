"""Paging on lists: offset, limit (clamped and echoed), sortBy; bad values are 400s."""

from __future__ import annotations

import pytest

from tests.conftest import Credential, World

pytestmark = pytest.mark.anyio


async def _offers(world: World, acme: Credential, n: int) -> None:
    for i in range(n):
        body = {"name": f"offer {i:02d}", "content": str(i)}
        await world.http.post("/acme/target/offers/content", json=body, headers=acme.headers)


async def test_adobe_default_limit_is_clamped_and_echoed(world: World, acme: Credential) -> None:
    await _offers(world, acme, 3)
    response = await world.http.get("/acme/target/offers?limit=2147483647", headers=acme.headers)
    body = response.json()
    assert body["limit"] == 1000
    assert body["total"] == 3 and len(body["offers"]) == 3


async def test_pages_cover_everything_once(world: World, acme: Credential) -> None:
    await _offers(world, acme, 7)
    seen: list[str] = []
    for offset in range(0, 7, 3):
        page = await world.http.get(
            f"/acme/target/offers?limit=3&offset={offset}", headers=acme.headers
        )
        seen += [o["name"] for o in page.json()["offers"]]
    assert seen == [f"offer {i:02d}" for i in range(7)]
    beyond = await world.http.get("/acme/target/offers?offset=50", headers=acme.headers)
    assert beyond.json()["offers"] == [] and beyond.json()["total"] == 7


async def test_multi_key_sort(world: World, acme: Credential) -> None:
    await _offers(world, acme, 2)
    await world.http.post(
        "/acme/target/offers/json", json={"name": "a json", "content": {}}, headers=acme.headers
    )
    for query in ["sortBy=-type&sortBy=name", "sortBy=-type,name"]:
        page = await world.http.get(f"/acme/target/offers?{query}", headers=acme.headers)
        assert [o["name"] for o in page.json()["offers"]] == ["a json", "offer 00", "offer 01"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=abc", "limit"),
        ("limit=0", "limit"),
        ("limit=-1", "limit"),
        ("offset=-5", "offset"),
        ("limit=2147483648", "limit"),
        ("sortBy=password", "sortBy"),
        ("type=banner", "type"),
    ],
)
async def test_bad_paging_is_400_naming_the_parameter(
    world: World, acme: Credential, query: str, field: str
) -> None:
    response = await world.http.get(f"/acme/target/offers?{query}", headers=acme.headers)
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"].startswith(field)
