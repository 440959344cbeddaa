"""Geo from the visitor's IP with a real MaxMind database (``CIBLE_GEOIP_DATABASE``).

Each test writes a small City database with ``mmdb-writer`` (IPv4 and IPv6 networks, the
record layout of MaxMind's GeoIP2 City), starts the app on it, and decides a ``geo.*`` audience
through ``POST /rest/v1/delivery``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from cible.artifacts import compile_artifact
from cible.config import Settings
from cible.delivery.geo_maxmind import MaxMindLookup, open_geo_lookup
from cible.engine import load_artifact
from cible.web.app import create_app
from tests.conftest import SECRET_KEY

from . import _scenario as sc

pytestmark = [pytest.mark.anyio]

URL = "/rest/v1/delivery?client=acme&sessionId=s1"
LONDON_V4 = "81.2.69.142"
PARIS_V6 = "2001:db8:1::7"
NOWHERE = "198.51.100.9"

LONDON = {
    "country": {"iso_code": "GB", "names": {"en": "United Kingdom"}},
    "subdivisions": [{"iso_code": "ENG", "names": {"en": "England"}}],
    "city": {"names": {"en": "London"}},
    "postal": {"code": "EC1A"},
    "location": {"latitude": 51.5142, "longitude": -0.0931},
}
PARIS = {
    "country": {"iso_code": "FR", "names": {"en": "France"}},
    "subdivisions": [{"iso_code": "IDF", "names": {"en": "Île-de-France"}}],
    "city": {"names": {"en": "Paris"}},
    "postal": {"code": "75001"},
    "location": {"latitude": 48.8566, "longitude": 2.3522},
}


def write_city_database(path: Path) -> Path:
    writer = MMDBWriter(
        ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City", languages=["en"]
    )
    writer.insert_network(IPSet(["81.2.69.0/24"]), LONDON)
    writer.insert_network(IPSet(["2001:db8:1::/48"]), PARIS)
    writer.to_db_file(str(path))
    return path


@pytest.fixture
def geo_database(tmp_path: Path) -> Path:
    return write_city_database(tmp_path / "city.mmdb")


@pytest.fixture
def settings(database_url: str, geo_database: Path) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=SECRET_KEY,
        throttle_rate=10_000,
        throttle_burst=10_000,
        geoip_database=str(geo_database),
        _env_file=None,  # type: ignore[call-arg]
    )


def geo_artifact() -> Any:
    """Mbox ``geo``: offer 0 for France, offer 1 for the city of London, offer 2 otherwise."""
    audiences = {
        7: {"id": 7, "name": "France", "targetRule": {"geo": "country", "equals": ["fr"]}},
        8: {"id": 8, "name": "London", "targetRule": {"geo": "city", "equals": ["london"]}},
    }
    activity = sc.activity(201, "xt", "geo", [None, None, None], [[7], [8], []])
    return load_artifact(
        compile_artifact(
            client="acme",
            environment="production",
            activities=[activity],
            offers=sc.OFFERS,
            audiences=audiences,
            generated_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
    )


def body(geo: dict[str, Any] | None) -> dict[str, Any]:
    context: dict[str, Any] = {"channel": "web"}
    if geo is not None:
        context["geo"] = geo
    return {"context": context, "execute": sc.mboxes("geo")}


async def offer(client: httpx.AsyncClient, geo: dict[str, Any] | None) -> Any:
    response = await client.post(URL, json=body(geo))
    assert response.status_code == 200, response.text
    return sc.content(response.json())["geo"]["offer"]


def caller(app: Any, address: str) -> httpx.AsyncClient:
    """A client whose requests come from ``address`` (the ASGI scope's ``client``)."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://cible.test")


@pytest.fixture
async def from_london(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with caller(app, LONDON_V4) as client:
        yield client


def test_reader_fills_adobe_geo_fields(geo_database: Path) -> None:
    lookup = MaxMindLookup(str(geo_database))
    try:
        assert lookup.lookup(LONDON_V4) == {
            "countryCode": "GB",
            "stateCode": "ENG",
            "city": "LONDON",
            "zip": "EC1A",
            "latitude": 51.5142,
            "longitude": -0.0931,
        }
        paris = lookup.lookup(PARIS_V6)
        assert paris is not None and paris["countryCode"] == "FR" and paris["city"] == "PARIS"
        assert lookup.lookup(NOWHERE) is None
        assert lookup.lookup("::1") is None
        assert lookup.lookup("not an address") is None
    finally:
        lookup.close()


async def test_ip_address_in_the_database_matches_geo_audiences(
    world: Any, app: Any, http: httpx.AsyncClient
) -> None:
    world.tenant("acme")
    sc.install(app, geo_artifact())
    assert await offer(http, {"ipAddress": PARIS_V6}) == 0  # IPv6, France
    assert await offer(http, {"ipAddress": LONDON_V4}) == 1  # IPv4, London
    assert await offer(http, {"ipAddress": NOWHERE}) == 2  # not in the database
    assert await offer(http, {"ipAddress": "not an address"}) == 2  # looked up, found nothing


async def test_fields_the_request_gives_win(
    world: Any, app: Any, http: httpx.AsyncClient, from_london: httpx.AsyncClient
) -> None:
    world.tenant("acme")
    sc.install(app, geo_artifact())
    # The database says London; the request says France: France wins.
    assert await offer(http, {"ipAddress": LONDON_V4, "countryCode": "FR"}) == 0
    # A request giving its own city is not looked up by the caller's address either.
    assert await offer(from_london, {"city": "Lyon"}) == 2
    # An explicit ipAddress wins over the caller's address.
    assert await offer(from_london, {"ipAddress": PARIS_V6}) == 0


async def test_the_callers_address_is_used_when_the_request_gives_no_geo(
    world: Any, app: Any, from_london: httpx.AsyncClient
) -> None:
    world.tenant("acme")
    sc.install(app, geo_artifact())
    assert await offer(from_london, None) == 1
    assert await offer(from_london, {}) == 1
    async with caller(app, PARIS_V6) as from_paris:
        assert await offer(from_paris, None) == 0
    async with caller(app, NOWHERE) as from_elsewhere:
        assert await offer(from_elsewhere, None) == 2


async def test_without_a_database_geo_from_ip_is_off_and_logged(
    world: Any,
    database_url: str,
    database: Any,
    clock: Any,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    world.tenant("acme")
    plain = Settings(database_url=database_url, secret_key=SECRET_KEY, _env_file=None)  # type: ignore[call-arg]
    with caplog.at_level(logging.INFO, logger="cible.delivery"):
        app = create_app(plain, database=database, clock=clock)
    lines = [r.getMessage() for r in caplog.records if "geo from IP" in r.getMessage()]
    assert len(lines) == 1 and "CIBLE_GEOIP_DATABASE is not set" in lines[0]
    assert app.state.geo_lookup is None
    sc.install(app, geo_artifact())
    try:
        async with caller(app, LONDON_V4) as from_london:
            assert await offer(from_london, None) == 2
            assert await offer(from_london, {"ipAddress": PARIS_V6}) == 2
            # Fields a request gives still decide.
            assert await offer(from_london, {"countryCode": "FR"}) == 0
    finally:
        committer = getattr(app.state, "committer", None)
        if committer is not None:
            committer.close()

    caplog.clear()
    broken = tmp_path / "broken.mmdb"
    broken.write_bytes(b"not a database")
    with caplog.at_level(logging.INFO, logger="cible.delivery"):
        assert open_geo_lookup(str(broken)) is None
        assert open_geo_lookup(str(tmp_path / "missing.mmdb")) is None
    messages = [r.getMessage() for r in caplog.records]
    assert any("cannot be read" in m for m in messages)
    assert any("is not a file" in m for m in messages)
