"""No built-in signing key: stored random keys, the setting's override, rotation with a grace."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from typer.testing import CliRunner

from cible.cli import app as cli_app
from cible.config import Settings, get_settings
from cible.store import Database
from cible.tenants import keys
from cible.web.app import create_app
from tests.conftest import SECRET_KEY, FakeClock, World

pytestmark = pytest.mark.anyio

OFFERS = "/acme/target/offers"
# The placeholder Cible shipped before keys were generated: it must sign nothing.
OLD_DEFAULT = "insecure-default-key-change-me-in-production"


def test_there_is_no_default_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CIBLE_SECRET_KEY", raising=False)
    assert Settings(_env_file=None).secret_key is None  # type: ignore[call-arg]


@pytest.fixture
def keyless(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        throttle_rate=10_000,
        throttle_burst=10_000,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
async def world_keyless(
    keyless: Settings, database: Database, clock: FakeClock
) -> AsyncIterator[World]:
    app = create_app(keyless, database=database, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cible.test") as client:
        yield World(database, client)


def _header(token: str) -> dict[str, Any]:
    return dict(jwt.get_unverified_header(token))


async def test_tokens_are_signed_with_a_stored_random_key(world_keyless: World) -> None:
    world = world_keyless
    world.tenant("acme")
    cred = await world.credential("acme", "approver")
    with world.database.session() as s:
        ring = keys.keyring(s, override=None, now=keys.utcnow())
    kid = _header(cred.token)["kid"]
    assert kid == ring.signing.kid and kid != keys.SETTING_KID
    assert len(ring.signing.secret) >= 32
    jwt.decode(cred.token, ring.signing.secret, algorithms=["HS256"], options={"verify_exp": False})
    assert (await world.http.get(OFFERS, headers=cred.headers)).status_code == 200
    for forged_key in (OLD_DEFAULT, SECRET_KEY):
        forged = jwt.encode(
            {"sub": cred.client_id, "iss": "cible-ims", "iat": 1, "exp": 4_000_000_000},
            forged_key,
            algorithm="HS256",
            headers={"kid": kid},
        )
        headers = {"Authorization": f"Bearer {forged}", "X-Api-Key": cred.client_id}
        assert (await world.http.get(OFFERS, headers=headers)).status_code == 401


async def test_rotation_keeps_old_tokens_until_they_expire(
    world_keyless: World, clock: FakeClock, keyless: Settings
) -> None:
    world = world_keyless
    world.tenant("acme")
    old = await world.credential("acme", "approver")
    with world.database.session() as s:
        keys.rotate(s, now=clock(), grace_seconds=keyless.token_ttl_seconds)
    # The old token still works; new tokens carry the new key's id.
    assert (await world.http.get(OFFERS, headers=old.headers)).status_code == 200
    new = await world.credential("acme", "approver")
    assert _header(new.token)["kid"] != _header(old.token)["kid"]
    assert (await world.http.get(OFFERS, headers=new.headers)).status_code == 200
    # Once the grace has run out the old key is no longer accepted at all.
    clock.advance(seconds=keyless.token_ttl_seconds + 1)
    with world.database.session() as s:
        accepted = {k.kid for k in keys.keyring(s, override=None, now=clock()).accepted}
    assert _header(old.token)["kid"] not in accepted
    assert _header(new.token)["kid"] in accepted


async def test_the_setting_overrides_stored_keys(world: World) -> None:
    world.tenant("acme")
    cred = await world.credential("acme", "approver")
    assert _header(cred.token)["kid"] == keys.SETTING_KID
    jwt.decode(cred.token, SECRET_KEY, algorithms=["HS256"], options={"verify_exp": False})
    with world.database.session() as s:
        stored = keys.keyring(s, override=None, now=keys.utcnow()).signing
    # A token signed with a stored key is refused while the setting overrides them.
    forged = jwt.encode(
        {"sub": cred.client_id, "iss": "cible-ims", "iat": 1, "exp": 4_000_000_000},
        stored.secret,
        algorithm="HS256",
        headers={"kid": stored.kid},
    )
    headers = {"Authorization": f"Bearer {forged}", "X-Api-Key": cred.client_id}
    assert (await world.http.get(OFFERS, headers=headers)).status_code == 401


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CIBLE_DATABASE_URL", database_url)
    monkeypatch.delenv("CIBLE_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_migrate_stores_a_key_and_rotate_adds_one(
    cli: CliRunner, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(database_url)
    try:
        with db.session() as s:
            before = keys.list_keys(s, now=keys.utcnow())
    finally:
        db.dispose()
    result = cli.invoke(cli_app, ["migrate"])
    assert result.exit_code == 0, result.stderr
    listed = json.loads(cli.invoke(cli_app, ["keys", "list", "--json"]).stdout)
    assert len(listed) == max(1, len(before)) and listed[-1]["retiresAt"] is None
    # A second migrate keeps the key it stored.
    cli.invoke(cli_app, ["migrate"])
    assert json.loads(cli.invoke(cli_app, ["keys", "list", "--json"]).stdout) == listed
    rotated = cli.invoke(cli_app, ["keys", "rotate", "--json"])
    assert rotated.exit_code == 0, rotated.stderr
    new = json.loads(rotated.stdout)
    after = json.loads(cli.invoke(cli_app, ["keys", "list", "--json"]).stdout)
    assert [k["kid"] for k in after] == [k["kid"] for k in listed] + [new["kid"]]
    assert all(k["retiresAt"] is not None for k in after[:-1])
    assert "secret" not in json.dumps(after)
    monkeypatch.setenv("CIBLE_SECRET_KEY", SECRET_KEY)
    get_settings.cache_clear()
    refused = cli.invoke(cli_app, ["keys", "rotate"])
    assert refused.exit_code == 1 and "CIBLE_SECRET_KEY" in refused.stderr
