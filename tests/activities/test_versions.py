"""v1 (Adobe's 2017 shape) and v3 of A/B activities: conversion both ways and the 406s."""

from __future__ import annotations

import pytest

from tests.activities._kit import V1, V3, ab_body, offer, v1, v3
from tests.conftest import BACKENDS, Credential, World, count_rows

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]


def legacy_body(a: int, b: int) -> dict[str, object]:
    return {
        "name": "Legacy test",
        "locations": {
            "mboxes": [
                {"locationLocalId": 0, "name": "hero"},
                {"locationLocalId": 1, "name": "footer"},
            ]
        },
        "experiences": [
            {
                "experienceLocalId": 0,
                "name": "A",
                "visitorPercentage": 34,
                "offerLocations": [
                    {"locationLocalId": 0, "offerId": a},
                    {"locationLocalId": 1, "offerId": b},
                ],
            },
            {
                "experienceLocalId": 1,
                "name": "B",
                "visitorPercentage": 66,
                "offerLocations": [{"locationLocalId": 0, "offerId": b}],
            },
        ],
        "autoAllocateTraffic": {"enabled": True, "successEvaluationCriteria": "rpv"},
    }


async def test_v1_body_converts_to_v3_and_back(world: World, acme: Credential) -> None:
    a, b = await offer(world.http, acme, "A"), await offer(world.http, acme, "B")
    created = await world.http.post(
        "/acme/target/activities/ab", json=legacy_body(a, b), headers=v1(acme)
    )
    assert created.status_code == 201, created.text
    assert created.headers["content-type"] == V1
    legacy = created.json()
    assert "options" not in legacy
    assert (
        legacy["experiences"][0]["offerLocations"]
        == legacy_body(a, b)["experiences"][0]["offerLocations"]
    )  # type: ignore[index]
    assert legacy["autoAllocateTraffic"] == {"enabled": True, "successEvaluationCriteria": "rpv"}
    aid = legacy["id"]

    modern = (
        await world.http.get(
            f"/acme/target/activities/ab/{aid}", headers={**acme.headers, "Accept": V3}
        )
    ).json()
    assert modern["options"] == [
        {"optionLocalId": 0, "offerId": a},
        {"optionLocalId": 1, "offerId": b},
    ]
    assert modern["experiences"][0]["optionLocations"] == [
        {"locationLocalId": 0, "optionLocalId": 0},
        {"locationLocalId": 1, "optionLocalId": 1},
    ]
    assert modern["experiences"][1]["optionLocations"] == [
        {"locationLocalId": 0, "optionLocalId": 1}
    ]
    assert modern["autoAllocate"] == {"enabled": True, "successEvaluationCriteria": "rpv"}
    assert "offerLocations" not in modern["experiences"][0]

    # A v3 activity read as v1 (plain JSON is v1).
    created3 = await world.http.post(
        "/acme/target/activities/ab", json=ab_body([a, b]), headers=v3(acme)
    )
    as_v1 = await world.http.get(
        f"/acme/target/activities/ab/{created3.json()['id']}", headers=acme.headers
    )
    assert as_v1.headers["content-type"] == V1
    assert as_v1.json()["experiences"][1]["offerLocations"] == [
        {"locationLocalId": 0, "offerId": b}
    ]

    # GET as v1, edit, PUT as v1.
    legacy["experiences"][1]["offerLocations"] = [{"locationLocalId": 0, "offerId": a}]
    put = await world.http.put(f"/acme/target/activities/ab/{aid}", json=legacy, headers=v1(acme))
    assert put.status_code == 200, put.text
    assert put.json()["experiences"][1]["offerLocations"] == [{"locationLocalId": 0, "offerId": a}]


async def test_v1_errors_name_v1_fields(world: World, acme: Credential) -> None:
    a = await offer(world.http, acme, "A")
    body = legacy_body(a, 99999)
    r = await world.http.post("/acme/target/activities/ab", json=body, headers=v1(acme))
    assert r.status_code == 400
    assert r.json()["errors"][0]["message"].startswith("experiences[0].offerLocations[1].offerId:")


async def test_bodies_of_the_other_version_are_406(world: World, acme: Credential) -> None:
    a, b = await offer(world.http, acme, "A"), await offer(world.http, acme, "B")
    v3_as_v1 = await world.http.post(
        "/acme/target/activities/ab", json=ab_body([a, b]), headers=v1(acme)
    )
    assert v3_as_v1.status_code == 406
    assert v3_as_v1.json()["errors"][0]["errorCode"] == "Unsupported.Feature"
    v1_as_v3 = await world.http.post(
        "/acme/target/activities/ab", json=legacy_body(a, b), headers=v3(acme)
    )
    assert v1_as_v3.status_code == 406
    # Plain application/json is v1.
    plain = await world.http.post(
        "/acme/target/activities/ab", json=ab_body([a, b]), headers=acme.headers
    )
    assert plain.status_code == 406
    # Versions not served.
    v2 = {**acme.headers, "Content-Type": "application/vnd.adobe.target.v2+json"}
    assert (
        await world.http.post("/acme/target/activities/ab", json=ab_body([a]), headers=v2)
    ).status_code == 406
    state_v3 = await world.http.put(
        "/acme/target/activities/1/state", json={"state": "saved"}, headers=v3(acme)
    )
    assert state_v3.status_code == 406
    assert count_rows(world.database, "activities") == 0
