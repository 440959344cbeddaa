"""POST /rest/v1/notifications in process: many visitors per request, results in order."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from cible.artifacts import compile_artifact, event_token
from cible.engine import Artifact, load_artifact
from cible.events import drain, load_consumers
from cible.tenants.tables import Tenant
from cible.web.app import create_app
from tests.conftest import BACKENDS, count_rows

from . import _scenario as sc

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]

URL = "/rest/v1/notifications?client=acme"
AT = 1_767_225_600_000


class PerTenantSource:
    """Each tenant decides with its own artifact (acme: the scenario's; beta: activity 201)."""

    def __init__(self, artifacts: dict[str, Artifact]) -> None:
        self.artifacts = artifacts

    def get(
        self, tenant_id: int, client_code: str, environment: str, property_token: str = ""
    ) -> Artifact | None:
        return self.artifacts.get(client_code)


def beta_artifact() -> Artifact:
    return load_artifact(
        compile_artifact(
            client="beta",
            environment="production",
            activities=[sc.activity(201, "ab", "hero", [50, 50], [[], []])],
            offers=sc.OFFERS,
            audiences={},
            generated_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
    )


@pytest.fixture
async def acme_app(world: Any, app: Any) -> Any:
    world.tenant("acme")
    world.tenant("beta")
    app.state.artifact_source = PerTenantSource({"acme": sc.artifact(), "beta": beta_artifact()})
    return app


def display(nid: str, visitor: str, token: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": nid,
        "type": "display",
        "timestamp": AT,
        "mbox": {"name": "hero"},
        "tokens": [token],
        "visitorId": {"tntId": visitor},
        **extra,
    }


async def post(http: httpx.AsyncClient, body: Any, url: str = URL) -> list[dict[str, Any]]:
    response = await http.post(url, json=body)
    assert response.status_code == 200, response.text
    assert response.headers["x-cible-notifications"] == "batch"
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def settled(database: Any) -> Any:
    """The database once the event consumers (a server runs them in the background) applied
    every record of the log."""
    load_consumers()
    drain(database)
    return database


def stored(database: Any) -> int:
    return count_rows(settled(database), "events")


def events(database: Any, where: str = "") -> list[tuple[Any, ...]]:
    with settled(database).session() as s:
        rows = s.execute(
            text(f"SELECT kind, visitor, activity_id, experience_id FROM events {where}")
        )
        return sorted(tuple(row) for row in rows)


async def test_results_in_request_order_for_mixed_valid_and_invalid(
    acme_app: Any, http: httpx.AsyncClient, database: Any
) -> None:
    hero_a, hero_b = event_token(101, 0), event_token(101, 1)
    body = {
        "notifications": [
            display("n-1", "v1.0", hero_a),
            display("n-2", "v2.0", hero_b),
            {**display("n-3", "v1.0", hero_a), "type": "hover"},
            display("n-4", "v1.0", hero_a, impressionId="page-9"),
            "not an object",
            {k: v for k, v in display("n-6", "v3.0", hero_a).items() if k != "visitorId"},
            display("n-7", "v2.0", event_token(999, 0, secret=b"attacker")),
            {**display("n-8", "v3.0", hero_a), "visitorId": {"tntId": "a.b.c"}},
            {**display("n-9", "v3.0", hero_a), "sessionId": "has space"},
            {**display("n-10", "v3.0", hero_b), "timestamp": -1},
            display("n-11", "v3.0", hero_b, sessionId="s-3"),
        ]
    }
    results = await post(http, body)
    assert [r["id"] for r in results] == [
        "n-1",
        "n-2",
        "n-3",
        "n-4",
        None,
        "n-6",
        "n-7",
        "n-8",
        "n-9",
        "n-10",
        "n-11",
    ]
    assert [r["status"] for r in results] == [200, 200, 400, 200, 400, 400, 422, 400, 400, 400, 200]
    messages = [r["message"] for r in results]
    assert messages[2].startswith("notifications[2].type: must be one of")
    assert messages[4] == "notifications[4]: must be an object"
    assert messages[5] == "notifications[5].visitorId: is required"
    assert messages[6] == "no eventToken of a served experience"
    assert messages[7].startswith("notifications[7].visitorId.tntId:")
    assert messages[8].startswith("notifications[8].sessionId:")
    assert messages[9] == "notifications[9].timestamp: must be milliseconds since the epoch"
    # Only the accepted notifications were recorded, each for its own visitor.
    assert events(database, "WHERE kind = 'display'") == [
        ("display", "v1", 101, 0),
        ("display", "v1", 101, 0),
        ("display", "v2", 101, 1),
        ("display", "v3", 101, 1),
    ]


async def test_a_batch_posted_twice_stores_each_event_once(
    acme_app: Any, http: httpx.AsyncClient, database: Any
) -> None:
    token = event_token(103, 2)
    # Visitors whose allocation gives them that experience (others' notifications do not count).
    visitors = [sc.allocated(103, 2, f"visitor-{i}") for i in range(7)]
    body = {"notifications": [display(f"n-{i}", visitors[i % 7], token) for i in range(60)]}
    body["notifications"][0]["mbox"] = {"name": "checkout"}
    first = await post(http, body)
    assert {r["status"] for r in first} == {200}
    after_first = stored(database)
    assert len(events(database, "WHERE kind = 'display'")) == 60
    second = await post(http, body)  # an at-least-once sender resends the same batch
    assert second == first
    assert stored(database) == after_first
    with settled(database).session() as s:
        visitors = s.execute(text("SELECT count(DISTINCT visitor) FROM events")).scalar_one()
    assert visitors == 7


async def test_notifications_assign_their_visitor_as_delivery_does(
    acme_app: Any, http: httpx.AsyncClient
) -> None:
    # A display of experience B (hero), the one his allocation gives him, makes that visitor's
    # next delivery call sticky to B, even once the split would give him A.
    visitor = sc.allocated(101, 1, "sticky", split=(50, 50))
    assert visitor != sc.allocated(101, 1, visitor.split(".")[0], split=(99, 1))
    results = await post(http, {"notifications": [display("n-1", visitor, event_token(101, 1))]})
    assert results[0]["status"] == 200
    acme_app.state.artifact_source.artifacts["acme"] = sc.artifact((99, 1))
    response = await http.post(
        "/rest/v1/delivery?client=acme&sessionId=s1",
        json=sc.request(visitor, execute=sc.mboxes("hero")),
    )
    assert sc.content(response.json()) == {"hero": {"offer": 1}}


async def test_tenant_by_client_or_ims_org_id_and_tokens_of_another_tenant(
    acme_app: Any, http: httpx.AsyncClient, database: Any
) -> None:
    with database.session() as s:
        org = s.scalar(select(Tenant.organization_id).where(Tenant.client_code == "beta"))
    beta_token, acme_token = event_token(201, 1), event_token(101, 0)
    body = {"notifications": [display("n-1", "v1", beta_token), display("n-2", "v1", acme_token)]}
    as_beta = await post(http, body, f"/rest/v1/notifications?imsOrgId={org}")
    assert [r["status"] for r in as_beta] == [200, 422]
    as_acme = await post(http, body)
    assert [r["status"] for r in as_acme] == [422, 200]
    with settled(database).session() as s:
        rows = s.execute(
            text(
                "SELECT t.client_code, e.activity_id FROM events e "
                "JOIN tenants t ON t.id = e.tenant_id WHERE e.kind = 'display'"
            )
        )
        assert sorted(tuple(r) for r in rows) == [("acme", 101), ("beta", 201)]


@pytest.mark.parametrize(
    ("url", "body", "message"),
    [
        ("/rest/v1/notifications?client=nope", {"notifications": []}, "Unknown client nope"),
        ("/rest/v1/notifications", {"notifications": []}, "client: client or imsOrgId"),
        (URL, {"notifications": []}, "notifications: size must be between 1 and 1000"),
        (URL, {"items": []}, "notifications: is required"),
        (URL, {"notifications": {"id": "n"}}, "notifications: must be an array"),
        (URL, [1, 2], "request: must be an object"),
        (URL, b"{nope", "request: malformed JSON"),
    ],
)
async def test_bad_requests_are_400_in_adobes_shape_and_change_nothing(
    acme_app: Any, http: httpx.AsyncClient, database: Any, url: str, body: Any, message: str
) -> None:
    if url.endswith("nope"):
        body = {"notifications": [display("n-1", "v1", event_token(101, 0))]}
    before = stored(database)
    if isinstance(body, bytes):
        response = await http.post(url, content=body)
    else:
        response = await http.post(url, json=body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["status"] == 400
    assert payload["message"].startswith(message)
    assert response.headers["x-cible-notifications"] == "batch"
    assert stored(database) == before


async def test_over_a_thousand_notifications_is_a_400(
    acme_app: Any, http: httpx.AsyncClient, database: Any
) -> None:
    token = event_token(101, 0)
    items = [display(f"n-{i}", "v1", token) for i in range(1001)]
    response = await http.post(URL, json={"notifications": items})
    assert response.status_code == 400
    assert response.json() == {
        "status": 400,
        "message": "notifications: size must be between 1 and 1000",
    }
    assert stored(database) == 0
    # A thousand, from one visitor (more than one delivery call holds), are all accepted.
    results = await post(http, {"notifications": items[:1000]})
    assert [r["id"] for r in results] == [f"n-{i}" for i in range(1000)]
    assert {r["status"] for r in results} == {200}
    assert len(events(database, "WHERE kind = 'display'")) == 1000


async def test_cors_as_the_delivery_api(acme_app: Any, http: httpx.AsyncClient) -> None:
    origin = {"Origin": "https://shop.example"}
    body = {"notifications": [display("n-1", "v1", event_token(101, 0))]}
    response = await http.post(URL, json=body, headers=origin)
    assert response.headers["access-control-allow-origin"] == "https://shop.example"
    assert response.headers["access-control-allow-credentials"] == "true"
    plain = await http.post(URL, json=body)
    assert "access-control-allow-origin" not in plain.headers
    preflight = await http.options(
        URL,
        headers={**origin, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example"


async def test_a_locked_database_is_a_503_then_the_resent_batch_counts_once(
    world: Any, settings: Any, database: Any, clock: Any, backend: str, database_url: str
) -> None:
    if backend != "sqlite":
        pytest.skip("the lock is taken with SQLite's BEGIN EXCLUSIVE")
    world.tenant("acme")
    quick = settings.model_copy(update={"database_deadline_seconds": 0.3})
    app = create_app(quick, database=database, clock=clock)
    app.state.artifact_source = PerTenantSource({"acme": sc.artifact()})
    token = event_token(101, 0)
    body = {
        "notifications": [display(f"n-{i}", sc.allocated(101, 0, f"v{i}"), token) for i in range(5)]
    }
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://cible.test"
    ) as client:
        blocker = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=0.1)
        blocker.isolation_level = None
        blocker.execute("BEGIN EXCLUSIVE")
        blocker.execute("INSERT INTO event_consumers VALUES ('lock', 0, 0)")
        try:
            locked = await client.post(URL, json=body)
        finally:
            blocker.rollback()
            blocker.close()
        assert locked.status_code == 503
        assert locked.json()["status"] == 503 and locked.json()["message"]
        assert locked.headers["x-cible-notifications"] == "batch"
        assert stored(database) == 0
        recovered = await client.post(URL, json=body)
        assert recovered.status_code == 200
        assert {r["status"] for r in recovered.json()["results"]} == {200}
        await client.post(URL, json=body)
    assert len(events(database, "WHERE kind = 'display'")) == 5
