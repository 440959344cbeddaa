"""Offers CRUD through the Admin API, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from tests.conftest import BACKENDS, Credential, World, count_rows

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]

V2 = "application/vnd.adobe.target.v2+json"


async def test_content_offer_lifecycle(world: World, acme: Credential) -> None:
    http = world.http
    created = await http.post(
        "/acme/target/offers/content",
        json={"name": "Spring banner", "content": "<div>Sale</div>"},
        headers={**acme.headers, "Content-Type": V2},
    )
    assert created.status_code == 201, created.text
    assert created.headers["content-type"] == V2
    offer = created.json()
    assert offer["name"] == "Spring banner"
    assert offer["content"] == "<div>Sale</div>"
    assert offer["type"] == "content"
    assert offer["modifiedAt"].endswith("Z")
    assert isinstance(offer["id"], int)
    workspace = offer["workspace"]

    read = await http.get(f"/acme/target/offers/content/{offer['id']}", headers=acme.headers)
    assert read.status_code == 200
    assert read.json() == offer

    # A client that GETs, edits and PUTs back the whole object (read-only fields included).
    changed = {**offer, "content": "<div>Sale ends soon</div>"}
    updated = await http.put(
        f"/acme/target/offers/content/{offer['id']}", json=changed, headers=acme.headers
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["content"] == "<div>Sale ends soon</div>"
    assert updated.json()["workspace"] == workspace

    deleted = await http.delete(f"/acme/target/offers/content/{offer['id']}", headers=acme.headers)
    assert deleted.status_code == 200
    assert deleted.json()["id"] == offer["id"]
    gone = await http.get(f"/acme/target/offers/content/{offer['id']}", headers=acme.headers)
    assert gone.status_code == 404
    assert gone.json()["errors"][0]["errorCode"] == "Not.Found"
    assert count_rows(world.database, "offers") == 0


async def test_json_offer_keeps_json_content(world: World, acme: Credential) -> None:
    content = {"hero": {"title": "Été", "items": [1, 2.5, None, True]}}
    created = await world.http.post(
        "/acme/target/offers/json",
        json={"name": "Hero config", "content": content},
        headers=acme.headers,
    )
    assert created.status_code == 201, created.text
    offer_id = created.json()["id"]
    read = await world.http.get(f"/acme/target/offers/json/{offer_id}", headers=acme.headers)
    assert read.json()["content"] == content
    # A JSON offer is not reachable as a content offer.
    other = await world.http.get(f"/acme/target/offers/content/{offer_id}", headers=acme.headers)
    assert other.status_code == 404


async def test_json_offer_rejects_string_content(world: World, acme: Credential) -> None:
    response = await world.http.post(
        "/acme/target/offers/json", json={"name": "x", "content": "not json"}, headers=acme.headers
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"].startswith("content")
    assert count_rows(world.database, "offers") == 0


async def test_names_unique_per_workspace(world: World, acme: Credential) -> None:
    body = {"name": "Same", "content": "<p>a</p>"}
    first = await world.http.post("/acme/target/offers/content", json=body, headers=acme.headers)
    assert first.status_code == 201
    again = await world.http.post(
        "/acme/target/offers/json", json={"name": "Same", "content": {}}, headers=acme.headers
    )
    assert again.status_code == 409
    assert again.json()["errors"][0]["errorCode"] == "Conflict"
    assert "Same" in again.json()["errors"][0]["message"]
    assert count_rows(world.database, "offers") == 1
    # Renaming another offer onto a taken name is a conflict too.
    other = await world.http.post(
        "/acme/target/offers/content", json={"name": "Other", "content": ""}, headers=acme.headers
    )
    rename = await world.http.put(
        f"/acme/target/offers/content/{other.json()['id']}",
        json={"name": "Same", "content": ""},
        headers=acme.headers,
    )
    assert rename.status_code == 409


async def test_list_filters_pages_and_sorts(world: World, acme: Credential) -> None:
    for i in range(5):
        await world.http.post(
            "/acme/target/offers/content",
            json={"name": f"c{i}", "content": "x"},
            headers=acme.headers,
        )
    for i in range(3):
        await world.http.post(
            "/acme/target/offers/json",
            json={"name": f"j{i}", "content": {"i": i}},
            headers=acme.headers,
        )
    everything = await world.http.get("/acme/target/offers?limit=100", headers=acme.headers)
    assert everything.json()["total"] == 8
    assert everything.json()["limit"] == 100
    jsons = await world.http.get("/acme/target/offers?type=json", headers=acme.headers)
    assert [o["name"] for o in jsons.json()["offers"]] == ["j0", "j1", "j2"]
    assert jsons.json()["total"] == 3
    page = await world.http.get(
        "/acme/target/offers?limit=3&offset=3&sortBy=-name", headers=acme.headers
    )
    body = page.json()
    assert (body["offset"], body["limit"], body["total"]) == (3, 3, 8)
    assert [o["name"] for o in body["offers"]] == ["c4", "c3", "c2"]
    default = await world.http.get("/acme/target/offers", headers=acme.headers)
    assert default.json()["limit"] == 10
