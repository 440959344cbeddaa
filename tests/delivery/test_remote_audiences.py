"""Activities an SDK cannot decide (profile audiences) are decided by the delivery API, from
the server variant of the stored artifact, while rules.json lists their mboxes as remote."""

from __future__ import annotations

import pytest

from cible.jobs import run_pending
from tests.conftest import Credential, World

pytestmark = pytest.mark.anyio

V3 = "application/vnd.adobe.target.v3+json"


async def _post(world: World, cred: Credential, path: str, body: dict[str, object]) -> int:
    headers = {**cred.headers, "Content-Type": V3, "Accept": V3}
    if "offers" in path:
        headers = cred.headers
    response = await world.http.post(f"/acme/target{path}", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def test_profile_audience_is_decided_server_side(world: World, acme: Credential) -> None:
    gold = await _post(world, acme, "/offers/content", {"name": "gold", "content": "<b>gold</b>"})
    plain = await _post(world, acme, "/offers/content", {"name": "plain", "content": "plain"})
    members = await _post(
        world,
        acme,
        "/audiences",
        {"name": "Gold members", "targetRule": {"profile": "memberLevel", "equals": ["gold"]}},
    )
    await _post(
        world,
        acme,
        "/activities/xt",
        {
            "name": "Member offer",
            "state": "approved",
            "options": [
                {"optionLocalId": 0, "offerId": gold},
                {"optionLocalId": 1, "offerId": plain},
            ],
            "locations": {"mboxes": [{"locationLocalId": 0, "name": "member-box"}]},
            "experiences": [
                {
                    "experienceLocalId": 0,
                    "name": "Gold",
                    "audienceIds": [members],
                    "optionLocations": [{"locationLocalId": 0, "optionLocalId": 0}],
                },
                {
                    "experienceLocalId": 1,
                    "name": "Others",
                    "optionLocations": [{"locationLocalId": 0, "optionLocalId": 1}],
                },
            ],
        },
    )
    assert run_pending(world.database) >= 1

    sdk_artifact = (await world.http.get("/acme/production/v1/rules.json")).json()
    assert "member-box" in sdk_artifact["remoteMboxes"]
    assert "member-box" not in sdk_artifact["rules"]["mboxes"]

    async def content(tnt_id: str, profile: dict[str, str]) -> object:
        request = {
            "context": {"channel": "web"},
            "id": {"tntId": tnt_id},
            "execute": {
                "mboxes": [{"index": 0, "name": "member-box", "profileParameters": profile}]
            },
        }
        response = await world.http.post("/rest/v1/delivery?client=acme&sessionId=s1", json=request)
        assert response.status_code == 200, response.text
        return response.json()["execute"]["mboxes"][0]["options"][0]["content"]

    assert await content("v1.0", {"memberLevel": "gold"}) == "<b>gold</b>"
    assert await content("v2.0", {"memberLevel": "silver"}) == "plain"
    # The profile is durable: the gold member is recognised on a later call without parameters.
    assert await content("v1.0", {}) == "<b>gold</b>"


async def test_regex_audience_is_decided_server_side(world: World, acme: Credential) -> None:
    hit = await _post(world, acme, "/offers/content", {"name": "hit", "content": "sku match"})
    members = await _post(
        world,
        acme,
        "/audiences",
        {"name": "AB skus", "targetRule": {"mbox": "sku", "matchesRegex": ["^AB-[0-9]+$"]}},
    )
    await _post(
        world,
        acme,
        "/activities/xt",
        {
            "name": "Sku offer",
            "state": "approved",
            "options": [{"optionLocalId": 0, "offerId": hit}],
            "locations": {"mboxes": [{"locationLocalId": 0, "name": "sku-box"}]},
            "experiences": [
                {
                    "experienceLocalId": 0,
                    "name": "AB",
                    "audienceIds": [members],
                    "optionLocations": [{"locationLocalId": 0, "optionLocalId": 0}],
                }
            ],
        },
    )
    run_pending(world.database)

    async def options(sku: str) -> object:
        request = {
            "context": {"channel": "web"},
            "id": {"tntId": "v.0"},
            "execute": {"mboxes": [{"index": 0, "name": "sku-box", "parameters": {"sku": sku}}]},
        }
        response = await world.http.post("/rest/v1/delivery?client=acme&sessionId=s2", json=request)
        assert response.status_code == 200, response.text
        return response.json()["execute"]["mboxes"][0].get("options")

    matched = await options("AB-12")
    assert isinstance(matched, list) and matched[0]["content"] == "sku match"
    assert not await options("XY-1")
