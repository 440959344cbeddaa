"""Environments through the Admin API (v1): built-ins, user-defined, the default, validation."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from cible.activities.environments.service import ensure_default_environments, list_environments
from cible.tenants import service as tenants
from tests.conftest import BACKENDS, Credential, World, count_rows

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]

URL = "/acme/target/environments"


async def _list(world: World, cred: Credential) -> list[dict[str, Any]]:
    response = await world.http.get(f"{URL}?limit=100", headers=cred.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["environments"])


async def test_built_in_environments(world: World, acme: Credential) -> None:
    response = await world.http.get(URL, headers=acme.headers)
    body = response.json()
    assert set(body) == {"total", "offset", "limit", "environments"}
    assert body["total"] == 3
    assert [
        (e["name"], e["default"], e["serveInactiveActivities"]) for e in body["environments"]
    ] == [
        ("Production", True, False),
        ("Staging", False, False),
        ("Development", False, False),
    ]
    production = body["environments"][0]
    assert set(production) == {"id", "name", "default", "serveInactiveActivities", "lastModified"}
    one = await world.http.get(f"{URL}/{production['id']}", headers=acme.headers)
    assert one.json() == production
    with world.database.session() as s:
        tenant_id = tenants.get_tenant(s, "acme").id
        assert [e.artifact_name for e in list_environments(s, tenant_id)] == [
            "production",
            "staging",
            "development",
        ]
        ensure_default_environments(s, tenant_id)
    assert count_rows(world.database, "environments") == 3


async def test_created_lazily_for_older_tenants(world: World, acme: Credential) -> None:
    with world.database.session() as s:
        s.execute(text("DELETE FROM environments"))
    assert count_rows(world.database, "environments") == 0
    assert [e["name"] for e in await _list(world, acme)] == ["Production", "Staging", "Development"]
    assert count_rows(world.database, "environments") == 3


async def test_user_defined_environment_lifecycle(world: World, acme: Credential) -> None:
    created = await world.http.post(
        URL, json={"name": "QA-1", "serveInactiveActivities": True}, headers=acme.headers
    )
    assert created.status_code == 201, created.text
    env = created.json()
    assert (env["name"], env["default"], env["serveInactiveActivities"]) == ("QA-1", False, True)
    renamed = await world.http.put(
        f"{URL}/{env['id']}", json={**env, "name": "QA-2"}, headers=acme.headers
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "QA-2"
    assert renamed.json()["serveInactiveActivities"] is True
    kept = await world.http.put(f"{URL}/{env['id']}", json={"name": "QA-2"}, headers=acme.headers)
    assert kept.json()["serveInactiveActivities"] is True
    deleted = await world.http.delete(f"{URL}/{env['id']}", headers=acme.headers)
    assert deleted.status_code == 200
    assert deleted.json()["name"] == "QA-2"
    assert (await world.http.get(f"{URL}/{env['id']}", headers=acme.headers)).status_code == 404
    assert count_rows(world.database, "environments") == 3


async def test_default_moves_and_cannot_be_deleted(world: World, acme: Credential) -> None:
    production, staging, _ = await _list(world, acme)
    refused = await world.http.delete(f"{URL}/{production['id']}", headers=acme.headers)
    assert refused.status_code == 409
    assert "default" in refused.json()["errors"][0]["message"]
    undefault = await world.http.put(
        f"{URL}/{production['id']}",
        json={"name": "Production", "default": False},
        headers=acme.headers,
    )
    assert undefault.status_code == 400
    assert undefault.json()["errors"][0]["message"].startswith("default")
    moved = await world.http.put(
        f"{URL}/{staging['id']}", json={"name": "Staging", "default": True}, headers=acme.headers
    )
    assert moved.status_code == 200
    assert [e["default"] for e in await _list(world, acme)] == [False, True, False]
    assert (
        await world.http.delete(f"{URL}/{production['id']}", headers=acme.headers)
    ).status_code == 200
    created = await world.http.post(
        URL, json={"name": "Edge", "default": True}, headers=acme.headers
    )
    assert created.json()["default"] is True
    assert [e["name"] for e in await _list(world, acme) if e["default"]] == ["Edge"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "with space"}, "name"),
        ({"name": "a/b"}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"name": "ok", "default": "yes"}, "default"),
        ({"name": "ok", "serveInactiveActivities": 1}, "serveInactiveActivities"),
        ({"name": "ok", "id": 5}, "id"),
        ({"name": "ok", "hosts": []}, "hosts"),
    ],
)
async def test_invalid_bodies_name_the_field(
    world: World, acme: Credential, body: Any, field: str
) -> None:
    response = await world.http.post(URL, json=body, headers=acme.headers)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["message"].startswith(field)
    assert count_rows(world.database, "environments") == 3


async def test_names_unique_ignoring_case(world: World, acme: Credential) -> None:
    response = await world.http.post(URL, json={"name": "staging"}, headers=acme.headers)
    assert response.status_code == 409
    assert "staging" in response.json()["errors"][0]["message"]
    assert count_rows(world.database, "environments") == 3


async def test_paging_and_sorting(world: World, acme: Credential) -> None:
    page = await world.http.get(f"{URL}?sortBy=name&limit=2&offset=1", headers=acme.headers)
    body = page.json()
    assert (body["total"], body["offset"], body["limit"]) == (3, 1, 2)
    assert [e["name"] for e in body["environments"]] == ["Production", "Staging"]


async def test_only_tenant_wide_writers_change_environments(world: World, acme: Credential) -> None:
    world.tenant("other")
    observer = await world.credential("acme", "observer")
    assert len(await _list(world, observer)) == 3
    refused = await world.http.post(URL, json={"name": "Nope"}, headers=observer.headers)
    assert refused.status_code == 403
    assert count_rows(world.database, "environments") == 6


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "bad name"}, "name"),
        ({"name": "Staging", "id": 999999}, "id"),
        ({"name": "Staging", "serveInactiveActivities": "yes"}, "serveInactiveActivities"),
    ],
)
async def test_invalid_updates_change_nothing(
    world: World, acme: Credential, body: Any, field: str
) -> None:
    before = await _list(world, acme)
    staging = before[1]
    response = await world.http.put(f"{URL}/{staging['id']}", json=body, headers=acme.headers)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["message"].startswith(field)
    assert await _list(world, acme) == before
