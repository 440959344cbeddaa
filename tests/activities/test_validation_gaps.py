"""The validation rules a mutation run over ``activities/abxt/_validate.py`` found untested.

Each case is refused with the field at fault and stores nothing, and its nearest valid variant is
accepted, so a rule that is loosened or tightened by one step fails here.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.activities._kit import ab_body, audience, offer, v3, xt_body
from tests.conftest import BACKENDS, Credential, World, count_rows

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]

METRIC = 32767  # the metricLocalId of ab_body's conversion metric


async def _post(world: World, cred: Credential, kind: str, body: dict[str, Any]) -> Any:
    return await world.http.post(f"/acme/target/activities/{kind}", json=body, headers=v3(cred))


async def _refused(world: World, cred: Credential, kind: str, body: dict[str, Any]) -> list[str]:
    before = count_rows(world.database, "activities")
    response = await _post(world, cred, kind, body)
    assert response.status_code == 400, response.text
    assert count_rows(world.database, "activities") == before
    return [e["message"] for e in response.json()["errors"]]


async def _accepted(world: World, cred: Credential, kind: str, body: dict[str, Any]) -> int:
    response = await _post(world, cred, kind, body)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def test_an_empty_schedule_is_refused(world: World, acme: Credential) -> None:
    a = await offer(world.http, acme, "A")
    same = "2026-03-01T00:00:00Z"
    messages = await _refused(world, acme, "ab", ab_body([a], startsAt=same, endsAt=same))
    assert messages == ["endsAt: must be after startsAt"]
    aid = await _accepted(
        world, acme, "ab", ab_body([a], startsAt=same, endsAt="2026-03-01T00:00:01Z")
    )
    response = await world.http.put(
        f"/acme/target/activities/{aid}/schedule",
        json={"startsAt": same, "endsAt": same},
        headers=acme.headers,
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "endsAt: must be after startsAt"


async def test_auto_allocate_names_an_existing_metric(world: World, acme: Credential) -> None:
    a, b = await offer(world.http, acme, "A"), await offer(world.http, acme, "B")
    body = ab_body([a, b], autoAllocate={"enabled": True, "metricLocalId": METRIC - 1})
    assert await _refused(world, acme, "ab", body) == [
        f"autoAllocate.metricLocalId: no metric {METRIC - 1}"
    ]
    await _accepted(
        world, acme, "ab", ab_body([a, b], autoAllocate={"enabled": True, "metricLocalId": METRIC})
    )


async def test_audiences_of_metrics_and_reporting_audiences_exist(
    world: World, acme: Credential
) -> None:
    a = await offer(world.http, acme, "A")
    gold = audience(world.database, "acme", "Gold")
    body = ab_body([a])
    body["metrics"][0]["mboxes"][0]["audienceIds"] = [gold, 515151]
    body["reportingAudiences"] = [
        {"reportingAudienceLocalId": 0, "audienceId": 626262, "metricLocalId": METRIC}
    ]
    messages = await _refused(world, acme, "ab", body)
    assert sorted(messages) == [
        "metrics[0].mboxes[0].audienceIds[1]: audience 515151 does not exist",
        "reportingAudiences[0].audienceId: audience 626262 does not exist",
    ]
    body["metrics"][0]["mboxes"][0]["audienceIds"] = [gold]
    body["reportingAudiences"][0]["audienceId"] = gold
    await _accepted(world, acme, "ab", body)


async def test_an_ab_experience_without_a_percentage_counts_as_zero(
    world: World, acme: Credential
) -> None:
    a, b = await offer(world.http, acme, "A"), await offer(world.http, acme, "B")
    body = ab_body([a, b])
    body["experiences"][0]["visitorPercentage"] = 100
    del body["experiences"][1]["visitorPercentage"]
    await _accepted(world, acme, "ab", body)
    body["experiences"][0]["visitorPercentage"] = 99
    assert await _refused(world, acme, "ab", body) == [
        "experiences: visitorPercentage must sum to 100 across experiences (99)"
    ]
    single = ab_body([a])
    del single["experiences"][0]["visitorPercentage"]
    assert await _refused(world, acme, "ab", single) == [
        "experiences: visitorPercentage must sum to 100 across experiences (0)"
    ]


async def test_an_audience_of_another_workspace_is_refused(world: World, acme: Credential) -> None:
    created = await world.http.post(
        "/acme/target/workspaces", json={"name": "Other"}, headers=acme.headers
    )
    assert created.status_code == 201, created.text
    other = str(created.json()["id"])
    response = await world.http.post(
        "/acme/target/offers/content",
        json={"name": "There", "content": "<p>x</p>", "workspace": other},
        headers=acme.headers,
    )
    assert response.status_code == 201, response.text
    there = int(response.json()["id"])
    here = audience(world.database, "acme", "Default-workspace audience")
    body = xt_body([there, there], [here], workspace=other)
    assert await _refused(world, acme, "xt", body) == [
        f"experiences[0].audienceIds[0]: audience {here} is in another workspace"
    ]
