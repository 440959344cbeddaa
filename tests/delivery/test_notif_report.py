"""Rejected notifications are counted apart in reports, never as entries or impressions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from cible.events import drain, load_consumers
from cible.reports.backfill import rebuild
from cible.store import Database
from cible.tenants import service as tenants
from tests.activities._kit import ab_body, offer, v3
from tests.conftest import Credential
from tests.reports._events import append, payload

pytestmark = pytest.mark.anyio


async def test_rejected_notifications_are_reported_apart(
    http: httpx.AsyncClient, acme: Credential, database: Database, tmp_path: Path
) -> None:
    offers = [await offer(http, acme, f"rejected-{i}") for i in range(2)]
    created = await http.post("/acme/target/activities/ab", json=ab_body(offers), headers=v3(acme))
    assert created.status_code == 201, created.text
    activity = int(created.json()["id"])
    with database.session() as s:
        tenant_id = tenants.get_tenant(s, "acme").id
    events = [
        payload("display", f"ntf:d{i}:{activity}:0", activity, 0, f"shown-{i}") for i in range(3)
    ]
    # What the delivery API records for notifications of an experience the visitor was not
    # given: two for experience 1 (one of a visitor seen nowhere else), one for experience 0.
    events += [
        payload("rejected", f"rej:r1:{activity}:1", activity, 1, "shown-0"),
        payload("rejected", f"rej:r2:{activity}:1", activity, 1, "forger"),
        payload("rejected", f"rej:r3:{activity}:0", activity, 0, "forger-2"),
    ]
    append(database, tenant_id, events)
    load_consumers()
    drain(database)

    async def report() -> dict[str, Any]:
        response = await http.get(
            f"/acme/target/activities/ab/{activity}/report/performance", headers=acme.headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()["report"]
        return body

    body = await report()
    assert body["analysis"]["rejectedNotifications"] == 3
    by_exp = {e["experienceLocalId"]: e for e in body["statistics"]["experiences"]}
    assert by_exp[0]["analysis"]["rejectedNotifications"] == 1
    assert by_exp[1]["analysis"]["rejectedNotifications"] == 2
    visitor_totals = body["statistics"]["totals"]["visitor"]["totals"]
    assert visitor_totals["entries"] == 3  # the forgers never entered the activity
    assert body["statistics"]["totals"]["impression"]["totals"]["entries"] == 3
    assert by_exp[1]["totals"]["visitor"]["totals"]["entries"] == 0

    # The DuckDB rebuild leaves them out too.
    rebuild(database, workdir=tmp_path)
    assert await report() == body
    with database.session() as s:
        stored = s.execute(text("SELECT count(*) FROM report_visitors")).scalar_one()
    assert stored == 3
