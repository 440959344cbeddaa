"""Activity reset (Cible extension, ``POST .../{id}/reset``): report data gone for good, visitors
allocated anew, a ``reportDataReset`` changelog entry, and bad calls refused without effect."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from cible.delivery.source import StoreArtifactSource
from cible.jobs import run_pending
from cible.reports.backfill import rebuild
from tests.activities._kit import V1, ab_body, offer, v1, v3
from tests.conftest import BACKENDS, Credential, World

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]

DELIVERY = "/rest/v1/delivery?client=acme&sessionId="


def _weights(body: dict[str, Any], *shares: int) -> dict[str, Any]:
    for experience, share in zip(body["experiences"], shares, strict=True):
        experience["visitorPercentage"] = share
    return body


async def _hero(http: httpx.AsyncClient, visitor: str, mbox: str = "hero") -> int | None:
    """The experience the visitor is shown at ``mbox`` (None: no option)."""
    body = {
        "context": {"channel": "web"},
        "id": {"tntId": f"{visitor}.0"},
        "execute": {"mboxes": [{"index": 0, "name": mbox}]},
    }
    response = await http.post(DELIVERY + visitor, json=body)
    assert response.status_code == 200, response.text
    options = response.json()["execute"]["mboxes"][0].get("options") or []
    return int(options[0]["responseTokens"]["experience.id"]) if options else None


async def _totals(world: World, cred: Credential, activity: int) -> dict[str, Any]:
    response = await world.http.get(
        f"/acme/target/activities/ab/{activity}/report/performance", headers=cred.headers
    )
    assert response.status_code == 200, response.text
    stats = response.json()["report"]["statistics"]
    return {
        "all": stats["totals"]["visitor"]["totals"],
        "impressions": stats["totals"]["impression"]["totals"]["entries"],
        "by": {
            e["experienceLocalId"]: e["totals"]["visitor"]["totals"]["entries"]
            for e in stats["experiences"]
        },
    }


async def test_reset_empties_the_report_and_reallocates_visitors(
    world: World, acme: Credential, app: Any, tmp_path: Path
) -> None:
    # Read the served artifact at every call (the default rereads it once a second).
    app.state.artifact_source = StoreArtifactSource(world.database, refresh_seconds=0)
    offers = [await offer(world.http, acme, f"reset-{i}") for i in range(2)]
    body = _weights(ab_body(offers, state="approved"), 99, 1)
    created = await world.http.post("/acme/target/activities/ab", json=body, headers=v3(acme))
    assert created.status_code == 201, created.text
    activity = int(created.json()["id"])
    run_pending(world.database)

    for n in range(3):
        assert await _hero(world.http, f"v{n}") == 0
    await _hero(world.http, "v0", "orderConfirmPage")
    before = await _totals(world, acme, activity)
    assert before["all"] == {"entries": 3, "conversions": 1}

    # The split moves to the other experience: returning visitors keep theirs (sticky).
    moved = await world.http.put(
        f"/acme/target/activities/ab/{activity}", json=_weights(body, 1, 99), headers=v3(acme)
    )
    assert moved.status_code == 200, moved.text
    run_pending(world.database)
    assert await _hero(world.http, "v0") == 0
    assert await _hero(world.http, "fresh") == 1

    # Events the log accepted before the reset but the reports consumer has not applied yet:
    # this client's responses do not drain the log, as a lagging consumer would not.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://cible.test"
    ) as lagging:
        assert await _hero(lagging, "v1") == 0
        await _hero(lagging, "v1", "orderConfirmPage")
        assert await _hero(lagging, "late") == 1

    reset = await world.http.post(
        f"/acme/target/activities/ab/{activity}/reset", json={}, headers=v3(acme)
    )
    assert reset.status_code == 200, reset.text
    assert reset.headers["content-type"] == "application/vnd.adobe.target.v3+json"
    answer = reset.json()
    assert answer["id"] == activity and answer["reportDataReset"] is True
    assert answer["assignmentsReset"] == 5  # v0, v1, v2, fresh and late
    # The lagging events were applied after the reset (the response drained the log) and count
    # for nothing.
    empty = {"all": {"entries": 0, "conversions": 0}, "impressions": 0, "by": {0: 0, 1: 0}}
    assert await _totals(world, acme, activity) == empty

    # Every visitor is allocated anew, under the current split.
    assert await _hero(world.http, "v0") == 1
    assert await _hero(world.http, "v2") == 1
    after = await _totals(world, acme, activity)
    assert after == {"all": {"entries": 2, "conversions": 0}, "impressions": 2, "by": {0: 0, 1: 2}}

    # A rebuild from raw events leaves the events before the reset out, as the consumer does.
    rebuild(world.database, workdir=tmp_path)
    assert await _totals(world, acme, activity) == after

    log = await world.http.get(
        f"/acme/target/activities/{activity}/changelog", headers=acme.headers
    )
    assert log.status_code == 200, log.text
    entries = log.json()["activityChangelogs"]
    assert [e["reportDataReset"] for e in entries].count(True) == 1
    assert entries[-1]["reportDataReset"] is True
    assert entries[-1]["modifiedBy"] == acme.client_id
    assert not any(e["reportDataReset"] for e in entries[:-1])


async def test_reset_refuses_bad_calls_and_changes_nothing(world: World, acme: Credential) -> None:
    offers = [await offer(world.http, acme, f"reset-bad-{i}") for i in range(2)]
    created = await world.http.post(
        "/acme/target/activities/ab", json=ab_body(offers, state="approved"), headers=v3(acme)
    )
    activity = int(created.json()["id"])
    run_pending(world.database)
    await _hero(world.http, "kept")
    kept = await _totals(world, acme, activity)
    assert kept["all"]["entries"] == 1

    async def reset(path: str, headers: dict[str, str], **kw: Any) -> httpx.Response:
        return await world.http.post(f"/acme/target/activities/{path}/reset", headers=headers, **kw)

    def envelope(response: httpx.Response, status: int, code: str) -> None:
        assert response.status_code == status, response.text
        body = response.json()
        assert body["httpStatus"] == status and body["requestId"] and body["requestTime"]
        assert body["errors"][0]["errorCode"] == code

    envelope(await reset("ab/987654", v3(acme), json={}), 404, "Not.Found")
    envelope(await reset(f"xt/{activity}", v3(acme), json={}), 404, "Not.Found")
    # An A/B activity that does not allocate automatically is no auto-allocate activity.
    envelope(await reset(f"autoallocate/{activity}", v1(acme), json={}), 404, "Not.Found")
    extra = await reset(f"ab/{activity}", v3(acme), json={"everything": True})
    envelope(extra, 400, "Invalid.Field")
    envelope(await reset(f"ab/{activity}", v3(acme), content=b"{not json"), 400, "Invalid.Field")
    editor = await world.credential("acme", "editor")
    envelope(await reset(f"ab/{activity}", v3(editor), json={}), 403, "Forbidden")
    v9 = "application/vnd.adobe.target.v9+json"
    unsupported = {**acme.headers, "Content-Type": v9, "Accept": v9}
    assert (await reset(f"ab/{activity}", unsupported, json={})).status_code == 406
    assert await _totals(world, acme, activity) == kept

    # A deleted activity is hidden, as on every activity route.
    deleted = await world.http.delete(f"/acme/target/activities/ab/{activity}", headers=v3(acme))
    assert deleted.status_code == 200, deleted.text
    envelope(await reset(f"ab/{activity}", v3(acme)), 404, "Not.Found")


async def test_reset_of_an_auto_allocate_activity(world: World, acme: Credential) -> None:
    offers = [await offer(world.http, acme, f"reset-aa-{i}") for i in range(2)]
    body = {
        **ab_body(offers, state="approved"),
        "autoAllocateTraffic": {"successEvaluationCriteria": "conversion_rate"},
    }
    created = await world.http.post(
        "/acme/target/activities/autoallocate", json=body, headers=v1(acme)
    )
    assert created.status_code == 201, created.text
    activity = int(created.json()["id"])
    run_pending(world.database)
    assert await _hero(world.http, "auto") is not None
    assert (await _totals(world, acme, activity))["all"]["entries"] == 1
    # No body at all is accepted too.
    reset = await world.http.post(
        f"/acme/target/activities/autoallocate/{activity}/reset",
        headers={**acme.headers, "Accept": V1},
    )
    assert reset.status_code == 200, reset.text
    assert reset.json()["reportDataReset"] is True
    assert (await _totals(world, acme, activity))["all"]["entries"] == 0
