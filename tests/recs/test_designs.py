"""Designs, collections and exclusions through the Recommendations API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Credential, World

pytestmark = pytest.mark.anyio
V1 = "application/vnd.adobe.target.v1+json"
BASE = "/acme/target/recs"
JSON_DESIGN = '{"key": "$key.id", "slot-01": "$entity1.id", "slot-02": "$entity2.id"}'


def _h(cred: Credential) -> dict[str, str]:
    return {**cred.headers, "Content-Type": V1, "Accept": V1}


async def create(
    http: httpx.AsyncClient, cred: Credential, resource: str, body: dict[str, Any]
) -> dict[str, Any]:
    response = await http.post(f"{BASE}/{resource}", json=body, headers=_h(cred))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_a_design_is_created_read_listed_updated_and_deleted(
    http: httpx.AsyncClient, acme: Credential
) -> None:
    design = await create(http, acme, "designs", {"name": "Slots", "script": JSON_DESIGN})
    assert design["type"] == "OTHER" and design["script"] == JSON_DESIGN
    assert design["lastModified"].endswith("Z")
    url = f"{BASE}/designs/{design['id']}"
    got = await http.get(url, headers=_h(acme))
    assert got.status_code == 200 and got.headers["content-type"].startswith(V1)
    assert got.json()["script"] == JSON_DESIGN
    without = await http.get(url, params={"includeScript": "false"}, headers=_h(acme))
    assert "script" not in without.json()

    listed = (await http.get(f"{BASE}/designs", headers=_h(acme))).json()
    assert listed["total"] == 1 and listed["offset"] == 0
    assert [d["name"] for d in listed["list"]] == ["Slots"] and "script" not in listed["list"][0]
    with_script = await http.get(
        f"{BASE}/designs", params={"includeScript": "true"}, headers=_h(acme)
    )
    assert with_script.json()["list"][0]["script"] == JSON_DESIGN

    changed = {**got.json(), "type": "JSON", "name": "Slots v2"}
    put = await http.put(url, json=changed, headers=_h(acme))
    assert put.status_code == 200, put.text
    assert put.json()["type"] == "JSON" and put.json()["name"] == "Slots v2"

    deleted = await http.delete(url, headers=_h(acme))
    assert deleted.status_code == 200 and deleted.json()["name"] == "Slots v2"
    assert (await http.get(url, headers=_h(acme))).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "script": "$entity1.getClass()"}, "script"),
        ({"name": "x", "script": "#include('/etc/passwd') $entity1.id"}, "script"),
        ({"name": "x", "script": "no entity here"}, "script"),
        ({"name": "x", "script": "$entity100.id"}, "script"),
        ({"name": "x", "script": "$entity1.id", "type": "XML"}, "type"),
        ({"name": "", "script": "$entity1.id"}, "name"),
        ({"name": "x", "script": "$entity1.id", "color": "red"}, "color"),
    ],
)
async def test_bad_designs_are_refused_and_change_nothing(
    http: httpx.AsyncClient, acme: Credential, body: dict[str, Any], field: str
) -> None:
    response = await http.post(f"{BASE}/designs", json=body, headers=_h(acme))
    assert response.status_code == 400, response.text
    envelope = response.json()
    assert envelope["httpStatus"] == 400 and field in envelope["errors"][0]["message"]
    assert (await http.get(f"{BASE}/designs", headers=_h(acme))).json()["total"] == 0


async def test_names_are_unique(http: httpx.AsyncClient, acme: Credential) -> None:
    await create(http, acme, "designs", {"name": "Same", "script": "$entity1.id"})
    again = await http.post(
        f"{BASE}/designs", json={"name": "Same", "script": "$entity2.id"}, headers=_h(acme)
    )
    assert again.status_code == 409


async def test_validate_reports_the_entity_count_and_errors(
    http: httpx.AsyncClient, acme: Credential
) -> None:
    async def validate(script: str) -> Any:
        response = await http.post(
            f"{BASE}/designs/validate", json={"script": script}, headers=_h(acme)
        )
        assert response.status_code == 200, response.text
        return response.json()

    assert await validate(JSON_DESIGN) == {"valid": True, "entityCount": 2, "errors": []}
    loop = await validate("#foreach($e in $entities)$e.name#end")
    assert loop["valid"] and loop["entityCount"] == 10
    none = await validate("hello")
    assert none["valid"] is False
    assert none["errors"][0]["key"] == "error.template.validate.entitiesRequired"
    broken = await validate("$entity1.id\n#if($x)")
    assert broken["valid"] is False and broken["errors"][0]["keyArguments"][0] == "2"


async def test_lists_filter_by_name_and_order(http: httpx.AsyncClient, acme: Credential) -> None:
    for name in ("Beta shoes", "alpha shoes", "Gamma tents"):
        await create(http, acme, "exclusions", {"name": name, "rule": {"id": {"equals": [name]}}})
    listed = await http.get(
        f"{BASE}/exclusions", params={"name": "SHOES", "orderby": "-name"}, headers=_h(acme)
    )
    assert listed.status_code == 200, listed.text
    assert [e["name"] for e in listed.json()["list"]] == ["Beta shoes", "alpha shoes"]
    assert listed.json()["list"][0]["rule"] == {"id": {"equals": ["Beta shoes"]}}
    paged = await http.get(f"{BASE}/exclusions", params={"limit": 1, "offset": 1}, headers=_h(acme))
    assert paged.json()["total"] == 3 and len(paged.json()["list"]) == 1
    bad = await http.get(f"{BASE}/exclusions", params={"orderby": "colour"}, headers=_h(acme))
    assert bad.status_code == 400


async def test_collections_keep_their_rules(http: httpx.AsyncClient, acme: Credential) -> None:
    rules = [{"id": {"contains": ["backpacking", "camping"]}}, {"value": {"lesserOrEquals": [50]}}]
    made = await create(http, acme, "collections", {"name": "Outdoor", "rules": rules})
    assert made["rules"] == rules
    listed = (await http.get(f"{BASE}/collections", headers=_h(acme))).json()
    assert "rules" not in listed["list"][0]  # CollectionMin
    for bad_rules in (
        [],
        [{"id": {"near": ["x"]}}],
        [{"value": {"greaterOrEquals": ["cheap"]}}],
        [{"entity.id": {"equals": ["x"]}}],
    ):
        response = await http.post(
            f"{BASE}/collections", json={"name": "Bad", "rules": bad_rules}, headers=_h(acme)
        )
        assert response.status_code == 400, (bad_rules, response.text)


async def test_the_exclusion_example_of_adobe_is_accepted(
    http: httpx.AsyncClient, acme: Credential
) -> None:
    made = await create(
        http,
        acme,
        "exclusions",
        {"name": "No packs", "rule": {"name": {"contains": "backpacking"}}},
    )
    assert made["rule"] == {"name": {"contains": ["backpacking"]}}


async def test_a_client_limited_to_a_workspace_reads_but_does_not_write(
    http: httpx.AsyncClient, acme: Credential, world: World
) -> None:
    await create(http, acme, "designs", {"name": "Shared", "script": "$entity1.id"})
    workspace = await http.post("/acme/target/workspaces", json={"name": "Open"}, headers=_h(acme))
    assert workspace.status_code == 201, workspace.text
    limited = await world.credential("acme", "approver", workspace="Open")
    assert (await http.get(f"{BASE}/designs", headers=_h(limited))).json()["total"] == 1
    refused = await http.post(
        f"{BASE}/designs", json={"name": "Mine", "script": "$entity1.id"}, headers=_h(limited)
    )
    assert refused.status_code == 403
