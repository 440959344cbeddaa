"""Segments in targeting, end to end: segments appear as read-only Target audiences, DCS calls
qualify a visitor, and his next delivery call gets the activity targeted at the segment, resolved
server-side by his ECID or declared id (never from a list the client sends)."""

from __future__ import annotations

from typing import Any

import pytest

from cible.jobs import run_pending
from tests.conftest import Credential, World
from tests.dmp._kit import Aam

pytestmark = pytest.mark.anyio

V3 = "application/vnd.adobe.target.v3+json"
ECID = "12345678901234567890123456789012345678"
OTHER_ECID = "22345678901234567890123456789012345678"


async def _admin(world: World, cred: Credential, method: str, path: str, body: Any = None) -> Any:
    headers = {**cred.headers, "Content-Type": V3, "Accept": V3}
    if "offers" in path:
        headers = cred.headers
    response = await world.http.request(method, f"/acme/target{path}", json=body, headers=headers)
    return response


async def _audience_of(world: World, cred: Credential, sid: int) -> dict[str, Any]:
    response = await _admin(world, cred, "GET", "/audiences?origin=cloud")
    assert response.status_code == 200, response.text
    found = [a for a in response.json()["audiences"] if a["name"] == f"segment {sid}"]
    assert len(found) == 1, response.json()
    return dict(found[0])


async def _activity(world: World, cred: Credential, audience_id: int, kind: str) -> None:
    hit = await _admin(world, cred, "POST", "/offers/content", {"name": "vip", "content": "VIP"})
    miss = await _admin(world, cred, "POST", "/offers/content", {"name": "all", "content": "ALL"})
    hit_id, miss_id = hit.json()["id"], miss.json()["id"]
    experiences: list[dict[str, Any]] = [
        {
            "experienceLocalId": 0,
            "name": "Segment members",
            "audienceIds": [audience_id],
            "optionLocations": [{"locationLocalId": 0, "optionLocalId": 0}],
        },
        {
            "experienceLocalId": 1,
            "name": "Everyone else",
            "optionLocations": [{"locationLocalId": 0, "optionLocalId": 1}],
        },
    ]
    body: dict[str, Any] = {
        "name": f"Segment {kind}",
        "state": "approved",
        "options": [
            {"optionLocalId": 0, "offerId": hit_id},
            {"optionLocalId": 1, "offerId": miss_id},
        ],
        "locations": {"mboxes": [{"locationLocalId": 0, "name": "hero"}]},
        "experiences": experiences,
    }
    if kind == "ab":
        # An A/B activity whose one experience is targeted at the segment: only its members
        # enter it.
        body["experiences"] = [experiences[0] | {"visitorPercentage": 100}]
    response = await _admin(world, cred, "POST", f"/activities/{kind}", body)
    assert response.status_code == 201, response.text
    assert run_pending(world.database) >= 1


async def _content(world: World, ids: dict[str, Any], extra: dict[str, Any] | None = None) -> Any:
    request: dict[str, Any] = {
        "context": {"channel": "web"},
        "id": ids,
        "execute": {"mboxes": [{"index": 0, "name": "hero"}]},
        **(extra or {}),
    }
    response = await world.http.post("/rest/v1/delivery?client=acme&sessionId=s1", json=request)
    assert response.status_code == 200, response.text
    options = response.json()["execute"]["mboxes"][0].get("options") or [{}]
    return options[0].get("content")


async def _taxonomy(world: World, cred: Credential) -> tuple[Aam, int, int]:
    aam = Aam(world.http, cred)
    ds = await aam.data_source(integrationCode="CRM")
    tf = await aam.folder()
    sf = await aam.folder("segments")
    buyer = await aam.trait('c_page == "checkout"', ds, tf)
    sid = await aam.segment(f"frequency([{buyer}T]) >= 2", ds, sf, name="placeholder")
    rule = f"frequency([{buyer}T]) >= 2"
    body = {"name": f"segment {sid}", "segmentRule": rule, "dataSourceId": ds, "folderId": sf}
    await aam.call("PUT", f"/v1/segments/{sid}", body)
    return aam, ds, sid


async def test_segment_is_a_read_only_cloud_audience(world: World, acme: Credential) -> None:
    aam, _, sid = await _taxonomy(world, acme)
    audience = await _audience_of(world, acme, sid)
    assert audience["origin"] == "cloud"
    full = await _admin(world, acme, "GET", f"/audiences/{audience['id']}")
    assert full.json()["targetRule"] == {"segments": "ids", "contains": [str(sid)]}
    targets = (await _admin(world, acme, "GET", "/audiences?origin=target")).json()
    assert all(a["origin"] == "target" for a in targets["audiences"])
    body = {"name": "renamed", "targetRule": {"profile": "a", "equals": ["b"]}}
    for method, payload in (("PUT", body), ("PATCH", {"name": "x"}), ("DELETE", None)):
        response = await _admin(world, acme, method, f"/audiences/{audience['id']}", payload)
        assert response.status_code == 403, response.text
        assert response.json()["errors"][0]["errorCode"] == "Forbidden"
    # Unchanged by the refused calls; deleting the segment deletes its audience.
    assert (await _audience_of(world, acme, sid))["name"] == f"segment {sid}"
    await aam.call("DELETE", f"/v1/segments/{sid}", expect=204)
    left = (await _admin(world, acme, "GET", "/audiences?origin=cloud")).json()
    assert left["audiences"] == []


@pytest.mark.parametrize("kind", ["xt", "ab"])
async def test_dcs_qualification_reaches_the_next_delivery_call(
    world: World, acme: Credential, kind: str
) -> None:
    aam, _, sid = await _taxonomy(world, acme)
    audience = await _audience_of(world, acme, sid)
    await _activity(world, acme, int(audience["id"]), kind)
    sdk = (await world.http.get("/acme/production/v1/rules.json")).json()
    assert "hero" in sdk["remoteMboxes"]  # decided server-side, as Adobe's remote activities
    before = "ALL" if kind == "xt" else None

    by_ecid = {"marketingCloudVisitorId": ECID}
    # A client-sent segment list is ignored: only the server's resolution counts.
    claimed = {"experienceCloud": {"audienceManager": {"segments": [str(sid)]}}}
    assert await _content(world, by_ecid, claimed) == before
    assert await _content(world, {"marketingCloudVisitorId": OTHER_ECID}, claimed) == before

    # Two checkout signals with the visitor's ECID and his CRM id qualify his device.
    query = {"c_page": "checkout", "d_mid": ECID, "d_cid_ic": "CRM\x01user-7\x011"}
    first = (await aam.event(query)).json()
    assert sid not in first["segments"]
    uuid = first["uuid"]
    second = (await aam.event({"c_page": "checkout"}, uuid=uuid)).json()
    assert sid in second["segments"]

    # The visitor's next call (his state is cached from the call above) sees the segment.
    assert await _content(world, by_ecid, claimed) == "VIP"
    assert await _content(world, by_ecid) == "VIP"
    crm = {
        "customerIds": [
            {"id": "user-7", "integrationCode": "CRM", "authenticatedState": "authenticated"}
        ]
    }
    assert await _content(world, crm) == "VIP"
    by_uuid = {"experienceCloud": {"audienceManager": {"uuid": uuid, "locationHint": 7}}}
    assert await _content(world, {"tntId": "t-9.0"}, by_uuid) == "VIP"
    # Someone else claiming the segment still does not get it.
    assert await _content(world, {"marketingCloudVisitorId": OTHER_ECID}, claimed) == before


async def test_privacy_export_and_delete_cover_the_audience_manager(
    world: World, acme: Credential
) -> None:
    aam, ds, sid = await _taxonomy(world, acme)
    crm = await aam.data_source(
        "CRM login", integrationCode="LOGIN", idType="CROSS_DEVICE", useAuthenticatedProfile=True
    )
    query = {"c_page": "checkout", "d_mid": ECID, "d_cid_ic": "LOGIN\x01user-7\x011"}
    uuid = (await aam.event(query)).json()["uuid"]
    # Another device (the client's demdex cookie would name the first one).
    other = "3" * 38
    await aam.event({"c_page": "checkout", "d_mid": OTHER_ECID}, uuid=other)
    url = "/acme/target/privacy/visitor"
    by_ecid = {"id": ECID, "kind": "marketingCloudVisitorId"}
    exported = (await world.http.get(url, params=by_ecid, headers=acme.headers)).json()
    (device,) = exported["audienceManager"]
    assert device["uuid"] == uuid and list(device["traits"]) != []
    by_login = {"id": "user-7", "kind": "customerId:LOGIN"}
    exported = (await world.http.get(url, params=by_login, headers=acme.headers)).json()
    found = {d["uuid"] for d in exported["audienceManager"]}
    # The device the login was declared on, and the login's authenticated profile.
    assert uuid in found and any(u.startswith("A") for u in found) and len(found) == 2
    assert crm and ds

    deleted = await world.http.delete(url, params=by_login, headers=acme.headers)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["deleted"]["audienceManager"] == 2
    for params in (by_ecid, by_login):
        again = (await world.http.get(url, params=params, headers=acme.headers)).json()
        assert again["audienceManager"] == []
    # The other visitor keeps his data.
    kept = {"id": OTHER_ECID, "kind": "marketingCloudVisitorId"}
    exported = (await world.http.get(url, params=kept, headers=acme.headers)).json()
    assert [d["uuid"] for d in exported["audienceManager"]] == [other]
    assert sid


def test_the_segment_cache_is_bounded_by_the_bytes_its_snapshots_hold() -> None:
    from cible.dmp.merge import Profiles
    from cible.dmp.qualify import DeviceState
    from cible.dmp.targeting import AamIds, SegmentCache, Snapshot

    def snapshot(traits: int) -> Snapshot:
        state = DeviceState({sid: [1, [0, 1, 2]] for sid in range(traits)}, {})
        return Snapshot(None, Profiles(device=(state,)))

    def ids(n: int) -> AamIds:
        return AamIds(devices=(("uuid", f"{n:038d}"),))

    cache = SegmentCache(max_entries=1000, max_bytes=60_000)
    for n in range(4):
        cache.put(1, ids(n), snapshot(100))  # about 14 kB each
    assert len(cache) == 4 and cache.bytes <= cache.max_bytes
    cache.put(1, ids(9), snapshot(150))  # the oldest entries make room
    assert cache.get(1, ids(0)) is None and cache.get(1, ids(9)) is not None
    assert cache.bytes <= cache.max_bytes
    cache.put(1, ids(10), snapshot(5000))  # heavier than the whole cache: not kept
    assert cache.get(1, ids(10)) is None and cache.get(1, ids(9)) is not None
    before = cache.bytes
    cache.put(1, ids(9), snapshot(1))  # replacing an entry replaces its weight
    assert cache.bytes < before
    cache.forget(1, ids(9))
    cache.clear()
    assert len(cache) == 0 and cache.bytes == 0
