"""QA traffic (``qaMode`` delivery calls) never changes a report: neither the live consumer's
aggregates nor the DuckDB rebuild from raw events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from cible.jobs import run_pending
from cible.reports.backfill import rebuild
from tests.activities._kit import ab_body, offer, v3
from tests.conftest import Credential, World

pytestmark = pytest.mark.anyio

DELIVERY = "/rest/v1/delivery?client=acme&sessionId="


async def _call(world: World, session: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await world.http.post(DELIVERY + session, json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _execute(tnt: str, *mboxes: str, qa: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "context": {"channel": "web"},
        "id": {"tntId": tnt},
        "execute": {"mboxes": [{"index": i, "name": m} for i, m in enumerate(mboxes)]},
    }
    if qa is not None:
        body["qaMode"] = qa
    return body


async def test_qa_traffic_leaves_the_performance_report_unchanged(
    world: World, acme: Credential, tmp_path: Path
) -> None:
    offers = [await offer(world.http, acme, f"qa-report-{i}") for i in range(2)]
    created = await world.http.post(
        "/acme/target/activities/ab",
        json=ab_body(offers, state="approved", name="Live test"),
        headers=v3(acme),
    )
    activity = created.json()["id"]
    run_pending(world.database)

    async def report() -> dict[str, Any]:
        response = await world.http.get(
            f"/acme/target/activities/ab/{activity}/report/performance", headers=acme.headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()["report"]["statistics"]
        return body

    # Real traffic: visitors see the hero, one of them converts.
    for n in range(4):
        await _call(world, f"real-{n}", _execute(f"real-{n}.0", "hero"))
    await _call(world, "real-0", _execute("real-0.0", "orderConfirmPage"))
    before = await report()
    assert before["totals"]["visitor"]["totals"] == {"entries": 4, "conversions": 1}

    # QA traffic on the same live activity: new visitors and real ones, impressions, display
    # notifications and conversions, with and without listedActivitiesOnly.
    links = await world.http.post(
        f"/acme/target/activities/ab/{activity}/qamode", json={}, headers=v3(acme)
    )
    qa_modes = [link["qaMode"] for link in links.json()["qaModeExperiences"]]
    for n, qa in enumerate(qa_modes * 3):
        for visitor in (f"tester-{n}.0", "real-1.0"):
            session = f"qa-{n}-{visitor}"
            shown = await _call(world, session, _execute(visitor, "hero", qa=qa))
            assert shown["execute"]["mboxes"][0]["options"]
            prefetched = await _call(
                world,
                session,
                {
                    "context": {"channel": "web"},
                    "id": {"tntId": visitor},
                    "prefetch": {"mboxes": [{"index": 0, "name": "hero"}]},
                    "qaMode": {"token": qa["token"]},
                },
            )
            token = prefetched["prefetch"]["mboxes"][0]["options"][0]["eventToken"]
            notified = _execute(visitor, "orderConfirmPage", qa={"token": qa["token"]})
            notified["notifications"] = [
                {
                    "id": f"qa-n-{n}-{visitor}",
                    "type": "display",
                    "timestamp": 1_768_478_400_000,
                    "mbox": {"name": "hero"},
                    "tokens": [token],
                }
            ]
            answered = await _call(world, session, notified)
            assert [x["id"] for x in answered["notifications"]] == [f"qa-n-{n}-{visitor}"]

    with world.database.session() as s:
        kinds = dict(
            s.execute(text("SELECT kind, count(*) FROM events WHERE qa = true GROUP BY kind")).all()
        )
    # The QA events are kept, flagged: the report leaves them out, it does not miss them. (No
    # conversion: those follow sticky assignments, which QA calls do not write or read for the
    # activity under QA, so real-1's QA visit to orderConfirmPage converts nothing either.)
    assert kinds == {"impression": 12, "display": 12}, kinds
    assert await report() == before

    # The DuckDB rebuild from raw events leaves them out too.
    rebuild(world.database, workdir=tmp_path)
    assert await report() == before

    # One more real visitor still counts (the report is not frozen).
    await _call(world, "real-9", _execute("real-9.0", "hero"))
    assert (await report())["totals"]["visitor"]["totals"]["entries"] == 5
