"""Properties through the Admin API (v1): contract, tokens, workspaces, validation."""

from __future__ import annotations

from typing import Any

import pytest

from cible.activities.properties.service import property_for_token
from tests.conftest import BACKENDS, Credential, World, count_rows

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]

URL = "/acme/target/properties"


async def _create(world: World, cred: Credential, **fields: Any) -> dict[str, Any]:
    response = await world.http.post(
        URL, json={"name": "Site", "channel": "web", **fields}, headers=cred.headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _workspace(world: World, cred: Credential, name: str) -> str:
    response = await world.http.post(
        "/acme/target/workspaces", json={"name": name}, headers=cred.headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_property_lifecycle(world: World, acme: Credential) -> None:
    created = await world.http.post(
        URL,
        json={"name": "Main site", "description": "www", "channel": "web"},
        headers={**acme.headers, "Content-Type": "application/vnd.adobe.target.v1+json"},
    )
    assert created.status_code == 201, created.text
    prop = created.json()
    assert set(prop) == {
        "id",
        "name",
        "description",
        "channel",
        "token",
        "workspaces",
        "createdAt",
        "modifiedAt",
    }
    assert (prop["name"], prop["description"], prop["channel"]) == ("Main site", "www", "web")
    assert len(prop["token"]) == 36
    assert len(prop["workspaces"]) == 1
    assert prop["createdAt"] == prop["modifiedAt"]

    read = await world.http.get(f"{URL}/{prop['id']}", headers=acme.headers)
    assert read.json() == prop

    with world.database.session() as s:
        found = property_for_token(s, prop["token"])
        assert found is not None and found.id == prop["id"]
        assert property_for_token(s, "no-such-token") is None

    second = await _workspace(world, acme, "Second")
    changed = {
        **prop,
        "name": "Mobile app",
        "channel": "mobile",
        "workspaces": [*prop["workspaces"], second],
    }
    updated = await world.http.put(f"{URL}/{prop['id']}", json=changed, headers=acme.headers)
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert (body["name"], body["channel"], body["token"]) == ("Mobile app", "mobile", prop["token"])
    assert body["workspaces"] == sorted([*prop["workspaces"], second], key=int)
    narrowed = await world.http.put(
        f"{URL}/{prop['id']}",
        json={"name": "Mobile app", "channel": "mobile", "workspaces": [second]},
        headers=acme.headers,
    )
    assert narrowed.json()["workspaces"] == [second]
    assert narrowed.json()["description"] == ""
    assert count_rows(world.database, "property_workspaces") == 1

    deleted = await world.http.delete(f"{URL}/{prop['id']}", headers=acme.headers)
    assert deleted.status_code == 200
    assert deleted.json()["id"] == prop["id"]
    assert (await world.http.get(f"{URL}/{prop['id']}", headers=acme.headers)).status_code == 404
    assert count_rows(world.database, "properties") == 0
    assert count_rows(world.database, "property_workspaces") == 0


async def test_tokens_are_unique(world: World, acme: Credential) -> None:
    tokens = {(await _create(world, acme, name=f"p{i}"))["token"] for i in range(5)}
    assert len(tokens) == 5


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channel": "web"}, "name"),
        ({"name": "", "channel": "web"}, "name"),
        ({"name": "No channel"}, "channel"),
        ({"name": "Fax", "channel": "fax"}, "channel"),
        ({"name": "Tok", "channel": "web", "token": "mine"}, "token"),
        ({"name": "Ws", "channel": "web", "workspaces": ["1", "987654"]}, "workspaces[1]"),
        ({"name": "Ws", "channel": "web", "workspaces": "1"}, "workspaces"),
        ({"name": "X", "channel": "web", "segmentId": 4}, "segmentId"),
    ],
)
async def test_invalid_bodies_name_the_field(
    world: World, acme: Credential, body: Any, field: str
) -> None:
    response = await world.http.post(URL, json=body, headers=acme.headers)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["message"].startswith(field)
    assert count_rows(world.database, "properties") == 0


async def test_names_unique_per_tenant(world: World, acme: Credential) -> None:
    await _create(world, acme, name="Same")
    again = await world.http.post(
        URL, json={"name": "Same", "channel": "email"}, headers=acme.headers
    )
    assert again.status_code == 409
    assert "Same" in again.json()["errors"][0]["message"]
    other = await _create(world, acme, name="Other")
    rename = await world.http.put(
        f"{URL}/{other['id']}", json={"name": "Same", "channel": "web"}, headers=acme.headers
    )
    assert rename.status_code == 409
    token = await world.http.put(
        f"{URL}/{other['id']}",
        json={"name": "Other", "channel": "web", "token": "forged"},
        headers=acme.headers,
    )
    assert token.status_code == 400
    assert token.json()["errors"][0]["message"].startswith("token")
    assert count_rows(world.database, "properties") == 2


async def test_list_pages_sorts_and_filters(world: World, acme: Credential) -> None:
    second = await _workspace(world, acme, "Second")
    for name, channel in (("web b", "web"), ("mail", "email"), ("web a", "web"), ("app", "mobile")):
        await _create(world, acme, name=name, channel=channel)
    await _create(world, acme, name="kiosk", channel="other", workspaces=[second])
    all_ = await world.http.get(URL, headers=acme.headers)
    assert (all_.json()["total"], all_.json()["offset"], all_.json()["limit"]) == (5, 0, 10)
    page = await world.http.get(f"{URL}?sortBy=name&limit=2&offset=1", headers=acme.headers)
    assert [p["name"] for p in page.json()["properties"]] == ["kiosk", "mail"]
    by_channel = await world.http.get(f"{URL}?channel=web&sortBy=-name", headers=acme.headers)
    assert [p["name"] for p in by_channel.json()["properties"]] == ["web b", "web a"]
    by_two = await world.http.get(f"{URL}?channel=web,mobile", headers=acme.headers)
    assert by_two.json()["total"] == 3
    by_ws = await world.http.get(f"{URL}?workspace={second}", headers=acme.headers)
    assert [p["name"] for p in by_ws.json()["properties"]] == ["kiosk"]
    by_name = await world.http.get(f"{URL}?name=WEB", headers=acme.headers)
    assert by_name.json()["total"] == 2
    bad = await world.http.get(f"{URL}?sortBy=token", headers=acme.headers)
    assert bad.status_code == 400


async def test_workspace_limited_client_needs_every_workspace_to_write(
    world: World, acme: Credential
) -> None:
    second = await _workspace(world, acme, "Second")
    default = (await _create(world, acme, name="probe"))["workspaces"][0]
    shared = await _create(world, acme, name="Shared", workspaces=[default, second])
    limited = await world.credential("acme", "editor", workspace="Second")
    read = await world.http.get(f"{URL}/{shared['id']}", headers=limited.headers)
    assert read.status_code == 200
    write = await world.http.put(
        f"{URL}/{shared['id']}", json={"name": "Mine", "channel": "web"}, headers=limited.headers
    )
    assert write.status_code == 403
    listed = await world.http.get(URL, headers=limited.headers)
    assert [p["name"] for p in listed.json()["properties"]] == ["Shared"]
    own = await world.http.post(
        URL, json={"name": "Own", "channel": "web", "workspaces": [second]}, headers=limited.headers
    )
    assert own.status_code == 201
    default_ws = await world.http.post(
        URL, json={"name": "Default", "channel": "web"}, headers=limited.headers
    )
    assert default_ws.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "channel": "web"}, "name"),
        ({"name": "Site", "channel": "tv"}, "channel"),
        ({"name": "Site", "channel": "web", "workspaces": ["404404"]}, "workspaces[0]"),
        ({"id": 999999, "name": "Site", "channel": "web"}, "id"),
    ],
)
async def test_invalid_updates_change_nothing(
    world: World, acme: Credential, body: Any, field: str
) -> None:
    prop = await _create(world, acme)
    response = await world.http.put(f"{URL}/{prop['id']}", json=body, headers=acme.headers)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["message"].startswith(field)
    assert (await world.http.get(f"{URL}/{prop['id']}", headers=acme.headers)).json() == prop
