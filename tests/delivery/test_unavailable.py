"""A locked or full database: 503 in Adobe's delivery error shape within the deadline, nothing
stored, and delivery answers again once the database recovers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from cible.config import Settings
from cible.store import Database
from cible.web.app import create_app
from tests.conftest import BACKENDS, count_rows
from tests.delivery import _scenario as sc

pytestmark = pytest.mark.anyio

URL = "/rest/v1/delivery?client=acme&sessionId=s1"
DEADLINE = 0.5


@pytest.fixture
def quick_app(settings: Settings, database: Database, clock: Any, world: Any) -> Iterator[Any]:
    world.tenant("acme")
    app = create_app(
        settings.model_copy(update={"database_deadline_seconds": DEADLINE}),
        database=database,
        clock=clock,
    )
    sc.install(app, sc.artifact())
    yield app
    if getattr(app.state, "delivery", None) is not None:
        app.state.delivery.close()


@pytest.fixture
async def client(quick_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=quick_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cible.test") as http:
        yield http


def _body(visitor: str, value: str) -> dict[str, Any]:
    mbox = {"index": 1, "name": "hero", "profileParameters": {"seen": value}}
    return {"context": {"channel": "web"}, "id": {"tntId": visitor}, "execute": {"mboxes": [mbox]}}


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_locked_database_answers_503_then_delivery_recovers(
    client: httpx.AsyncClient, database_url: str, database: Database, backend: str
) -> None:
    assert (await client.post(URL, json=_body("v1.0", "before"))).status_code == 200
    other = create_engine(database_url)
    with other.connect() as holder:
        if backend == "sqlite":
            holder.exec_driver_sql("BEGIN EXCLUSIVE")
        else:
            holder.begin()
            holder.execute(text("LOCK TABLE profiles IN ACCESS EXCLUSIVE MODE"))
        started = time.monotonic()
        refused = await client.post(URL, json=_body("v1.0", "during"))
        waited = time.monotonic() - started
        holder.rollback()
    other.dispose()
    assert refused.status_code == 503
    body = refused.json()
    assert set(body) == {"status", "message"} and body["status"] == 503
    assert "unavailable" in body["message"]
    assert waited < DEADLINE + 5  # within the deadline, with room for a loaded machine
    recovered = await client.post(URL, json=_body("v1.0", "after"))
    assert recovered.status_code == 200
    with database.session() as session:
        stored = session.execute(text("SELECT attributes FROM profiles")).scalar_one()
    assert '"after"' in stored and '"during"' not in stored


async def test_a_full_database_answers_503_stores_nothing_then_recovers(
    client: httpx.AsyncClient, quick_app: Any, database: Database
) -> None:
    assert (await client.post(URL, json=_body("v2.0", "before"))).status_code == 200
    events = count_rows(database, "event_log")
    committer = quick_app.state.delivery.committer

    def fill(conn: Any) -> None:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
        conn.exec_driver_sql(f"PRAGMA max_page_count = {pages}")

    committer.submit(fill).result()
    visitors = [f"{n:032x}.0" for n in range(1, 51)]
    statuses = {v: (await client.post(URL, json=_body(v, "during"))).status_code for v in visitors}
    refused = [v for v, status in statuses.items() if status == 503]
    assert refused, "the database never filled up"
    assert set(statuses.values()) <= {200, 503}
    reset = "PRAGMA max_page_count = 1073741823"
    committer.submit(lambda conn: conn.exec_driver_sql(reset)).result()
    assert (await client.post(URL, json=_body("v2.0", "after"))).status_code == 200
    with database.session() as session:
        known = {row[0] for row in session.execute(text("SELECT value FROM profile_ids"))}
        logged = [row[0] for row in session.execute(text("SELECT payload FROM event_log"))]
    for visitor in visitors:
        stored = visitor.split(".")[0] in known
        in_log = any(visitor.split(".")[0].encode() in payload for payload in logged)
        assert stored == in_log == (statuses[visitor] == 200), visitor
    assert len(logged) > events
