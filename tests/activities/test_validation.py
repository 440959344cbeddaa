"""Each validation rule answers 400 (or 409) naming the field, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.activities._kit import ab_body, audience, offer, v3, xt_body
from tests.conftest import BACKENDS, Credential, World, count_rows

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]


async def _refused(world: World, cred: Credential, kind: str, body: dict[str, Any]) -> list[str]:
    before = (
        count_rows(world.database, "activities"),
        count_rows(world.database, "activity_changes"),
    )
    response = await world.http.post(f"/acme/target/activities/{kind}", json=body, headers=v3(cred))
    assert response.status_code in (400, 409), response.text
    after = count_rows(world.database, "activities"), count_rows(world.database, "activity_changes")
    assert after == before
    return [e["message"] for e in response.json()["errors"]]


def _experience(body: dict[str, Any], index: int) -> dict[str, Any]:
    exp: dict[str, Any] = body["experiences"][index]
    return exp


async def test_local_ids_resolve_and_are_unique(world: World, acme: Credential) -> None:
    a, b = await offer(world.http, acme, "A"), await offer(world.http, acme, "B")
    body = ab_body([a, b])
    _experience(body, 1)["optionLocations"][0]["optionLocalId"] = 7
    _experience(body, 0)["optionLocations"][0]["locationLocalId"] = 3
    messages = await _refused(world, acme, "ab", body)
    assert any(
        m.startswith("experiences[1].optionLocations[0].optionLocalId: no option 7")
        for m in messages
    )
    assert any(m.startswith("experiences[0].optionLocations[0].locationLocalId") for m in messages)

    body = ab_body([a, b])
    body["options"][1]["optionLocalId"] = 0
    _experience(body, 1)["experienceLocalId"] = 0
    messages = await _refused(world, acme, "ab", body)
    assert any(
        m.startswith("options[1].optionLocalId: optionLocalId 0 is used twice") for m in messages
    )
    assert any(m.startswith("experiences[1].experienceLocalId") for m in messages)

    body = ab_body(
        [a],
        reportingAudiences=[{"reportingAudienceLocalId": 0, "audienceId": 1, "metricLocalId": 5}],
    )
    messages = await _refused(world, acme, "ab", body)
    assert any(m.startswith("reportingAudiences[0].metricLocalId: no metric 5") for m in messages)


async def test_ab_percentages_sum_to_100(world: World, acme: Credential) -> None:
    a, b = await offer(world.http, acme, "A"), await offer(world.http, acme, "B")
    body = ab_body([a, b])
    _experience(body, 1)["visitorPercentage"] = 40
    messages = await _refused(world, acme, "ab", body)
    assert messages == ["experiences: visitorPercentage must sum to 100 across experiences (90)"]
    _experience(body, 1)["visitorPercentage"] = 101
    messages = await _refused(world, acme, "ab", body)
    assert messages[0].startswith("experiences[1].visitorPercentage")
    messages = await _refused(world, acme, "ab", ab_body([a], experiences=[]))
    assert messages == ["experiences: an activity needs at least one experience"]


async def test_xt_experiences_need_audiences_but_the_last(world: World, acme: Credential) -> None:
    gold = audience(world.database, "acme", "Gold")
    a, b = await offer(world.http, acme, "A"), await offer(world.http, acme, "B")
    body = xt_body([a, b], [gold])
    body["experiences"].reverse()
    messages = await _refused(world, acme, "xt", body)
    assert messages == [
        "experiences[0].audienceIds: "
        "only the last experience of an XT activity may have no audience"
    ]
    body = xt_body([a, b], [gold], autoAllocate={"enabled": True})
    assert await _refused(world, acme, "xt", body) == [
        "autoAllocate: only A/B activities allocate automatically"
    ]


async def test_offers_and_audiences_exist_in_the_workspace(world: World, acme: Credential) -> None:
    a = await offer(world.http, acme, "A")
    body = ab_body([a, 99999])
    _experience(body, 0)["audienceIds"] = [424242]
    messages = await _refused(world, acme, "ab", body)
    assert "options[1].offerId: offer 99999 does not exist" in messages
    assert "experiences[0].audienceIds[0]: audience 424242 does not exist" in messages

    created = await world.http.post(
        "/acme/target/workspaces", json={"name": "Other"}, headers=acme.headers
    )
    if created.status_code != 201:
        pytest.skip(f"workspaces API unavailable: {created.status_code}")
    other = str(created.json()["id"])
    messages = await _refused(world, acme, "ab", ab_body([a], workspace=other))
    assert messages == [f"options[0].offerId: offer {a} is in another workspace"]


async def test_schedule_priority_name_third_party_id(world: World, acme: Credential) -> None:
    a = await offer(world.http, acme, "A")
    messages = await _refused(
        world, acme, "ab", ab_body([a], startsAt="2026-03-01T00:00Z", endsAt="2026-02-01")
    )
    assert messages == ["endsAt: must be after startsAt"]
    messages = await _refused(world, acme, "ab", ab_body([a], startsAt="next tuesday"))
    assert messages[0].startswith("startsAt: not a date")
    messages = await _refused(world, acme, "ab", ab_body([a], priority=1000))
    assert messages[0].startswith("priority")
    messages = await _refused(world, acme, "ab", ab_body([a], name=""))
    assert messages[0].startswith("name")
    messages = await _refused(world, acme, "ab", ab_body([a], name="x" * 251))
    assert messages[0].startswith("name")

    first = await world.http.post(
        "/acme/target/activities/ab", json=ab_body([a], thirdPartyId="ext-1"), headers=v3(acme)
    )
    assert first.status_code == 201
    response = await world.http.post(
        "/acme/target/activities/xt",
        json=xt_body([a], [], thirdPartyId="ext-1"),
        headers=v3(acme),
    )
    assert response.status_code == 409
    assert response.json()["errors"][0]["message"].startswith("thirdPartyId:")
    assert count_rows(world.database, "activities") == 1

    aid = first.json()["id"]
    for path, body, field in [
        ("priority", {"priority": -1}, "priority"),
        ("schedule", {"startsAt": "2026-05-01", "endsAt": "2026-04-01"}, "endsAt"),
        ("name", {"name": ""}, "name"),
        ("state", {"state": "live"}, "state"),
    ]:
        r = await world.http.put(
            f"/acme/target/activities/{aid}/{path}", json=body, headers=acme.headers
        )
        assert r.status_code == 400, (path, r.text)
        assert r.json()["errors"][0]["message"].startswith(field)
    assert count_rows(world.database, "activity_changes") == 1


async def test_deleted_offer_blocks_approval(world: World, acme: Credential) -> None:
    a, b = await offer(world.http, acme, "A"), await offer(world.http, acme, "B")
    created = await world.http.post(
        "/acme/target/activities/ab", json=ab_body([a, b]), headers=v3(acme)
    )
    aid = created.json()["id"]
    deleted = await world.http.delete(f"/acme/target/offers/content/{b}", headers=acme.headers)
    assert deleted.status_code == 200
    response = await world.http.put(
        f"/acme/target/activities/{aid}/state", json={"state": "approved"}, headers=acme.headers
    )
    assert response.status_code == 409
    message = response.json()["errors"][0]["message"]
    assert message.startswith("options[1].offerId:") and f"offer {b} does not exist" in message
    read = await world.http.get(f"/acme/target/activities/ab/{aid}", headers=acme.headers)
    assert read.json()["state"] == "saved"


async def test_offer_used_by_an_approved_activity_cannot_be_deleted(
    world: World, acme: Credential
) -> None:
    a = await offer(world.http, acme, "A")
    created = await world.http.post(
        "/acme/target/activities/ab", json=ab_body([a], state="approved"), headers=v3(acme)
    )
    assert created.status_code == 201, created.text
    aid = created.json()["id"]
    refused = await world.http.delete(f"/acme/target/offers/content/{a}", headers=acme.headers)
    assert refused.status_code == 409
    assert f"approved activity {aid}" in refused.json()["errors"][0]["message"]
    assert count_rows(world.database, "offers") == 1
    await world.http.put(
        f"/acme/target/activities/{aid}/state", json={"state": "deactivated"}, headers=acme.headers
    )
    allowed = await world.http.delete(f"/acme/target/offers/content/{a}", headers=acme.headers)
    assert allowed.status_code == 200


async def test_uncompilable_audience_blocks_approval(world: World, acme: Credential) -> None:
    a = await offer(world.http, acme, "A")
    odd = audience(world.database, "acme", "Odd", {"mbox": "tier", "equals": ["a"], "exists": []})
    body = ab_body([a])
    _experience(body, 0)["audienceIds"] = [odd]
    created = await world.http.post("/acme/target/activities/ab", json=body, headers=v3(acme))
    assert created.status_code == 201, created.text
    aid = created.json()["id"]
    r = await world.http.put(
        f"/acme/target/activities/{aid}/state", json={"state": "approved"}, headers=acme.headers
    )
    assert r.status_code == 409
    assert f"audiences[{odd}].targetRule" in r.json()["errors"][0]["message"]
    assert count_rows(world.database, "jobs") == 0
