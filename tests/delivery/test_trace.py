"""``trace`` in delivery requests: per-mbox reasons, only with a valid authorization token."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import BACKENDS, Credential, World
from tests.delivery import _scenario as sc

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]

DELIVERY = "/rest/v1/delivery?client=acme&sessionId=s1"


@pytest.fixture
async def acme_app(world: World, app: Any, acme: Credential) -> Any:
    sc.install(app, sc.artifact())
    return app


def _body(token: str | None, **profile: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "context": {"channel": "web"},
        "id": {"tntId": "visitor-1.28_0"},
        "execute": {
            "mboxes": [
                {"index": 1, "name": "vip", "profileParameters": profile},
                {"index": 2, "name": "hero", "parameters": {"color": "blue"}},
            ]
        },
    }
    if token is not None:
        body["trace"] = {"authorizationToken": token}
    return body


async def _debug_token(world: World, cred: Credential) -> str:
    response = await world.http.post(
        "/acme/target/authentication/token?authorizationScope=debug_tools", headers=cred.headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["accessToken"])


async def test_trace_explains_each_mbox(acme_app: Any, world: World, acme: Credential) -> None:
    token = await _debug_token(world, acme)
    response = await world.http.post(DELIVERY, json=_body(token, vip="true"))
    assert response.status_code == 200, response.text
    vip, hero = response.json()["execute"]["mboxes"]

    trace = vip["trace"]
    assert trace["artifactVersion"]
    assert trace["profileAfter"]["vip"] == "true"
    assert "vip" not in trace["profileBefore"]
    by_experience = {a["experienceId"]: a for a in trace["activities"]}
    # Experience 0 of XT activity 106 needs the vip audience (profile.vip == "true").
    chosen = by_experience[0]
    assert chosen["activityId"] == 106 and chosen["matched"] is True
    assert chosen["activityName"] == "xt 106"
    assert chosen["values"]["profile.vip"] == "true"
    assert "profile.vip" in str(chosen["condition"])
    # Rules are listed in priority order, each with its position.
    assert [a["order"] for a in trace["activities"]] == sorted(
        a["order"] for a in trace["activities"]
    )

    allocated = [a for a in hero["trace"]["activities"] if a["allocation"] is not None]
    assert allocated, hero["trace"]
    assert all(0 <= a["allocation"] < 100 for a in allocated)
    assert sum(a["matched"] for a in hero["trace"]["activities"]) == 1
    # The experience the trace says was chosen is the one whose offer was delivered.
    (picked,) = [a for a in hero["trace"]["activities"] if a["matched"]]
    assert hero["options"][0]["content"] == {"offer": picked["experienceId"]}
    assert all(a["values"]["allocation"] == a["allocation"] for a in allocated)

    # A visitor outside the audience: the trace says experience 0 was not chosen and why.
    other = await world.http.post(
        DELIVERY, json={**_body(token), "id": {"tntId": "visitor-2.28_0"}}
    )
    vip_trace = other.json()["execute"]["mboxes"][0]["trace"]
    first = {a["experienceId"]: a for a in vip_trace["activities"]}[0]
    assert first["matched"] is False and first["values"]["profile.vip"] is None
    assert first["reason"]


async def test_admin_access_token_is_accepted(
    acme_app: Any, world: World, acme: Credential
) -> None:
    response = await world.http.post(DELIVERY, json=_body(acme.token))
    assert "trace" in response.json()["execute"]["mboxes"][0]


async def test_no_trace_without_a_valid_token(
    acme_app: Any, world: World, acme: Credential
) -> None:
    world.tenant("beta")
    beta = await world.credential("beta", "approver")
    theirs = (
        await world.http.post(
            "/beta/target/authentication/token?authorizationScope=debug_tools",
            headers=beta.headers,
        )
    ).json()["accessToken"]
    profile_token = (
        await world.http.post(
            "/acme/target/authentication/token?authorizationScope=profile_api",
            headers=acme.headers,
        )
    ).json()["accessToken"]
    for token in (theirs, beta.token, profile_token, "forged"):
        response = await world.http.post(DELIVERY, json=_body(token))
        assert response.status_code == 200, response.text
        for mbox in response.json()["execute"]["mboxes"]:
            assert "trace" not in mbox, token
    plain = await world.http.post(DELIVERY, json=_body(None))
    assert all("trace" not in m for m in plain.json()["execute"]["mboxes"])
