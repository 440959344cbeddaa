"""A/B and XT activities through the Admin API: create, read, list, update, states, delete."""

from __future__ import annotations

import pytest

from tests.activities._kit import V1, V3, ab_body, audience, offer, v1, v3, xt_body
from tests.conftest import BACKENDS, Credential, World, count_rows

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]


async def test_ab_lifecycle(world: World, acme: Credential) -> None:
    http = world.http
    a, b = await offer(http, acme, "A"), await offer(http, acme, "B")
    body = ab_body([a, b], thirdPartyId="hero-1", startsAt="2026-02-01T00:00Z")
    created = await http.post("/acme/target/activities/ab", json=body, headers=v3(acme))
    assert created.status_code == 201, created.text
    assert created.headers["content-type"] == V3
    activity = created.json()
    assert activity["type"] == "ab"
    assert activity["state"] == "saved"
    assert activity["startsAt"] == "2026-02-01T00:00:00.000Z"
    assert "endsAt" not in activity
    assert activity["options"] == body["options"]
    assert activity["experiences"][1]["visitorPercentage"] == 50
    assert activity["modifiedByName"] == acme.client_id
    assert activity["createdAt"] == activity["modifiedAt"] == "2026-01-15T12:00:00.000Z"
    aid = activity["id"]

    read = await http.get(
        f"/acme/target/activities/ab/{aid}", headers={**acme.headers, "Accept": V3}
    )
    assert read.json() == activity
    # An A/B activity is not reachable as XT.
    assert (
        await http.get(f"/acme/target/activities/xt/{aid}", headers=acme.headers)
    ).status_code == 404

    changed = {**activity, "name": "Hero test, round 2", "priority": 20}
    updated = await http.put(f"/acme/target/activities/ab/{aid}", json=changed, headers=v3(acme))
    assert updated.status_code == 200, updated.text
    assert updated.json()["name"] == "Hero test, round 2"
    assert updated.json()["priority"] == 20
    assert updated.json()["createdAt"] == activity["createdAt"]

    approved = await http.put(
        f"/acme/target/activities/{aid}/state", json={"state": "approved"}, headers=v1(acme)
    )
    assert approved.status_code == 200, approved.text
    assert approved.headers["content-type"] == V1
    assert approved.json()["state"] == "approved"
    assert set(approved.json()) == {
        "id",
        "thirdPartyId",
        "name",
        "state",
        "startsAt",
        "priority",
        "createdAt",
        "modifiedAt",
    }

    deleted = await http.delete(f"/acme/target/activities/ab/{aid}", headers=acme.headers)
    assert deleted.status_code == 200
    assert deleted.json()["state"] == "deleted"
    assert deleted.json()["id"] == aid
    gone = await http.get(f"/acme/target/activities/ab/{aid}", headers=acme.headers)
    assert gone.status_code == 404
    assert gone.json()["errors"][0]["errorCode"] == "Not.Found"
    listed = await http.get("/acme/target/activities", headers=acme.headers)
    assert listed.json()["total"] == 0
    # Kept for reports and the changelog, and its thirdPartyId is free again.
    assert count_rows(world.database, "activities") == 1
    again = await http.post(
        "/acme/target/activities/ab", json=ab_body([a], thirdPartyId="hero-1"), headers=v3(acme)
    )
    assert again.status_code == 201, again.text


async def test_xt_lifecycle(world: World, acme: Credential) -> None:
    http = world.http
    gold = audience(world.database, "acme", "Gold")
    a, b = await offer(http, acme, "Gold hero"), await offer(http, acme, "Default hero")
    created = await http.post(
        "/acme/target/activities/xt", json=xt_body([a, b], [gold]), headers=v3(acme)
    )
    assert created.status_code == 201, created.text
    xt = created.json()
    assert xt["type"] == "xt"
    assert xt["experiences"][0]["audienceIds"] == [gold]
    assert "autoAllocate" not in xt
    xid = xt["id"]
    moved = await http.put(
        f"/acme/target/activities/xt/{xid}/priority", json={"priority": 999}, headers=acme.headers
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["priority"] == 999
    named = await http.put(
        f"/acme/target/activities/xt/{xid}/name", json={"name": "Gold first"}, headers=acme.headers
    )
    assert named.json()["name"] == "Gold first"
    scheduled = await http.put(
        f"/acme/target/activities/{xid}/schedule",
        json={"startsAt": "2026-03-01", "endsAt": "2026-03-31T23:59:59.999+02:00"},
        headers=acme.headers,
    )
    assert scheduled.status_code == 200, scheduled.text
    assert scheduled.json()["startsAt"] == "2026-03-01T00:00:00.000Z"
    assert scheduled.json()["endsAt"] == "2026-03-31T21:59:59.999Z"
    # The A/B-typed path refuses an XT activity.
    wrong = await http.put(
        f"/acme/target/activities/ab/{xid}/priority", json={"priority": 1}, headers=acme.headers
    )
    assert wrong.status_code == 404
    deleted = await http.delete(f"/acme/target/activities/xt/{xid}", headers=acme.headers)
    assert deleted.json()["state"] == "deleted"


async def test_list_paging_sorting_filters(world: World, acme: Credential, clock: object) -> None:
    http = world.http
    o = await offer(http, acme, "O")
    ids = []
    for i, (name, priority) in enumerate([("Alpha", 3), ("beta", 9), ("Gamma", 1), ("Delta", 9)]):
        extra = {"name": name, "priority": priority, "thirdPartyId": f"t{i}"}
        r = await http.post(
            "/acme/target/activities/ab", json=ab_body([o], **extra), headers=v3(acme)
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
        clock.advance(minutes=10)  # type: ignore[attr-defined]
    gold = audience(world.database, "acme", "Gold")
    xt = await http.post(
        "/acme/target/activities/xt",
        json=xt_body([o, o], [gold], name="Zeta", priority=0),
        headers=v3(acme),
    )
    assert xt.status_code == 201, xt.text
    await http.put(
        f"/acme/target/activities/{ids[1]}/state", json={"state": "approved"}, headers=acme.headers
    )

    async def names(query: str, accept: str = V3) -> list[str]:
        r = await http.get(
            f"/acme/target/activities?{query}", headers={**acme.headers, "Accept": accept}
        )
        assert r.status_code == 200, r.text
        return [a["name"] for a in r.json()["activities"]]

    assert await names("") == ["Alpha", "beta", "Gamma", "Delta", "Zeta"]
    page = await http.get(
        "/acme/target/activities?limit=2&offset=2&sortBy=name", headers=acme.headers
    )
    assert page.json()["total"] == 5
    assert page.json()["limit"] == 2 and page.json()["offset"] == 2
    assert [a["name"] for a in page.json()["activities"]] == ["Delta", "Gamma"]
    assert await names("sortBy=-priority,name") == ["beta", "Delta", "Alpha", "Gamma", "Zeta"]
    assert await names("sortBy=type&sortBy=-id") == ["Delta", "Gamma", "beta", "Alpha", "Zeta"]
    assert await names("sortBy=-thirdPartyId") == ["Delta", "Gamma", "beta", "Alpha", "Zeta"]
    assert await names("name=ETA") == ["beta", "Zeta"]
    assert await names("state=approved") == ["beta"]
    assert await names("type=xt") == ["Zeta"]
    assert await names("priority=9") == ["beta", "Delta"]
    assert await names("priority=!9&priority=!0") == ["Alpha", "Gamma"]
    assert await names("modifiedAt=2026-01-15T12:05Z/2026-01-15T12:35Z") == ["Gamma", "Delta"]
    assert await names("", accept=V1) == await names("")
    item = (await http.get("/acme/target/activities?type=xt", headers=acme.headers)).json()[
        "activities"
    ][0]
    assert item["type"] == "xt" and item["workspace"] and item["propertyIds"] == []
    bad = await http.get("/acme/target/activities?sortBy=colour&state=live", headers=acme.headers)
    assert bad.status_code == 400
    bad = await http.get("/acme/target/activities?state=live&priority=high", headers=acme.headers)
    assert bad.status_code == 400
    messages = " ".join(e["message"] for e in bad.json()["errors"])
    assert messages.startswith("state:") and "priority:" in messages


async def test_roles_on_states(world: World, acme: Credential) -> None:
    http = world.http
    editor = await world.credential("acme", "editor")
    publisher = await world.credential("acme", "publisher")
    observer = await world.credential("acme", "observer")
    o = await offer(http, acme, "O")
    body = ab_body([o])

    refused = await http.post("/acme/target/activities/ab", json=body, headers=v3(observer))
    assert refused.status_code == 403
    approved_by_editor = await http.post(
        "/acme/target/activities/ab", json={**body, "state": "approved"}, headers=v3(editor)
    )
    assert approved_by_editor.status_code == 403
    assert count_rows(world.database, "activities") == 0

    created = await http.post("/acme/target/activities/ab", json=body, headers=v3(editor))
    assert created.status_code == 201
    aid = created.json()["id"]
    state = f"/acme/target/activities/{aid}/state"
    assert (
        await http.put(state, json={"state": "saved"}, headers=editor.headers)
    ).status_code == 200
    denied = await http.put(state, json={"state": "approved"}, headers=editor.headers)
    assert denied.status_code == 403
    assert denied.json()["errors"][0]["errorCode"] == "Forbidden"
    # A PUT of the body may not sneak the state change in either.
    sneaky = await http.put(
        f"/acme/target/activities/ab/{aid}", json={**body, "state": "approved"}, headers=v3(editor)
    )
    assert sneaky.status_code == 403
    ok = await http.put(state, json={"state": "approved"}, headers=acme.headers)
    assert ok.status_code == 200 and ok.json()["state"] == "approved"
    # An editor may not stop a live activity, by state or by deleting it.
    assert (
        await http.put(state, json={"state": "saved"}, headers=editor.headers)
    ).status_code == 403
    stop_by_body = await http.put(
        f"/acme/target/activities/ab/{aid}", json={**body, "state": "saved"}, headers=v3(editor)
    )
    assert stop_by_body.status_code == 403
    # Editing a live activity without changing its state is an edit.
    live_edit = await http.put(
        f"/acme/target/activities/ab/{aid}",
        json={**body, "state": "approved", "priority": 6},
        headers=v3(editor),
    )
    assert live_edit.status_code == 200, live_edit.text
    assert (
        await http.delete(f"/acme/target/activities/ab/{aid}", headers=editor.headers)
    ).status_code == 403
    stopped = await http.put(state, json={"state": "deactivated"}, headers=publisher.headers)
    assert stopped.json()["state"] == "deactivated"
    again = await http.put(state, json={"state": "approved"}, headers=publisher.headers)
    assert again.status_code == 200 and again.json()["state"] == "approved"
    # Publishers activate but do not edit.
    edit = await http.put(
        f"/acme/target/activities/ab/{aid}", json={**body, "name": "x"}, headers=v3(publisher)
    )
    assert edit.status_code == 403
    rename = await http.put(
        f"/acme/target/activities/{aid}/name", json={"name": "x"}, headers=publisher.headers
    )
    assert rename.status_code == 403
    read = await http.get(f"/acme/target/activities/ab/{aid}", headers=observer.headers)
    assert read.json()["name"] == "Hero test"


async def test_tenants_are_isolated(world: World, acme: Credential) -> None:
    world.tenant("globex")
    globex = await world.credential("globex", "approver")
    o = await offer(world.http, acme, "O")
    created = await world.http.post(
        "/acme/target/activities/ab", json=ab_body([o]), headers=v3(acme)
    )
    aid = created.json()["id"]
    for method, path, body in [
        ("GET", f"/globex/target/activities/ab/{aid}", None),
        ("PUT", f"/globex/target/activities/{aid}/state", {"state": "approved"}),
        ("GET", f"/globex/target/activities/{aid}/changelog", None),
        ("DELETE", f"/globex/target/activities/ab/{aid}", None),
    ]:
        r = await world.http.request(method, path, json=body, headers=globex.headers)
        assert r.status_code == 404, (method, path, r.text)
    assert (await world.http.get("/globex/target/activities", headers=globex.headers)).json()[
        "total"
    ] == 0
    # Another tenant's offer is unknown here.
    theirs = await world.http.post(
        "/globex/target/activities/ab", json=ab_body([o]), headers=v3(globex)
    )
    assert theirs.status_code == 400
    assert theirs.json()["errors"][0]["message"].startswith("options[0].offerId")
    # acme's key does not open globex.
    assert (
        await world.http.get("/globex/target/activities", headers=acme.headers)
    ).status_code in (401, 403, 404)


async def test_workspace_scoped_roles(world: World, acme: Credential) -> None:
    http = world.http
    made = await http.post(
        "/acme/target/workspaces", json={"name": "Brand B"}, headers=acme.headers
    )
    assert made.status_code == 201, made.text
    brand_b = str(made.json()["id"])
    scoped = await world.credential("acme", "editor", workspace="Brand B")
    default_offer = await offer(http, acme, "Default offer")
    in_default = await http.post(
        "/acme/target/activities/ab", json=ab_body([default_offer]), headers=v3(acme)
    )
    # An editor of Brand B cannot write to the default workspace...
    refused = await http.post(
        "/acme/target/activities/ab", json=ab_body([default_offer]), headers=v3(scoped)
    )
    assert refused.status_code == 403
    # ...nor see what is in it,
    hidden = await http.get(
        f"/acme/target/activities/ab/{in_default.json()['id']}", headers=scoped.headers
    )
    assert hidden.status_code == 404
    # but works in Brand B, with Brand B's offers.
    b_offer = await http.post(
        "/acme/target/offers/content",
        json={"name": "B offer", "content": "<p>B</p>", "workspace": brand_b},
        headers=scoped.headers,
    )
    assert b_offer.status_code == 201, b_offer.text
    created = await http.post(
        "/acme/target/activities/ab",
        json=ab_body([b_offer.json()["id"]], name="Brand B test", workspace=brand_b),
        headers=v3(scoped),
    )
    assert created.status_code == 201, created.text
    assert created.json()["workspace"] == brand_b
    listed = await http.get("/acme/target/activities", headers=scoped.headers)
    assert [a["name"] for a in listed.json()["activities"]] == ["Brand B test"]
    everything = await http.get("/acme/target/activities", headers=acme.headers)
    assert everything.json()["total"] == 2
    only_b = await http.get(f"/acme/target/activities?workspace={brand_b}", headers=acme.headers)
    assert [a["name"] for a in only_b.json()["activities"]] == ["Brand B test"]
