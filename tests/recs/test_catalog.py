"""The catalog through the Recommendations API: save, get, delete and search entities."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Credential, World

pytestmark = pytest.mark.anyio
V1 = "application/vnd.adobe.target.v1+json"
TOASTER = {
    "id": "kit2001",
    "name": "Toaster Oven",
    "categories": ["housewares:appliances"],
    "attributes": {
        "inventory": 77,
        "margin": 23,
        "message": "hot",
        "pageUrl": "/toaster",
        "thumbnailUrl": "/t.png",
        "value": 19.2,
        "brand": "Acme",
        "genre": ["a", "b"],
    },
}


def _h(cred: Credential) -> dict[str, str]:
    return {**cred.headers, "Content-Type": V1, "Accept": V1}


async def save(http: httpx.AsyncClient, cred: Credential, *entities: Any) -> Any:
    response = await http.post(
        "/acme/target/recs/entities", json={"entities": list(entities)}, headers=_h(cred)
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_save_then_get_returns_every_attribute(
    http: httpx.AsyncClient, acme: Credential
) -> None:
    assert await save(http, acme, TOASTER) == {"inserted/updated": 1, "rejected": 0}
    response = await http.get("/acme/target/recs/entities/kit2001", headers=_h(acme))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(V1)
    body = response.json()
    assert body["id"] == "kit2001" and body["name"] == "Toaster Oven"
    assert body["categories"] == ["housewares:appliances"]
    attributes = body["attributes"]
    assert attributes["inventory"] == 77 and attributes["value"] == 19.2
    assert attributes["margin"] == 23.0 and attributes["brand"] == "Acme"
    assert attributes["genre"] == ["a", "b"] and attributes["pageUrl"] == "/toaster"
    assert attributes["createdAt"].endswith("Z") and "lastUpdatedAt" in attributes


async def test_save_replaces_the_stored_entity(http: httpx.AsyncClient, acme: Credential) -> None:
    await save(http, acme, TOASTER)
    changed = {"id": "kit2001", "name": "Toaster", "categories": ["kitchen"], "attributes": {}}
    await save(http, acme, changed)
    body = (await http.get("/acme/target/recs/entities/kit2001", headers=_h(acme))).json()
    assert body["name"] == "Toaster" and body["categories"] == ["kitchen"]
    assert "brand" not in body["attributes"] and "value" not in body["attributes"]


async def test_bad_entities_are_rejected_one_by_one_and_the_rest_saved(
    http: httpx.AsyncClient, acme: Credential
) -> None:
    bad_id = {**TOASTER, "id": "has space"}
    no_categories = {**TOASTER, "id": "x1", "categories": []}
    bad_value = {**TOASTER, "id": "x2", "attributes": {"value": "cheap"}}
    other_bad_id = {**TOASTER, "id": "a/b"}
    result = await save(http, acme, TOASTER, bad_id, no_categories, bad_value, other_bad_id)
    assert result["inserted/updated"] == 1 and result["rejected"] == 4
    causes = {c["cause"]["key"]: c["occurrences"] for c in result["rejectCauses"]}
    assert causes == {
        "error.entity.id.invalid": 2,
        "error.entity.categories.required": 1,
        "error.entity.attribute.type": 1,
    }
    missing = await http.get("/acme/target/recs/entities/x1", headers=_h(acme))
    assert missing.status_code == 404


async def test_bad_bodies_are_400_and_change_nothing(
    http: httpx.AsyncClient, acme: Credential
) -> None:
    for body in ({}, {"entities": []}, {"entities": [TOASTER], "extra": 1}, [TOASTER]):
        response = await http.post("/acme/target/recs/entities", json=body, headers=_h(acme))
        assert response.status_code == 400, body
        assert response.json()["errors"][0]["errorCode"]
    assert (
        await http.get("/acme/target/recs/entities/kit2001", headers=_h(acme))
    ).status_code == 404


async def test_environments_keep_separate_catalogs(
    http: httpx.AsyncClient, acme: Credential
) -> None:
    envs = (await http.get("/acme/target/environments", headers=acme.headers)).json()
    staging = next(e["id"] for e in envs["environments"] if e["name"] == "Staging")
    await save(http, acme, {**TOASTER, "environment": staging, "name": "Staging toaster"})
    default = await http.get("/acme/target/recs/entities/kit2001", headers=_h(acme))
    assert default.status_code == 404
    found = await http.get(
        "/acme/target/recs/entities/kit2001", params={"environmentId": staging}, headers=_h(acme)
    )
    assert found.json()["name"] == "Staging toaster" and found.json()["environment"] == staging
    unknown = await save(http, acme, {**TOASTER, "environment": 999_999})
    assert unknown["rejected"] == 1


async def test_delete_by_ids_and_all(http: httpx.AsyncClient, acme: Credential) -> None:
    await save(http, acme, TOASTER, {**TOASTER, "id": "b"}, {**TOASTER, "id": "c"})
    response = await http.delete(
        "/acme/target/recs/entities", params={"ids": "kit2001,b"}, headers=_h(acme)
    )
    assert response.json()["operation"] == "deleted by ids"
    assert response.json()["deleted"] == 2
    gone = await http.get("/acme/target/recs/entities/b", headers=_h(acme))
    assert gone.status_code == 404
    one = await http.delete("/acme/target/recs/entities/c", headers=_h(acme))
    assert one.status_code == 200
    again = await http.delete("/acme/target/recs/entities/c", headers=_h(acme))
    assert again.status_code == 404
    await save(http, acme, TOASTER)
    everything = await http.delete("/acme/target/recs/entities", headers=_h(acme))
    assert everything.json()["operation"] == "Delete by client requested."
    assert everything.json()["deleted"] == 1


async def test_catalog_search_simple_compound_and_paging(
    http: httpx.AsyncClient, acme: Credential
) -> None:
    envs = (await http.get("/acme/target/environments", headers=acme.headers)).json()
    production = next(e["id"] for e in envs["environments"] if e["name"] == "Production")
    items = [
        {**TOASTER, "id": f"i{n}", "name": f"Item {n}", "attributes": {"value": n, "brand": b}}
        for n, b in [(1, "Acme"), (5, "acme"), (9, "Zed"), (12, "Acme")]
    ]
    await save(http, acme, *items)

    async def ids(query: Any, **meta: Any) -> list[str]:
        body = {"meta": {"environmentId": production, **meta}, "query": query}
        response = await http.post("/acme/target/recs/catalogsearch", json=body, headers=_h(acme))
        assert response.status_code == 200, response.text
        return [hit["id"] for hit in response.json()["hits"]]

    cheap = {"type": "simple", "queryFields": ["value"], "operator": "lt", "matchValue": 9}
    assert await ids(cheap) == ["i1", "i5"]
    brand = {"queryFields": ["brand"], "operator": "contains", "matchValue": "ACM"}
    assert await ids(brand) == ["i1", "i5", "i12"]
    both = {"type": "compound", "joinOperator": "AND", "filters": [cheap, brand]}
    assert await ids(both) == ["i1", "i5"]
    either = {
        "type": "compound",
        "joinOperator": "OR",
        "filters": [cheap, {"queryFields": ["id"], "matchValue": "i9"}],
    }
    assert await ids(either) == ["i1", "i5", "i9"]
    assert await ids(brand, start=2, limit=1) == ["i5"]
    body = {
        "meta": {"environmentId": production, "displayFields": ["name", "value"]},
        "query": {"queryFields": ["id"], "operator": "eq", "matchValue": "i9"},
    }
    response = await http.post("/acme/target/recs/catalogsearch", json=body, headers=_h(acme))
    hit = response.json()["hits"][0]
    assert hit == {
        "id": "i9",
        "category": ["housewares:appliances"],
        "name": "Item 9",
        "value": 9.0,
    }


async def test_catalog_search_refuses_bad_queries(
    http: httpx.AsyncClient, acme: Credential
) -> None:
    bad = [
        {"meta": {}},
        {"meta": {"environmentId": 1, "limit": 501}},
        {"meta": {"environmentId": 1}, "query": {"operator": "like", "matchValue": "x"}},
        {"meta": {"environmentId": 1}, "query": {"type": "compound", "filters": []}},
    ]
    for body in bad:
        response = await http.post("/acme/target/recs/catalogsearch", json=body, headers=_h(acme))
        assert response.status_code == 400, (body, response.text)


async def test_only_tenant_wide_writers_change_the_catalog(
    http: httpx.AsyncClient, world: World, acme: Credential
) -> None:
    ws = await http.post("/acme/target/workspaces", json={"name": "Open"}, headers=_h(acme))
    assert ws.status_code == 201, ws.text
    limited = await world.credential("acme", "approver", workspace="Open")
    response = await http.post(
        "/acme/target/recs/entities", json={"entities": [TOASTER]}, headers=_h(limited)
    )
    assert response.status_code == 403
    await save(http, acme, TOASTER)
    readable = await http.get("/acme/target/recs/entities/kit2001", headers=_h(limited))
    assert readable.status_code == 200
