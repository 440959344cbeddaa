"""Auto-allocate activities: Adobe's v1 routes, hourly reallocation, history, remote compile."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from cible.activities.abxt.tables import Activity, ActivityChange
from cible.events import drain
from cible.jobs.tables import Job
from cible.reports import allocation
from cible.reports.tasks import reallocate_all
from cible.store import Database
from cible.tenants import service as tenants
from tests.activities._kit import ab_body, offer
from tests.conftest import BACKENDS, Credential
from tests.reports._events import START_MS, append, payload

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]
V1 = "application/vnd.adobe.target.v1+json"


def _v1(cred: Credential) -> dict[str, str]:
    return {**cred.headers, "Content-Type": V1, "Accept": V1}


async def _create(http: httpx.AsyncClient, acme: Credential, **traffic: Any) -> dict[str, Any]:
    offers = [await offer(http, acme, f"auto-{i}-{len(traffic)}") for i in range(3)]
    body = ab_body(
        offers, autoAllocateTraffic={"successEvaluationCriteria": "conversion_rate", **traffic}
    )
    body["state"] = "approved"
    response = await http.post("/acme/target/activities/autoallocate", json=body, headers=_v1(acme))
    assert response.status_code == 201, response.text
    return dict(response.json())


def _traffic(database: Database, activity: int, rates: dict[int, tuple[int, int]]) -> None:
    """``rates``: experience -> (visitors, converting visitors)."""
    with database.session() as s:
        tenant = tenants.get_tenant(s, "acme").id
    events = []
    for exp, (visitors, converting) in rates.items():
        for v in range(visitors):
            who = f"e{exp}-v{v}"
            events.append(
                payload("impression", f"i:{who}", activity, exp, who, session=who, at_ms=START_MS)
            )
            if v < converting:
                events.append(
                    payload(
                        "conversion",
                        f"c:{who}",
                        activity,
                        exp,
                        who,
                        session=who,
                        mbox="orderConfirmPage",
                        at_ms=START_MS + 1,
                    )
                )
    append(database, tenant, events)
    drain(database)


async def test_routes_shape_and_type_checks(http: httpx.AsyncClient, acme: Credential) -> None:
    created = await _create(http, acme, algorithm="thompson")
    assert created["type"] == "auto_allocate"
    assert created["autoAllocateTraffic"] == {
        "enabled": True,
        "successEvaluationCriteria": "conversion_rate",
        "algorithm": "thompson",
    }
    item = f"/acme/target/activities/autoallocate/{created['id']}"
    read = await http.get(item, headers=_v1(acme))
    assert read.status_code == 200 and read.json()["name"] == "Hero test"
    # Stored as an A/B activity that allocates automatically.
    ab = await http.get(
        f"/acme/target/activities/ab/{created['id']}",
        headers={**acme.headers, "Accept": "application/vnd.adobe.target.v3+json"},
    )
    assert ab.json()["autoAllocate"]["enabled"] is True
    offers = [await offer(http, acme, f"plain-{i}") for i in range(2)]
    plain = await http.post(
        "/acme/target/activities/ab",
        json=ab_body(offers),
        headers={**acme.headers, "Content-Type": "application/vnd.adobe.target.v3+json"},
    )
    plain_id = plain.json()["id"]
    missing = await http.get(f"/acme/target/activities/autoallocate/{plain_id}", headers=_v1(acme))
    assert missing.status_code == 404
    # v3 is not a version of this resource (Adobe: v1 only).
    v3 = await http.get(
        item, headers={**acme.headers, "Accept": "application/vnd.adobe.target.v3+json"}
    )
    assert v3.status_code == 406
    bad = await http.post(
        "/acme/target/activities/autoallocate",
        headers=_v1(acme),
        json={**read.json(), "id": None, "autoAllocateTraffic": {"algorithm": "greedy"}},
    )
    assert bad.status_code == 400
    changed = {**read.json(), "name": "Renamed"}
    changed.pop("modifiedByName", None)
    put = await http.put(item, json=changed, headers=_v1(acme))
    assert put.status_code == 200, put.text
    assert put.json()["name"] == "Renamed" and put.json()["type"] == "auto_allocate"
    deleted = await http.delete(item, headers=_v1(acme))
    assert deleted.status_code == 200
    assert (await http.get(item, headers=_v1(acme))).status_code == 404


async def test_reallocation_moves_traffic_and_keeps_history(
    http: httpx.AsyncClient, acme: Credential, database: Database
) -> None:
    created = await _create(http, acme)
    activity = created["id"]
    # Warm-up: experience 2 has too few conversions, so the split stays even.
    _traffic(database, activity, {0: (1000, 50), 1: (1000, 60), 2: (1000, 40)})
    reallocate_all(database, {})
    with database.session() as s:
        row = s.get(Activity, activity)
        assert row is not None
        shares = [e["visitorPercentage"] for e in orjson.loads(row.definition)["experiences"]]
    assert shares == [34, 33, 33]
    _traffic(database, activity, {0: (4000, 200), 1: (4000, 400), 2: (4000, 220)})
    with database.session() as s:
        jobs_before = len(s.scalars(select(Job)).all())
    reallocate_all(database, {})
    with database.session() as s:
        row = s.get(Activity, activity)
        assert row is not None
        shares = [e["visitorPercentage"] for e in orjson.loads(row.definition)["experiences"]]
        changes = s.scalars(select(ActivityChange).where(ActivityChange.activity_id == activity))
        by_reports = [c for c in changes if c.modified_by == allocation.CLIENT_ID]
        jobs_after = len(s.scalars(select(Job)).all())
    # Experience 1 leads by far: a winner takes 80 % plus its share of the 20 %.
    assert shares[1] == max(shares) and sum(shares) == 100
    assert min(shares) >= 6  # 20 % spread over three experiences, rounded
    assert by_reports, "the split change is in the changelog"
    assert jobs_after >= jobs_before  # an artifact rebuild is pending (deduplicated)
    history = await http.get(
        f"/acme/target/activities/autoallocate/{activity}/allocations", headers=_v1(acme)
    )
    assert history.status_code == 200
    rounds = history.json()["allocations"]
    assert history.json()["total"] == 2
    assert rounds[0]["phase"] in ("explore", "winner") and rounds[1]["phase"] == "warmup"
    # The second batch re-sends the first 1,000 visitors' events: counted once.
    assert [e["visitors"] for e in rounds[0]["experiences"]] == [4000, 4000, 4000]
    assert [e["conversions"] for e in rounds[0]["experiences"]] == [200, 400, 220]
    # The performance report of an auto-allocate activity has no SRM check (the split moves).
    report = await http.get(
        f"/acme/target/activities/ab/{activity}/report/performance", headers=acme.headers
    )
    assert report.json()["report"]["analysis"]["srm"] is None
    latest = report.json()["report"]["analysis"]["autoAllocate"]
    assert (
        latest["phase"] == rounds[0]["phase"] and latest["experiences"] == rounds[0]["experiences"]
    )


async def test_a_new_split_moves_new_visitors_only(
    http: httpx.AsyncClient, acme: Credential, database: Database, app: Any
) -> None:
    from cible.delivery.source import StoreArtifactSource
    from cible.jobs import run_pending

    # Read the served artifact at every call (the default rereads it once a second).
    app.state.artifact_source = StoreArtifactSource(database, refresh_seconds=0)
    created = await _create(http, acme)
    run_pending(database)

    async def content(visitor: str) -> str:
        response = await http.post(
            f"/rest/v1/delivery?client=acme&sessionId={visitor}",
            json={
                "context": {"channel": "web"},
                "id": {"tntId": f"{visitor}.0"},
                "execute": {"mboxes": [{"index": 0, "name": "hero"}]},
            },
        )
        assert response.status_code == 200, response.text
        return str(response.json()["execute"]["mboxes"][0]["options"][0]["content"])

    before = {f"old{i}": await content(f"old{i}") for i in range(12)}
    assert len(set(before.values())) > 1  # an even split at first
    body = (
        await http.get(f"/acme/target/activities/autoallocate/{created['id']}", headers=_v1(acme))
    ).json()
    for experience, share in zip(body["experiences"], (1, 1, 98), strict=True):
        experience["visitorPercentage"] = share
    body.pop("modifiedByName", None)
    put = await http.put(
        f"/acme/target/activities/autoallocate/{created['id']}", json=body, headers=_v1(acme)
    )
    assert put.status_code == 200, put.text
    run_pending(database)
    # Returning visitors keep their experience; new ones follow the new split.
    assert {v: await content(v) for v in before} == before
    fresh = [await content(f"new{i}") for i in range(20)]
    favourite = max(set(fresh), key=fresh.count)
    assert fresh.count(favourite) >= 17
