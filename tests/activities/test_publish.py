"""Publishing: changes that reach the artifact enqueue one pending rebuild job per tenant."""

from __future__ import annotations

import pytest

from cible.activities import publish
from cible.activities.mboxes.service import record_seen
from cible.tenants import service as tenants
from tests.activities._kit import ab_body, audience, offer, pending_rebuilds, v3, xt_body
from tests.conftest import BACKENDS, Credential, FakeClock, World

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]


def _tenant_id(world: World, code: str) -> int:
    with world.database.session() as s:
        return tenants.get_tenant(s, code).id


async def test_saved_activities_publish_nothing(world: World, acme: Credential) -> None:
    a = await offer(world.http, acme, "A")
    created = await world.http.post(
        "/acme/target/activities/ab", json=ab_body([a]), headers=v3(acme)
    )
    aid = created.json()["id"]
    await world.http.put(
        f"/acme/target/activities/{aid}/priority", json={"priority": 7}, headers=acme.headers
    )
    await world.http.put(
        f"/acme/target/offers/content/{a}", json={"name": "A", "content": "x"}, headers=acme.headers
    )
    assert pending_rebuilds(world.database) == []


async def test_approved_changes_enqueue_one_rebuild(world: World, acme: Credential) -> None:
    tenant_id = _tenant_id(world, "acme")
    a = await offer(world.http, acme, "A")
    created = await world.http.post(
        "/acme/target/activities/ab", json=ab_body([a]), headers=v3(acme)
    )
    aid = created.json()["id"]
    await world.http.put(
        f"/acme/target/activities/{aid}/state", json={"state": "approved"}, headers=acme.headers
    )
    assert pending_rebuilds(world.database) == [{"tenantId": tenant_id}]
    # More changes before the worker runs: still one pending job.
    await world.http.put(
        f"/acme/target/activities/{aid}/priority", json={"priority": 8}, headers=acme.headers
    )
    await world.http.put(
        f"/acme/target/offers/content/{a}", json={"name": "A", "content": "y"}, headers=acme.headers
    )
    assert pending_rebuilds(world.database) == [{"tenantId": tenant_id}]

    world.tenant("globex")
    globex = await world.credential("globex", "approver")
    g = await offer(world.http, globex, "G", tenant="globex")
    await world.http.post(
        "/globex/target/activities/ab", json=ab_body([g], state="approved"), headers=v3(globex)
    )
    assert sorted(p["tenantId"] for p in pending_rebuilds(world.database)) == sorted(
        [tenant_id, _tenant_id(world, "globex")]
    )


async def test_each_kind_of_change_publishes(world: World, acme: Credential) -> None:
    """Every change to an approved (or once approved) activity and its content enqueues."""
    from cible.jobs import run_pending

    a = await offer(world.http, acme, "A")
    gold = audience(world.database, "acme", "Gold")
    created = await world.http.post(
        "/acme/target/activities/xt",
        json=xt_body([a, a], [gold], state="approved"),
        headers=v3(acme),
    )
    aid = created.json()["id"]
    changes = [
        ("PUT", f"/acme/target/activities/{aid}/priority", {"priority": 1}),
        ("PUT", f"/acme/target/activities/{aid}/schedule", {"endsAt": "2027-01-01"}),
        ("PUT", f"/acme/target/activities/{aid}/name", {"name": "N"}),
        ("PUT", f"/acme/target/offers/content/{a}", {"name": "A", "content": "z"}),
        ("PUT", f"/acme/target/activities/{aid}/state", {"state": "deactivated"}),
        # Once approved, even a deactivated activity's changes are published (it left the artifact).
        ("PUT", f"/acme/target/activities/{aid}/state", {"state": "saved"}),
        ("DELETE", f"/acme/target/activities/xt/{aid}", None),
    ]
    for method, path, body in changes:
        assert run_pending(world.database) >= 1
        assert pending_rebuilds(world.database) == []
        r = await world.http.request(method, path, json=body, headers=acme.headers)
        assert r.status_code == 200, (path, r.text)
        assert len(pending_rebuilds(world.database)) == 1, path


async def test_audience_changed_hook(world: World, acme: Credential) -> None:
    tenant_id = _tenant_id(world, "acme")
    a = await offer(world.http, acme, "A")
    gold, silver = (
        audience(world.database, "acme", "Gold"),
        audience(world.database, "acme", "Silver"),
    )
    await world.http.post(
        "/acme/target/activities/xt",
        json=xt_body([a, a], [gold], state="approved"),
        headers=v3(acme),
    )
    from cible.jobs import run_pending

    run_pending(world.database)
    with world.database.session() as s:
        publish.audience_changed(s, tenant_id, silver)
    assert pending_rebuilds(world.database) == []
    with world.database.session() as s:
        publish.audience_changed(s, tenant_id, gold)
    assert pending_rebuilds(world.database) == [{"tenantId": tenant_id}]


async def test_rolled_back_change_enqueues_nothing(world: World, acme: Credential) -> None:
    a = await offer(world.http, acme, "A")
    bad = ab_body([a], state="approved", endsAt="2020-01-01", startsAt="2021-01-01")
    r = await world.http.post("/acme/target/activities/ab", json=bad, headers=v3(acme))
    assert r.status_code == 400
    assert pending_rebuilds(world.database) == []


async def test_mboxes_union_of_seen_and_declared(
    world: World, acme: Credential, clock: FakeClock
) -> None:
    http = world.http
    a = await offer(http, acme, "A")
    await http.post("/acme/target/activities/ab", json=ab_body([a]), headers=v3(acme))
    tenant_id = _tenant_id(world, "acme")
    with world.database.session() as s:
        record_seen(
            s,
            tenant_id,
            {"hero": {"landing.url"}, "cart": {"a.OSVersion", "referrer.domain"}},
            clock.now,
        )
    clock.advance(minutes=1)
    with world.database.session() as s:
        record_seen(s, tenant_id, {"cart": {"landing.url"}}, clock.now)
    world.tenant("globex")
    with world.database.session() as s:
        record_seen(s, _tenant_id(world, "globex"), {"secret": set()}, clock.now)

    listed = await http.get("/acme/target/mboxes", headers=acme.headers)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["total"] == 3
    assert body["mboxes"] == [
        {"name": "cart", "status": "active", "lastRequestedAt": "2026-01-15T12:01:00.000Z"},
        {"name": "hero", "status": "active", "lastRequestedAt": "2026-01-15T12:00:00.000Z"},
        {"name": "orderConfirmPage", "status": "inactive", "lastRequestedAt": None},
    ]
    paged = await http.get(
        "/acme/target/mboxes?limit=1&offset=1&sortBy=-name", headers=acme.headers
    )
    assert [m["name"] for m in paged.json()["mboxes"]] == ["hero"]
    cart = await http.get("/acme/target/mbox/cart", headers=acme.headers)
    assert cart.json() == {
        "name": "cart",
        "mboxParameters": [
            {"name": "a.OSVersion", "parameterType": "MBOX"},
            {"name": "landing.url", "parameterType": "MBOX"},
            {"name": "referrer.domain", "parameterType": "MBOX"},
        ],
    }
    assert (await http.get("/acme/target/mbox/secret", headers=acme.headers)).status_code == 404
