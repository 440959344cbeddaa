"""Event tokens are signed with a key per tenant; a rotation keeps old tokens counting for the
grace the retired key has (issue 13)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from cible.activities.publish import request_rebuild
from cible.artifacts import decode_event_token, event_token
from cible.cli import app as cli_app
from cible.config import get_settings
from cible.delivery.notify_plausible import Plausibility
from cible.engine import EXTRA_KEY, load_artifact
from cible.jobs import run_pending
from cible.store import Database
from cible.tenants import keys
from cible.tenants import service as tenants
from cible.tenants.event_keys import event_token_keys
from tests.activities._kit import ab_body, offer, pending_rebuilds, v3
from tests.conftest import Credential, FakeClock, World

TTL = 3600


def test_keys_differ_per_tenant_and_rotate(database: Database, clock: FakeClock) -> None:
    with database.session() as s:
        one, two = event_token_keys(s, 1, now=clock()), event_token_keys(s, 2, now=clock())
    assert len(one) == len(two) == 1 and one != two
    token = event_token(7, 1, secret=one[0])
    assert decode_event_token(token, secret=one[0]) is not None
    assert decode_event_token(token, secret=two[0]) is None
    assert decode_event_token(token) is None  # nor with the public key
    with database.session() as s:
        keys.rotate(s, now=clock(), grace_seconds=TTL)
    with database.session() as s:
        rotated = event_token_keys(s, 1, now=clock())
    assert rotated[1:] == one and rotated[0] != one[0]  # the new key signs, the old verifies
    clock.advance(seconds=TTL + 1)
    with database.session() as s:
        assert event_token_keys(s, 1, now=clock()) == rotated[:1]


async def _approved(http: httpx.AsyncClient, cred: Credential, tenant: str) -> int:
    offers = [await offer(http, cred, f"{tenant}-{i}", tenant=tenant) for i in range(2)]
    response = await http.post(
        f"/{tenant}/target/activities/ab",
        json=ab_body(offers, state="approved"),
        headers=v3(cred),
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _rules(http: httpx.AsyncClient, tenant: str) -> dict[str, Any]:
    response = await http.get(f"/{tenant}/production/v1/rules.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _token_for(artifact: dict[str, Any], activity: int, visitor: str, client: str) -> str:
    """The event token the artifact gives this visitor in ``activity`` (his allocation)."""
    check = Plausibility(load_artifact(artifact))
    for rule in artifact["rules"]["mboxes"]["hero"]:
        experience = rule["meta"]["experience.id"]
        if check.allows(activity, experience, assigned={}, visitor_id=visitor, client=client):
            token: str = rule["consequence"]["options"][0]["eventToken"]
            return token
    raise AssertionError("no experience for the visitor")


async def _notify(http: httpx.AsyncClient, tenant: str, visitor: str, nid: str, token: str) -> bool:
    response = await http.post(
        f"/rest/v1/delivery?client={tenant}&sessionId=s-{nid}",
        json={
            "id": {"tntId": f"{visitor}.0"},
            "context": {"channel": "web"},
            "notifications": [
                {
                    "id": nid,
                    "type": "display",
                    "timestamp": 1_767_225_600_000,
                    "mbox": {"name": "hero"},
                    "tokens": [token],
                }
            ],
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    counted = [n["id"] for n in body["notifications"]] == [nid]
    assert counted != bool((body.get(EXTRA_KEY) or {}).get("rejectedNotifications"))
    return counted


@pytest.mark.anyio
async def test_tokens_are_the_tenants_own_and_survive_a_rotation(
    world: World, acme: Credential, clock: FakeClock, app: Any
) -> None:
    world.tenant("beta")
    beta = await world.credential("beta", "approver")
    acme_activity = await _approved(world.http, acme, "acme")
    await _approved(world.http, beta, "beta")
    assert run_pending(world.database) == 2
    rules = await _rules(world.http, "acme")
    token = _token_for(rules, acme_activity, "vera", "acme")
    with world.database.session() as s:
        acme_id = tenants.get_tenant(s, "acme").id
        beta_id = tenants.get_tenant(s, "beta").id
        acme_keys = event_token_keys(s, acme_id, now=clock())
        beta_keys = event_token_keys(s, beta_id, now=clock())
    pair = decode_event_token(token, secret=acme_keys[0])
    assert pair is not None and pair.activity_id == acme_activity
    assert decode_event_token(token) is None  # not the public key's

    assert await _notify(world.http, "acme", "vera", "n-1", token)
    # The same experience's token, minted with beta's key (or the public one): not acme's.
    same = (pair.activity_id, pair.experience_local_id)
    assert not await _notify(
        world.http, "acme", "vera", "n-2", event_token(*same, secret=beta_keys[0])
    )
    assert not await _notify(world.http, "acme", "vera", "n-3", event_token(*same))

    # A rotation: rebuilt artifacts carry new tokens, the old one still counts during the grace.
    with world.database.session() as s:
        keys.rotate(s, now=clock(), grace_seconds=TTL)
        for tenant_id in (acme_id, beta_id):
            request_rebuild(s, tenant_id)
    run_pending(world.database)
    app.state.delivery.token_keys.refresh_seconds = 0  # read the keys at every call
    rotated = _token_for(await _rules(world.http, "acme"), acme_activity, "vera", "acme")
    assert rotated != token
    app.state.delivery.source.refresh_seconds = 0
    assert await _notify(world.http, "acme", "vera", "n-4", rotated)
    assert await _notify(world.http, "acme", "vera", "n-5", token)
    clock.advance(seconds=TTL + 1)
    assert await _notify(world.http, "acme", "vera", "n-6", rotated)
    assert not await _notify(world.http, "acme", "vera", "n-7", token)  # retired with its key


def test_cli_rotate_rebuilds_every_tenants_artifacts(
    database_url: str, database: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with database.session() as s:
        for code in ("acme", "beta"):
            tenants.create_tenant(s, code)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CIBLE_DATABASE_URL", database_url)
    monkeypatch.delenv("CIBLE_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    try:
        rotated = CliRunner().invoke(cli_app, ["keys", "rotate", "--json"])
    finally:
        get_settings.cache_clear()
    assert rotated.exit_code == 0, rotated.stderr
    assert json.loads(rotated.stdout)["retiresAt"] is None
    with database.session() as s:
        ids = {tenants.get_tenant(s, code).id for code in ("acme", "beta")}
    assert {job["tenantId"] for job in pending_rebuilds(database)} == ids
