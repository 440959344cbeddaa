"""The activity changelog: who changed which parameter from what to what, and when."""

from __future__ import annotations

import pytest

from tests.activities._kit import ab_body, offer, v3
from tests.conftest import BACKENDS, Credential, FakeClock, World

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]


async def test_changelog_entries(world: World, acme: Credential, clock: FakeClock) -> None:
    editor = await world.credential("acme", "editor")
    a, b = await offer(world.http, acme, "A"), await offer(world.http, acme, "B")
    created = await world.http.post(
        "/acme/target/activities/ab", json=ab_body([a]), headers=v3(editor)
    )
    aid = created.json()["id"]
    clock.advance(minutes=5)
    await world.http.put(
        f"/acme/target/activities/{aid}/name", json={"name": "Renamed"}, headers=editor.headers
    )
    clock.advance(minutes=5)
    await world.http.put(
        f"/acme/target/activities/{aid}/state", json={"state": "approved"}, headers=acme.headers
    )
    clock.advance(minutes=5)
    body = {**ab_body([b]), "name": "Renamed"}
    await world.http.put(f"/acme/target/activities/ab/{aid}", json=body, headers=v3(acme))
    # A change that changes nothing is not logged.
    await world.http.put(
        f"/acme/target/activities/{aid}/priority", json={"priority": 5}, headers=acme.headers
    )

    response = await world.http.get(
        f"/acme/target/activities/{aid}/changelog", headers=acme.headers
    )
    assert response.status_code == 200, response.text
    log = response.json()
    assert log["total"] == 4
    entries = log["activityChangelogs"]
    assert [e["modifiedBy"] for e in entries] == [
        editor.client_id,
        editor.client_id,
        acme.client_id,
        acme.client_id,
    ]
    assert [e["modifiedAt"] for e in entries] == [
        "2026-01-15T12:00:00.000Z",
        "2026-01-15T12:05:00.000Z",
        "2026-01-15T12:10:00.000Z",
        "2026-01-15T12:15:00.000Z",
    ]
    assert entries[0]["activityParameters"]["state"] == {
        "previousValue": None,
        "changedValue": "saved",
    }
    assert entries[1]["activityParameters"] == {
        "activityName": {"previousValue": "Hero test", "changedValue": "Renamed"}
    }
    assert entries[2]["activityParameters"] == {
        "state": {"previousValue": "saved", "changedValue": "approved"}
    }
    options = entries[3]["activityParameters"]["options"]
    assert options["previousValue"][0]["offerId"] == a
    assert options["changedValue"][0]["offerId"] == b
    assert all(e["reportDataReset"] is False for e in entries)

    page = await world.http.get(
        f"/acme/target/activities/{aid}/changelog?limit=1&offset=1", headers=acme.headers
    )
    assert page.json()["limit"] == 1
    assert page.json()["activityChangelogs"] == [entries[1]]
    missing = await world.http.get("/acme/target/activities/999/changelog", headers=acme.headers)
    assert missing.status_code == 404
