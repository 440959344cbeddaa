"""Workspaces through the Admin API (v1, a Cible addition): list, create, rename, delete."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import BACKENDS, Credential, World, count_rows

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]

URL = "/acme/target/workspaces"
GOLD = {"profile": "memberLevel", "equals": ["gold"]}


async def _create(world: World, cred: Credential, name: str) -> dict[str, Any]:
    response = await world.http.post(URL, json={"name": name}, headers=cred.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_workspace_lifecycle(world: World, acme: Credential) -> None:
    listed = await world.http.get(URL, headers=acme.headers)
    body = listed.json()
    assert (body["total"], body["offset"], body["limit"]) == (1, 0, 10)
    (default,) = body["workspaces"]
    assert default["default"] is True and default["name"] == "Default Workspace"
    assert set(default) == {"id", "name", "default", "createdAt"}

    ws = await _create(world, acme, "Marketing")
    assert ws["default"] is False and ws["id"].isdigit()
    read = await world.http.get(f"{URL}/{ws['id']}", headers=acme.headers)
    assert read.json() == ws
    renamed = await world.http.put(
        f"{URL}/{ws['id']}", json={**ws, "name": "Growth"}, headers=acme.headers
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Growth"
    # Bodies elsewhere may name the workspace by its new name.
    offer = await world.http.post(
        "/acme/target/offers/content",
        json={"name": "o", "content": "x", "workspace": "Growth"},
        headers=acme.headers,
    )
    assert offer.json()["workspace"] == ws["id"]
    await world.http.delete(
        f"/acme/target/offers/content/{offer.json()['id']}", headers=acme.headers
    )

    deleted = await world.http.delete(f"{URL}/{ws['id']}", headers=acme.headers)
    assert deleted.status_code == 200
    assert deleted.json()["name"] == "Growth"
    assert (await world.http.get(f"{URL}/{ws['id']}", headers=acme.headers)).status_code == 404
    assert count_rows(world.database, "workspaces") == 1


async def test_default_workspace_cannot_be_deleted(world: World, acme: Credential) -> None:
    (default,) = (await world.http.get(URL, headers=acme.headers)).json()["workspaces"]
    response = await world.http.delete(f"{URL}/{default['id']}", headers=acme.headers)
    assert response.status_code == 409
    assert "default" in response.json()["errors"][0]["message"]
    assert count_rows(world.database, "workspaces") == 1


@pytest.mark.parametrize(
    ("make", "table"),
    [
        (
            lambda ws: (
                "/acme/target/offers/content",
                {"name": "o", "content": "x", "workspace": ws},
            ),
            "offers",
        ),
        (
            lambda ws: (
                "/acme/target/audiences",
                {"name": "a", "targetRule": GOLD, "workspace": ws},
            ),
            "audiences",
        ),
        (
            lambda ws: (
                "/acme/target/properties",
                {"name": "p", "channel": "web", "workspaces": [ws]},
            ),
            "property_workspaces",
        ),
    ],
)
async def test_workspace_holding_objects_cannot_be_deleted(
    world: World, acme: Credential, make: Any, table: str
) -> None:
    ws = await _create(world, acme, "Busy")
    url, body = make(ws["id"])
    created = await world.http.post(url, json=body, headers=acme.headers)
    assert created.status_code == 201, created.text
    response = await world.http.delete(f"{URL}/{ws['id']}", headers=acme.headers)
    assert response.status_code == 409
    assert table in response.json()["errors"][0]["message"]
    assert count_rows(world.database, "workspaces") == 2


async def test_soft_deleted_audiences_do_not_hold_a_workspace(
    world: World, acme: Credential
) -> None:
    ws = await _create(world, acme, "Old")
    created = await world.http.post(
        "/acme/target/audiences",
        json={"name": "a", "targetRule": GOLD, "workspace": ws["id"]},
        headers=acme.headers,
    )
    await world.http.delete(f"/acme/target/audiences/{created.json()['id']}", headers=acme.headers)
    response = await world.http.delete(f"{URL}/{ws['id']}", headers=acme.headers)
    assert response.status_code == 200, response.text
    assert count_rows(world.database, "audiences") == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "12345"}, "name"),
        ({"name": "x" * 251}, "name"),
        ({"name": "ok", "default": True}, "default"),
        ({"name": "ok", "id": "7"}, "id"),
        ({"name": "ok", "owner": "me"}, "owner"),
    ],
)
async def test_invalid_bodies_name_the_field(
    world: World, acme: Credential, body: Any, field: str
) -> None:
    response = await world.http.post(URL, json=body, headers=acme.headers)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["message"].startswith(field)
    assert count_rows(world.database, "workspaces") == 1


async def test_names_unique_per_tenant(world: World, acme: Credential) -> None:
    await _create(world, acme, "Same")
    again = await world.http.post(URL, json={"name": "Same"}, headers=acme.headers)
    assert again.status_code == 409
    other = await _create(world, acme, "Other")
    rename = await world.http.put(
        f"{URL}/{other['id']}", json={"name": "Default Workspace"}, headers=acme.headers
    )
    assert rename.status_code == 409
    assert count_rows(world.database, "workspaces") == 3


async def test_list_pages_and_sorts(world: World, acme: Credential) -> None:
    for name in ("b", "c", "a"):
        await _create(world, acme, name)
    page = await world.http.get(f"{URL}?sortBy=-name&limit=2", headers=acme.headers)
    assert [w["name"] for w in page.json()["workspaces"]] == ["c", "b"]
    assert page.json()["total"] == 4


async def test_limited_clients_see_their_workspace_and_manage_none(
    world: World, acme: Credential
) -> None:
    mine = await _create(world, acme, "Mine")
    other = await _create(world, acme, "Other")
    limited = await world.credential("acme", "approver", workspace="Mine")
    listed = await world.http.get(URL, headers=limited.headers)
    assert [w["name"] for w in listed.json()["workspaces"]] == ["Mine"]
    assert (
        await world.http.get(f"{URL}/{other['id']}", headers=limited.headers)
    ).status_code == 404
    assert (await world.http.get(f"{URL}/{mine['id']}", headers=limited.headers)).status_code == 200
    rename = await world.http.put(
        f"{URL}/{mine['id']}", json={"name": "Ours"}, headers=limited.headers
    )
    assert rename.status_code == 403
    assert (
        await world.http.post(URL, json={"name": "New"}, headers=limited.headers)
    ).status_code == 403
    observer = await world.credential("acme", "observer")
    assert (
        await world.http.delete(f"{URL}/{other['id']}", headers=observer.headers)
    ).status_code == 403
    assert count_rows(world.database, "workspaces") == 3
