"""A tenant may limit the browser origins that call its delivery API (issue 13); any origin is
echoed by default, as Adobe's edge does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cible.artifacts import event_token
from cible.cli import app as cli_app
from cible.config import get_settings
from cible.errors import BadRequest
from cible.store import Database
from cible.tenants import service as tenants
from tests.conftest import World, count_rows
from tests.delivery import _scenario as sc

SHOP, EVIL = "https://shop.example", "https://evil.example"
DELIVERY = "/rest/v1/delivery?client=acme&sessionId=s1"
BATCH = "/rest/v1/notifications?client=acme"


def _allow(database: Database, origins: list[str] | None) -> None:
    with database.session() as s:
        tenants.set_delivery_origins(s, "acme", origins)


def _profiles(database: Database) -> int:
    return count_rows(database, "profiles")


def _body(visitor: str) -> dict[str, Any]:
    return sc.request(visitor, execute=sc.mboxes("hero"))


@pytest.mark.anyio
async def test_any_origin_is_echoed_by_default(world: World, app: Any) -> None:
    world.tenant("acme")
    sc.install(app, sc.artifact())
    response = await world.http.post(DELIVERY, json=_body("v1.0"), headers={"Origin": EVIL})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == EVIL


@pytest.mark.anyio
async def test_a_listed_origin_is_served_and_another_refused(world: World, app: Any) -> None:
    world.tenant("acme")
    _allow(world.database, [SHOP, "https://m.shop.example:8443"])
    sc.install(app, sc.artifact())
    http = world.http
    asked = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }

    for path in (DELIVERY, BATCH):
        allowed = await http.options(path, headers={"Origin": SHOP, **asked})
        assert allowed.status_code == 204
        assert allowed.headers["access-control-allow-origin"] == SHOP
        assert "POST" in allowed.headers["access-control-allow-methods"]
        refused = await http.options(path, headers={"Origin": EVIL, **asked})
        assert refused.status_code == 403
        assert "access-control-allow-origin" not in refused.headers

    served = await http.post(DELIVERY, json=_body("v1.0"), headers={"Origin": SHOP})
    assert served.status_code == 200
    assert served.headers["access-control-allow-origin"] == SHOP
    assert served.json()["execute"]["mboxes"][0]["options"]
    before = _profiles(world.database)
    # A refused origin: 403 in the delivery API's shape, no CORS headers, nothing recorded.
    refused_call = await http.post(
        DELIVERY,
        content=json.dumps(_body("intruder.0")),
        headers={"Origin": EVIL, "Content-Type": "text/plain"},
    )
    assert refused_call.status_code == 403
    assert refused_call.json()["status"] == 403
    assert EVIL in refused_call.json()["message"]
    assert "access-control-allow-origin" not in refused_call.headers
    assert _profiles(world.database) == before
    notification = {
        "id": "n-1",
        "type": "display",
        "timestamp": 1_767_225_600_000,
        "mbox": {"name": "hero"},
        "tokens": [event_token(101, 0)],
        "visitorId": {"tntId": "v1.0"},
    }
    batch = await http.post(BATCH, json={"notifications": [notification]}, headers={"Origin": EVIL})
    assert batch.status_code == 403
    assert "access-control-allow-origin" not in batch.headers
    # Origins compare as browsers send them: the port is part of the origin, case is not.
    other_port = await http.post(
        DELIVERY, json=_body("v1.0"), headers={"Origin": "https://m.shop.example:8443"}
    )
    assert other_port.status_code == 200
    assert (
        await http.post(DELIVERY, json=_body("v1.0"), headers={"Origin": "https://m.shop.example"})
    ).status_code == 403
    assert (
        await http.post(DELIVERY, json=_body("v1.0"), headers={"Origin": "HTTPS://SHOP.EXAMPLE"})
    ).status_code == 200
    # Servers and SDKs send no Origin: never concerned.
    assert (await http.post(DELIVERY, json=_body("v1.0"))).status_code == 200


def test_origins_are_validated(database: Database) -> None:
    with database.session() as s:
        tenants.create_tenant(s, "acme")
    for bad in (["https://shop.example/"], ["shop.example"], ["https://shop.example/path"], []):
        with pytest.raises(BadRequest), database.session() as s:
            tenants.set_delivery_origins(s, "acme", bad)
    _allow(database, ["https://Shop.Example", "https://shop.example"])
    with database.session() as s:
        assert tenants.get_tenant(s, "acme").delivery_origins == ["https://shop.example"]


def test_cli_sets_shows_and_clears_origins(
    database_url: str, database: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with database.session() as s:
        tenants.create_tenant(s, "acme")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CIBLE_DATABASE_URL", database_url)
    get_settings.cache_clear()
    cli = CliRunner()
    try:
        shown = cli.invoke(cli_app, ["tenants", "origins", "acme", "--json"])
        assert json.loads(shown.stdout) == {"clientCode": "acme", "deliveryOrigins": None}
        set_ = cli.invoke(cli_app, ["tenants", "origins", "acme", SHOP, "--json"])
        assert set_.exit_code == 0, set_.stderr
        assert json.loads(set_.stdout)["deliveryOrigins"] == [SHOP]
        bad = cli.invoke(cli_app, ["tenants", "origins", "acme", "shop.example"])
        assert bad.exit_code == 1 and "not an origin" in bad.stderr
        cleared = cli.invoke(cli_app, ["tenants", "origins", "acme", "--any", "--json"])
        assert json.loads(cleared.stdout)["deliveryOrigins"] is None
    finally:
        get_settings.cache_clear()
