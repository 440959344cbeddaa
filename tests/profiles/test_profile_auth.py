"""Profile API authentication (Adobe's per-tenant "Require Authentication") and its tokens."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from cible.cli import app as cli_app
from cible.config import get_settings
from tests.conftest import BACKENDS, Credential, FakeClock, World
from tests.delivery import _scenario as sc

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]

DELIVERY = "/rest/v1/delivery?client=acme&sessionId=s1"
TOKEN = "/{tenant}/target/authentication/token"


@pytest.fixture
async def acme_app(world: World, app: Any, acme: Credential) -> Any:
    sc.install(app, sc.artifact())
    return app


async def _token(world: World, cred: Credential, scope: str, tenant: str = "acme") -> str:
    response = await world.http.post(
        f"{TOKEN.format(tenant=tenant)}?authorizationScope={scope}", headers=cred.headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["scope"] == scope and body["tokenType"] == "bearer"
    assert body["expiresIn"] == 86_400
    return str(body["accessToken"])


def _require_auth(database_url: str, state: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Turns the setting on or off through the CLI, as an operator would."""
    monkeypatch.setenv("CIBLE_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli_app, ["tenants", "profile-auth", "acme", state, "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert '"profileApiAuthentication": ' + ("true" if state == "on" else "false") in result.output


async def test_profile_routes_need_a_profile_api_token_when_required(
    acme_app: Any,
    world: World,
    acme: Credential,
    database_url: str,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    http = world.http
    body = {"context": {"channel": "web"}, "id": {}, "execute": sc.mboxes("vip")}
    tnt_id = (await http.post(DELIVERY, json=body)).json()["id"]["tntId"]
    fetch = f"/rest/v1/profiles/{tnt_id}?client=acme"
    update = f"/m2/acme/profile/update?mboxPC={tnt_id}&profile.vip=true"
    # Off by default, as at Adobe: no token needed.
    assert (await http.get(fetch)).status_code == 200

    _require_auth(database_url, "on", monkeypatch)
    refused = await http.get(fetch)
    assert refused.status_code == 401
    assert "profile_api" in refused.json()["message"]
    refused = await http.get(update)
    assert refused.status_code == 401 and "<success>false</success>" in refused.text
    batch = await http.post("/m2/acme/v2/profile/batchUpdate", content=b"batch=pcId,a\nx,1\n")
    assert batch.status_code == 401
    status = await http.get("/m2/acme/profile/batchStatus?batchId=nope")
    assert status.status_code == 401

    debug = await _token(world, acme, "debug_tools")
    world.tenant("beta")
    beta = await world.credential("beta", "approver")
    theirs = await _token(world, beta, "profile_api", tenant="beta")
    for bad in (debug, theirs, acme.token, "not-a-token"):
        response = await http.get(fetch, headers={"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401, (bad, response.text)

    good = await _bearer(world, acme)
    fetched = await http.get(fetch, headers=good)
    assert fetched.status_code == 200, fetched.text
    assert "vip" not in fetched.json()["profileAttributes"]
    updated = await http.get(update, headers=good)
    assert updated.status_code == 200 and "<success>true</success>" in updated.text
    fetched = await http.get(fetch, headers=good)
    assert fetched.json()["profileAttributes"]["vip"]["value"] == "true"

    # Tokens expire (CIBLE_AUTH_TOKEN_TTL_SECONDS, one day by default).
    clock.advance(days=1, seconds=1)
    expired = await http.get(fetch, headers=good)
    assert expired.status_code == 401 and "expired" in expired.json()["message"]

    _require_auth(database_url, "off", monkeypatch)
    assert (await http.get(fetch)).status_code == 200


async def _bearer(world: World, cred: Credential) -> dict[str, str]:
    return {"Authorization": f"Bearer {await _token(world, cred, 'profile_api')}"}


async def test_token_issuance(acme_app: Any, world: World, acme: Credential) -> None:
    http = world.http
    url = TOKEN.format(tenant="acme")
    got = await http.get(f"{url}?authorizationScope=debug_tools", headers=acme.headers)
    assert got.status_code == 200, got.text
    assert set(got.json()) == {"accessToken", "tokenType", "scope", "expiresIn"}
    for query in (
        "",
        "?authorizationScope=admin",
        "?authorizationScope=profile_api&authorizationScope=debug_tools",
    ):
        refused = await http.post(f"{url}{query}", headers=acme.headers)
        assert refused.status_code == 400, (query, refused.text)
        assert refused.json()["errors"][0]["message"].startswith("authorizationScope")
    observer = await world.credential("acme", "observer")
    denied = await http.post(f"{url}?authorizationScope=profile_api", headers=observer.headers)
    assert denied.status_code == 403
    allowed = await http.post(f"{url}?authorizationScope=debug_tools", headers=observer.headers)
    assert allowed.status_code == 201
    anonymous = await http.post(f"{url}?authorizationScope=debug_tools")
    assert anonymous.status_code == 401
