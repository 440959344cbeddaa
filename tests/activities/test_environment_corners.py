"""Environments: ``/environments/defaults`` and deleting an environment activities still name."""

from __future__ import annotations

import pytest

from tests.activities._kit import ab_body, offer, v1, v3
from tests.conftest import BACKENDS, Credential, World

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]


async def _environments(world: World, cred: Credential, tenant: str = "acme") -> dict[str, int]:
    listed = await world.http.get(f"/{tenant}/target/environments", headers=v1(cred))
    assert listed.status_code == 200, listed.text
    return {e["name"]: e["id"] for e in listed.json()["environments"]}


async def test_defaults_read_and_move(world: World, acme: Credential) -> None:
    envs = await _environments(world, acme)
    got = await world.http.get("/acme/target/environments/defaults", headers=v1(acme))
    assert got.status_code == 200, got.text
    assert got.json() == {
        "reportingEnvironmentId": envs["Production"],
        "newHostEnvironmentId": envs["Production"],
    }

    moved = await world.http.put(
        "/acme/target/environments/defaults",
        json={"newHostEnvironmentId": envs["Staging"]},
        headers=v1(acme),
    )
    assert moved.status_code == 200, moved.text
    assert moved.json() == {
        "reportingEnvironmentId": envs["Production"],
        "newHostEnvironmentId": envs["Staging"],
    }
    moved = await world.http.put(
        "/acme/target/environments/defaults",
        json={"reportingEnvironmentId": envs["Development"]},
        headers=v1(acme),
    )
    assert moved.json()["reportingEnvironmentId"] == envs["Development"]
    # The reporting default is the environment flagged "default" in the list.
    one = await world.http.get(f"/acme/target/environments/{envs['Development']}", headers=v1(acme))
    assert one.json()["default"] is True
    again = await world.http.get("/acme/target/environments/defaults", headers=v1(acme))
    assert again.json() == {
        "reportingEnvironmentId": envs["Development"],
        "newHostEnvironmentId": envs["Staging"],
    }

    # The reporting default cannot be deleted; deleting the new-hosts default hands new hosts
    # back to the reporting default.
    refused = await world.http.delete(
        f"/acme/target/environments/{envs['Development']}", headers=v1(acme)
    )
    assert refused.status_code == 409, refused.text
    deleted = await world.http.delete(
        f"/acme/target/environments/{envs['Staging']}", headers=v1(acme)
    )
    assert deleted.status_code == 200, deleted.text
    after = await world.http.get("/acme/target/environments/defaults", headers=v1(acme))
    assert after.json() == {
        "reportingEnvironmentId": envs["Development"],
        "newHostEnvironmentId": envs["Development"],
    }


async def test_defaults_refuse_unknown_environments_and_change_nothing(
    world: World, acme: Credential
) -> None:
    world.tenant("beta")
    beta = await world.credential("beta", "approver")
    theirs = (await _environments(world, beta, "beta"))["Staging"]
    before = (await world.http.get("/acme/target/environments/defaults", headers=v1(acme))).json()

    for body in (
        {"reportingEnvironmentId": 999_999},
        {"newHostEnvironmentId": theirs},
        {"reportingEnvironmentId": "x"},
        {"unknown": 1},
    ):
        refused = await world.http.put(
            "/acme/target/environments/defaults", json=body, headers=v1(acme)
        )
        assert refused.status_code == 400, (body, refused.text)
        assert refused.json()["errors"]
    after = (await world.http.get("/acme/target/environments/defaults", headers=v1(acme))).json()
    assert after == before
    observer = await world.credential("acme", "observer")
    denied = await world.http.put(
        "/acme/target/environments/defaults",
        json={"newHostEnvironmentId": before["reportingEnvironmentId"]},
        headers=v1(observer),
    )
    assert denied.status_code == 403


async def test_deleting_an_environment_an_activity_names_is_a_409(
    world: World, acme: Credential
) -> None:
    created = await world.http.post(
        "/acme/target/environments", json={"name": "Preprod"}, headers=v1(acme)
    )
    env_id = created.json()["id"]
    o = await offer(world.http, acme, "a")
    body = ab_body([o]) | {"environmentIds": [env_id]}
    activity = await world.http.post("/acme/target/activities/ab", json=body, headers=v3(acme))
    assert activity.status_code == 201, activity.text
    activity_id = activity.json()["id"]

    refused = await world.http.delete(f"/acme/target/environments/{env_id}", headers=v1(acme))
    assert refused.status_code == 409, refused.text
    message = refused.json()["errors"][0]["message"]
    assert str(activity_id) in message and "environmentIds" in message
    still = await world.http.get(f"/acme/target/environments/{env_id}", headers=v1(acme))
    assert still.status_code == 200

    # Once no activity names it, it can go (a deleted activity no longer counts).
    gone = await world.http.delete(f"/acme/target/activities/ab/{activity_id}", headers=v3(acme))
    assert gone.status_code == 200, gone.text
    deleted = await world.http.delete(f"/acme/target/environments/{env_id}", headers=v1(acme))
    assert deleted.status_code == 200, deleted.text
