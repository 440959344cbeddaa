"""Headers and edges: nosniff, no-store on private answers, no server banner, /docs offline,
and the token endpoint throttled per client id."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from cible.config import Settings
from cible.store import Database
from cible.web.app import create_app
from cible.web.throttle import TokenBucketThrottle
from tests.conftest import Credential, FakeClock, World

pytestmark = pytest.mark.anyio


async def test_every_answer_has_nosniff(world: World, acme: Credential) -> None:
    for method, url, headers in [
        ("GET", "/health", {}),
        ("GET", "/acme/target/offers", acme.headers),
        ("GET", "/acme/target/offers", {}),
        ("GET", "/nowhere", {}),
        ("POST", "/rest/v1/delivery?client=acme&sessionId=s", {}),
    ]:
        response = await world.http.request(method, url, headers=headers, json={})
        assert response.headers["x-content-type-options"] == "nosniff", (method, url)
        assert "server" not in response.headers


async def test_private_answers_are_not_stored(world: World, acme: Credential) -> None:
    answers = [
        await world.http.get("/acme/target/offers", headers=acme.headers),
        await world.http.get("/acme/target/offers"),  # a 401 on an Admin path
        await world.http.get("/acme/target/offers/content/1", headers=acme.headers),  # 404
        await world.http.post(
            "/ims/token/v3",
            data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
        ),
    ]
    for response in answers:
        assert response.headers["cache-control"] == "no-store", response.request.url
    # Public answers keep their own caching.
    assert "no-store" not in (await world.http.get("/health")).headers.get("cache-control", "")


async def test_docs_need_no_third_party(world: World) -> None:
    page = await world.http.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)""", page.text) + re.findall(
        r"""url: *["']([^"']+)""", page.text
    )
    assert urls and all(u.startswith("/") for u in urls), urls
    assert "cdn" not in page.text.lower()
    for url in urls:
        asset = await world.http.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100
    js = await world.http.get("/docs/assets/swagger-ui-bundle.js")
    assert js.headers["content-type"].startswith("text/javascript")
    assert "SwaggerUIBundle" in js.text
    assert (await world.http.get("/docs/assets/..%2Fapp.py")).status_code == 404
    assert (await world.http.get("/docs/assets/package.json")).status_code == 404
    assert (await world.http.get("/redoc")).status_code == 404


@pytest.fixture
async def strict(database: Database, settings: Settings, clock: FakeClock) -> AsyncIterator[World]:
    tight = settings.model_copy(update={"token_throttle_rate": 0.001, "token_throttle_burst": 3})
    app = create_app(tight, database=database, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cible.test") as client:
        yield World(database, client)


async def test_token_endpoint_is_throttled_per_client_id(strict: World) -> None:
    strict.tenant("acme")
    cred = await strict.credential("acme", "approver")  # one token request
    form = {"grant_type": "client_credentials", "client_id": cred.client_id}
    statuses = [
        (await strict.http.post("/ims/token/v3", data={**form, "client_secret": f"guess{i}"}))
        for i in range(2)
    ]
    assert [r.status_code for r in statuses] == [401, 401]
    # The burst is spent: even the right secret now waits.
    blocked = await strict.http.post("/ims/token/v3", data={**form, "client_secret": cred.secret})
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) >= 1
    assert blocked.json()["error"] == "slow_down"
    assert blocked.json()["errors"][0]["errorCode"] == "Too.Many.Requests"
    # Another client id has its own bucket.
    other = await strict.credential("acme", "editor")
    assert other.token


def test_throttle_table_is_bounded() -> None:
    now = [0.0]
    throttle = TokenBucketThrottle(1.0, 5, clock=lambda: now[0], max_keys=100)
    for i in range(1000):
        throttle.take(f"made-up-{i}")
    assert len(throttle) <= 100
    # A key that is being throttled keeps its state when newer keys arrive after it.
    for _ in range(5):
        throttle.take("busy")
    assert throttle.take("busy") > 0
    now[0] += 1000.0
    assert throttle.take("busy") == 0.0


def test_serve_turns_the_server_banner_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from cible.cli import app as cli_app

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    result = CliRunner().invoke(cli_app, ["serve", "--no-worker"])
    assert result.exit_code == 0, result.stderr
    assert seen["server_header"] is False
