"""Audiences through the Admin API (v3): contract, validation, PATCH and soft delete."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import BACKENDS, Credential, World, count_rows

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]

V3 = "application/vnd.adobe.target.v3+json"
GOLD = {
    "and": [
        {"profile": "memberLevel", "equals": ["gold"]},
        {"geo": "region", "matches": ["bavaria"]},
    ]
}


async def _create(world: World, cred: Credential, **fields: Any) -> dict[str, Any]:
    body = {"name": "Gold members", "targetRule": GOLD, **fields}
    response = await world.http.post(
        "/acme/target/audiences", json=body, headers={**cred.headers, "Content-Type": V3}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_audience_lifecycle(world: World, acme: Credential) -> None:
    http = world.http
    created = await http.post(
        "/acme/target/audiences",
        json={"name": "Gold in Bavaria", "description": "loyalty test", "targetRule": GOLD},
        headers={**acme.headers, "Content-Type": V3},
    )
    assert created.status_code == 201, created.text
    assert created.headers["content-type"] == V3
    audience = created.json()
    assert audience["name"] == "Gold in Bavaria"
    assert audience["description"] == "loyalty test"
    assert audience["targetRule"] == GOLD
    assert (audience["origin"], audience["type"], audience["status"]) == (
        "target",
        "reusable",
        "saved",
    )
    assert audience["createdAt"] == audience["modifiedAt"] == "2026-01-15T12:00:00.000Z"
    assert isinstance(audience["id"], int) and audience["workspace"].isdigit()

    read = await http.get(
        f"/acme/target/audiences/{audience['id']}", headers={**acme.headers, "Accept": V3}
    )
    assert read.status_code == 200
    assert read.headers["content-type"] == V3
    assert read.json() == audience

    # GET-modify-PUT, read-only fields echoed.
    rule = {
        "or": [
            {"page": "url", "startsWith": ["https://shop.example/"]},
            {"not": {"mbox": "tier", "equals": ["silver"]}},
        ]
    }
    edited = {**audience, "name": "Shoppers", "targetRule": rule}
    updated = await http.put(
        f"/acme/target/audiences/{audience['id']}",
        json=edited,
        headers={**acme.headers, "Content-Type": V3},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["name"] == "Shoppers"
    assert updated.json()["targetRule"] == rule
    assert updated.json()["description"] == "loyalty test"

    deleted = await http.delete(f"/acme/target/audiences/{audience['id']}", headers=acme.headers)
    assert deleted.status_code == 200
    assert deleted.json()["id"] == audience["id"]
    assert deleted.json()["status"] == "deleted"
    assert deleted.json()["name"] == "Shoppers"
    gone = await http.get(f"/acme/target/audiences/{audience['id']}", headers=acme.headers)
    assert gone.status_code == 404
    assert gone.json()["errors"][0]["errorCode"] == "Not.Found"
    again = await http.delete(f"/acme/target/audiences/{audience['id']}", headers=acme.headers)
    assert again.status_code == 404
    listed = await http.get("/acme/target/audiences", headers=acme.headers)
    assert listed.json()["total"] == 0
    # Soft delete: the row stays, marked deleted, and its name is free again.
    assert count_rows(world.database, "audiences") == 1
    reuse = await _create(world, acme, name="Shoppers")
    assert reuse["id"] != audience["id"]


async def test_delete_keeps_row_with_deleted_at(world: World, acme: Credential) -> None:
    audience = await _create(world, acme)
    await world.http.delete(f"/acme/target/audiences/{audience['id']}", headers=acme.headers)
    with world.database.session() as s:
        deleted_at = s.execute(text("SELECT deleted_at FROM audiences")).scalar_one()
    assert deleted_at is not None


async def test_patch_changes_only_given_fields(world: World, acme: Credential) -> None:
    audience = await _create(world, acme, description="first")
    url = f"/acme/target/audiences/{audience['id']}"
    renamed = await world.http.patch(
        url, json={"name": "Platinum"}, headers={**acme.headers, "Content-Type": V3}
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Platinum"
    assert renamed.json()["description"] == "first"
    assert renamed.json()["targetRule"] == GOLD
    rule = {"profile": "memberLevel", "equals": ["platinum"]}
    ruled = await world.http.patch(url, json={"targetRule": rule}, headers=acme.headers)
    assert ruled.json()["targetRule"] == rule
    assert ruled.json()["name"] == "Platinum"
    described = await world.http.patch(url, json={"description": ""}, headers=acme.headers)
    assert described.json()["description"] == ""
    empty = await world.http.patch(url, json={}, headers=acme.headers)
    assert empty.status_code == 400
    assert empty.json()["errors"][0]["message"].startswith("body")
    null = await world.http.patch(url, json={"name": None}, headers=acme.headers)
    assert null.status_code == 400
    assert null.json()["errors"][0]["message"].startswith("name")
    bad_rule = await world.http.patch(url, json={"targetRule": {"and": []}}, headers=acme.headers)
    assert bad_rule.status_code == 400
    assert bad_rule.json()["errors"][0]["message"].startswith("targetRule.and")
    final = await world.http.get(url, headers=acme.headers)
    assert final.json()["targetRule"] == rule
    assert final.json()["name"] == "Platinum"


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        (
            {"and": [{"profile": "a", "equals": ["x"]}, {"profile": "b", "bogus": ["y"]}]},
            "targetRule.and[1].bogus",
        ),
        ({"or": []}, "targetRule.or"),
        ({"profile": "memberLevel", "equals": "gold"}, "targetRule.equals"),
        ({"profile": "memberLevel"}, "targetRule"),
        (
            {"not": [{"page": "url", "contains": ["a"]}, {"page": "url", "contains": ["b"]}]},
            "targetRule.not",
        ),
    ],
)
async def test_invalid_target_rule_names_its_path(
    world: World, acme: Credential, rule: Any, path: str
) -> None:
    response = await world.http.post(
        "/acme/target/audiences", json={"name": "Bad", "targetRule": rule}, headers=acme.headers
    )
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["errorCode"] == "Invalid.Field"
    assert error["message"].startswith(f"{path}: ")
    assert count_rows(world.database, "audiences") == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"targetRule": GOLD}, "name"),
        ({"name": "", "targetRule": GOLD}, "name"),
        ({"name": "x" * 251, "targetRule": GOLD}, "name"),
        ({"name": "No rule"}, "targetRule"),
        ({"name": "List rule", "targetRule": [GOLD]}, "targetRule"),
        ({"name": "Extra", "targetRule": GOLD, "colour": "red"}, "colour"),
        (
            {
                "name": "Combined",
                "targetRule": GOLD,
                "audienceRule": {"restRuleOperator": "AND", "rules": [1]},
            },
            "audienceRule",
        ),
        ({"name": "Elsewhere", "targetRule": GOLD, "workspace": "999999"}, "workspace"),
    ],
)
async def test_invalid_bodies_name_the_field(
    world: World, acme: Credential, body: Any, field: str
) -> None:
    response = await world.http.post("/acme/target/audiences", json=body, headers=acme.headers)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["message"].startswith(field)
    assert count_rows(world.database, "audiences") == 0


async def test_names_unique_per_workspace(world: World, acme: Credential) -> None:
    first = await _create(world, acme, name="Same")
    again = await world.http.post(
        "/acme/target/audiences", json={"name": "Same", "targetRule": GOLD}, headers=acme.headers
    )
    assert again.status_code == 409
    assert again.json()["errors"][0]["errorCode"] == "Conflict"
    assert "Same" in again.json()["errors"][0]["message"]
    assert count_rows(world.database, "audiences") == 1
    other = await _create(world, acme, name="Other")
    rename = await world.http.patch(
        f"/acme/target/audiences/{other['id']}", json={"name": "Same"}, headers=acme.headers
    )
    assert rename.status_code == 409
    put = await world.http.put(
        f"/acme/target/audiences/{other['id']}",
        json={"name": "Same", "targetRule": GOLD},
        headers=acme.headers,
    )
    assert put.status_code == 409
    # The same name in another workspace is fine.
    created = await world.http.post(
        "/acme/target/workspaces", json={"name": "Second"}, headers=acme.headers
    )
    ws = created.json()["id"]
    elsewhere = await _create(world, acme, name="Same", workspace=ws)
    assert elsewhere["workspace"] == ws
    assert first["workspace"] != ws


async def test_put_id_must_match_path(world: World, acme: Credential) -> None:
    audience = await _create(world, acme)
    response = await world.http.put(
        f"/acme/target/audiences/{audience['id']}",
        json={"id": audience["id"] + 1, "name": "x", "targetRule": GOLD},
        headers=acme.headers,
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"].startswith("id")


async def test_v2_is_not_served(world: World, acme: Credential) -> None:
    response = await world.http.get(
        "/acme/target/audiences",
        headers={**acme.headers, "Accept": "application/vnd.adobe.target.v2+json"},
    )
    assert response.status_code == 406
    assert response.json()["errors"][0]["errorCode"] == "Unsupported.Feature"


async def test_list_pages_sorts_and_filters(world: World, acme: Credential) -> None:
    ids = [
        (await _create(world, acme, name=name))["id"]
        for name in ("Beta", "alpha", "Gamma", "delta", "Alpha2")
    ]
    created = await world.http.post(
        "/acme/target/workspaces", json={"name": "Second"}, headers=acme.headers
    )
    ws = created.json()["id"]
    in_ws = await _create(world, acme, name="Epsilon", workspace=ws)
    gone = await _create(world, acme, name="Zeta")
    await world.http.delete(f"/acme/target/audiences/{gone['id']}", headers=acme.headers)

    everything = await world.http.get(
        "/acme/target/audiences?limit=2147483647", headers=acme.headers
    )
    body = everything.json()
    assert (body["total"], body["offset"], body["limit"]) == (6, 0, 1000)
    assert [a["id"] for a in body["audiences"]] == [*ids, in_ws["id"]]
    item = body["audiences"][0]
    assert set(item) == {"id", "name", "description", "origin", "type", "modifiedAt", "workspace"}

    page = await world.http.get(
        "/acme/target/audiences?limit=2&offset=1&sortBy=-id", headers=acme.headers
    )
    assert [a["name"] for a in page.json()["audiences"]] == ["Alpha2", "delta"]
    assert page.json()["total"] == 6
    by_name = await world.http.get(
        "/acme/target/audiences?sortBy=name&limit=3", headers=acme.headers
    )
    assert [a["name"] for a in by_name.json()["audiences"]] == ["Alpha2", "Beta", "Epsilon"]
    two_keys = await world.http.get(
        "/acme/target/audiences?sortBy=workspace,-name", headers=acme.headers
    )
    assert [a["name"] for a in two_keys.json()["audiences"]][-1] == "Epsilon"
    by_origin = await world.http.get("/acme/target/audiences?sortBy=origin", headers=acme.headers)
    assert by_origin.status_code == 200

    named = await world.http.get("/acme/target/audiences?name=ALPHA", headers=acme.headers)
    assert sorted(a["name"] for a in named.json()["audiences"]) == ["Alpha2", "alpha"]
    assert named.json()["total"] == 2
    by_id = await world.http.get(
        f"/acme/target/audiences?id={ids[0]}&id={ids[2]}", headers=acme.headers
    )
    assert [a["name"] for a in by_id.json()["audiences"]] == ["Beta", "Gamma"]
    by_ws = await world.http.get(f"/acme/target/audiences?workspace={ws}", headers=acme.headers)
    assert [a["name"] for a in by_ws.json()["audiences"]] == ["Epsilon"]
    cloud = await world.http.get("/acme/target/audiences?origin=cloud", headers=acme.headers)
    assert cloud.json()["total"] == 0
    target = await world.http.get("/acme/target/audiences?origin=target", headers=acme.headers)
    assert target.json()["total"] == 6

    bad_sort = await world.http.get("/acme/target/audiences?sortBy=colour", headers=acme.headers)
    assert bad_sort.status_code == 400
    assert bad_sort.json()["errors"][0]["message"].startswith("sortBy")
    bad_id = await world.http.get("/acme/target/audiences?id=abc", headers=acme.headers)
    assert bad_id.status_code == 400
    assert bad_id.json()["errors"][0]["message"].startswith("id")


async def test_observer_reads_but_cannot_write(world: World, acme: Credential) -> None:
    audience = await _create(world, acme)
    observer = await world.credential("acme", "observer")
    read = await world.http.get(
        f"/acme/target/audiences/{audience['id']}", headers=observer.headers
    )
    assert read.status_code == 200
    for response in (
        await world.http.post(
            "/acme/target/audiences",
            json={"name": "New", "targetRule": GOLD},
            headers=observer.headers,
        ),
        await world.http.patch(
            f"/acme/target/audiences/{audience['id']}", json={"name": "X"}, headers=observer.headers
        ),
        await world.http.delete(
            f"/acme/target/audiences/{audience['id']}", headers=observer.headers
        ),
    ):
        assert response.status_code == 403, response.text
    assert (
        await world.http.get(f"/acme/target/audiences/{audience['id']}", headers=acme.headers)
    ).json() == audience


async def _approved_xt(world: World, cred: Credential, audience_id: int) -> int:
    offer = await world.http.post(
        "/acme/target/offers/content",
        json={"name": "o", "content": "<p>o</p>"},
        headers=cred.headers,
    )
    offer_id = offer.json()["id"]
    body = {
        "name": "Gold hero",
        "options": [
            {"optionLocalId": 0, "offerId": offer_id},
            {"optionLocalId": 1, "offerId": offer_id},
        ],
        "locations": {"mboxes": [{"locationLocalId": 0, "name": "hero"}]},
        "experiences": [
            {
                "experienceLocalId": 0,
                "name": "Gold",
                "audienceIds": [audience_id],
                "optionLocations": [{"locationLocalId": 0, "optionLocalId": 0}],
            },
            {
                "experienceLocalId": 1,
                "name": "Others",
                "optionLocations": [{"locationLocalId": 0, "optionLocalId": 1}],
            },
        ],
    }
    created = await world.http.post(
        "/acme/target/activities/xt", json=body, headers={**cred.headers, "Content-Type": V3}
    )
    assert created.status_code == 201, created.text
    activity_id = int(created.json()["id"])
    approved = await world.http.put(
        f"/acme/target/activities/{activity_id}/state",
        json={"state": "approved"},
        headers=cred.headers,
    )
    assert approved.status_code == 200, approved.text
    return activity_id


async def test_audience_of_an_approved_activity_cannot_be_deleted(
    world: World, acme: Credential
) -> None:
    audience = await _create(world, acme)
    activity_id = await _approved_xt(world, acme, audience["id"])
    refused = await world.http.delete(
        f"/acme/target/audiences/{audience['id']}", headers=acme.headers
    )
    assert refused.status_code == 409, refused.text
    assert str(activity_id) in refused.json()["errors"][0]["message"]
    read = await world.http.get(f"/acme/target/audiences/{audience['id']}", headers=acme.headers)
    assert read.json()["status"] == "saved"
    deactivated = await world.http.put(
        f"/acme/target/activities/{activity_id}/state",
        json={"state": "deactivated"},
        headers=acme.headers,
    )
    assert deactivated.status_code == 200, deactivated.text
    allowed = await world.http.delete(
        f"/acme/target/audiences/{audience['id']}", headers=acme.headers
    )
    assert allowed.status_code == 200


async def test_editing_a_live_audience_requests_an_artifact_rebuild(
    world: World, acme: Credential
) -> None:
    audience = await _create(world, acme)
    unused = await _create(world, acme, name="Unused")
    await _approved_xt(world, acme, audience["id"])
    with world.database.session() as s:
        s.execute(text("DELETE FROM jobs"))
    await world.http.patch(
        f"/acme/target/audiences/{unused['id']}",
        json={"name": "Still unused"},
        headers=acme.headers,
    )
    assert count_rows(world.database, "jobs") == 0
    patched = await world.http.patch(
        f"/acme/target/audiences/{audience['id']}",
        json={"description": "now"},
        headers=acme.headers,
    )
    assert patched.status_code == 200
    with world.database.session() as s:
        kinds = [row[0] for row in s.execute(text("SELECT kind FROM jobs WHERE state = 'pending'"))]
    assert kinds == ["artifacts.rebuild"]
