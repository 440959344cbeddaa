"""The report endpoints through the Admin API: Adobe's counts, Cible's analysis, CSV, errors."""

from __future__ import annotations

import csv
import io
import itertools
from typing import Any

import httpx
import pytest

from cible.events import drain
from cible.store import Database
from cible.tenants import service as tenants
from tests.activities._kit import ab_body, audience, offer, v3
from tests.conftest import BACKENDS, Credential, World
from tests.reports._events import DAY_MS, START_MS, payload, recount, simulate
from tests.reports._events import append as append_only

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]
V1 = "application/vnd.adobe.target.v1+json"
_names = itertools.count()


async def _activity(
    http: httpx.AsyncClient, acme: Credential, kind: str = "ab", database: Database | None = None
) -> int:
    offers = [await offer(http, acme, f"{kind}-{next(_names)}") for _ in range(3)]
    body = ab_body(offers)
    if kind == "xt":
        assert database is not None
        gold = audience(database, "acme", "gold")
        for e in body["experiences"]:
            e.pop("visitorPercentage")
            e["audienceIds"] = [gold]
        body["experiences"][-1]["audienceIds"] = []
    response = await http.post(f"/acme/target/activities/{kind}", json=body, headers=v3(acme))
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def append(database: Database, tenant: int, events: list[dict[str, Any]]) -> None:
    append_only(database, tenant, events)
    drain(database)


def _tenant_id(database: Database, code: str = "acme") -> int:
    with database.session() as s:
        return tenants.get_tenant(s, code).id


async def _report(
    http: httpx.AsyncClient, acme: Credential, activity: int, accept: str = V1, **params: Any
) -> httpx.Response:
    headers = {**acme.headers, "Accept": accept}
    return await http.get(
        f"/acme/target/activities/ab/{activity}/report/performance", params=params, headers=headers
    )


async def test_performance_report_counts_and_analysis(
    http: httpx.AsyncClient, acme: Credential, database: Database
) -> None:
    activity = await _activity(http, acme)
    events = simulate(activity, 600, {0: 0.1, 1: 0.2, 2: 0.1}, seed=3)
    append(database, _tenant_id(database), events)
    response = await _report(http, acme, activity)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == V1
    body = response.json()
    assert body["reportParameters"]["activityId"] == activity
    assert body["reportParameters"]["conversionMetricLocalIds"] == [32767]
    assert body["activity"]["experiences"][0] == {"name": "Experience A", "experienceLocalId": 0}
    stats = body["report"]["statistics"]
    expected = recount(events)
    assert stats["totals"]["visitor"]["totals"] == {
        "entries": 600,
        "conversions": sum(r["converted"] for r in expected.values()),
    }
    by_exp = {e["experienceLocalId"]: e for e in stats["experiences"]}
    for exp, counts in expected.items():
        totals = by_exp[exp]["totals"]
        assert totals["visitor"]["totals"]["entries"] == counts["visitors"]
        assert totals["visit"]["totals"]["entries"] == counts["visits"]
        assert totals["impression"]["totals"]["entries"] == counts["impressions"]
        assert totals["landing"] == totals["impression"]
    control, better = by_exp[0]["analysis"], by_exp[1]["analysis"]
    assert control["control"] is True and "lift" not in control
    rate = better["conversionRate"]
    assert rate["lower"] < rate["value"] < rate["upper"]
    assert better["lift"]["value"] > 0 and 0 <= better["confidence"] <= 1
    assert better["adjustedPValue"] >= better["pValue"]
    assert 0 <= better["bayesian"]["chanceToBeatControl"] <= 1
    assert better["sequential"]["lower"] <= better["lift"]["lower"]
    assert better["revenue"]["total"] == pytest.approx(expected[1]["revenue"])
    overall = body["report"]["analysis"]
    assert overall["countingMethod"] == "visitor" and overall["correction"] == "holm"
    assert overall["srm"]["mismatch"] is False
    assert overall["sampleSize"]["requiredPerExperience"] > 0


async def test_v3_interval_counting_and_csv(
    http: httpx.AsyncClient, acme: Credential, database: Database
) -> None:
    activity = await _activity(http, acme)
    tenant = _tenant_id(database)
    day2 = START_MS + 2 * DAY_MS
    append(
        database,
        tenant,
        [
            payload("impression", "a", activity, 0, "v1", session="s1", at_ms=START_MS),
            payload("impression", "b", activity, 1, "v2", session="s2", at_ms=day2),
            payload("impression", "c", activity, 1, "v2", session="s3", at_ms=day2 + 5),
            payload(
                "conversion",
                "d",
                activity,
                1,
                "v2",
                session="s3",
                mbox="orderConfirmPage",
                at_ms=day2 + 9,
            ),
        ],
    )
    v3_accept = "application/vnd.adobe.target.v3+json"
    response = await _report(
        http,
        acme,
        activity,
        accept=v3_accept,
        reportInterval="2026-01-02T00:00Z/2026-01-04T00:00Z",
        countingMethod="visit",
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == v3_accept
    body = response.json()
    assert body["reportParameters"]["reportInterval"] == "2026-01-02T00:00Z/2026-01-04T00:00Z"
    assert body["report"]["statistics"]["totals"]["visitor"]["totals"] == {
        "entries": 1,
        "conversions": 1,
    }
    assert body["report"]["statistics"]["totals"]["visit"]["totals"] == {
        "entries": 2,
        "conversions": 1,
    }
    assert body["report"]["analysis"]["countingMethod"] == "visit"
    assert body["report"]["analysis"]["srm"] is None  # visits are not the assigned unit
    daily = (await _report(http, acme, activity, resolution="day")).json()
    assert daily["reportParameters"]["resolution"] == "day"
    series = {
        e["experienceLocalId"]: e["analysis"]["series"]
        for e in daily["report"]["statistics"]["experiences"]
    }
    assert [(p["date"], p["entries"], p["conversions"]) for p in series[1]] == [
        ("2026-01-03", 1, 1)
    ]
    assert [(p["date"], p["entries"], p["conversions"]) for p in series[0]] == [
        ("2026-01-01", 1, 0)
    ]
    assert series[2] == []
    assert (await _report(http, acme, activity, resolution="hour")).status_code == 400
    response = await _report(http, acme, activity, accept="text/csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["experienceLocalId"] for r in rows] == ["0", "1", "2"]
    assert rows[1]["entries"] == "1" and rows[1]["conversions"] == "1"
    assert rows[0]["control"] == "true"


async def test_orders_report_flags_extreme_orders(
    http: httpx.AsyncClient, acme: Credential, database: Database
) -> None:
    activity = await _activity(http, acme)
    events = [
        payload(
            "order",
            f"ord:{activity}:o{i}",
            activity,
            i % 2,
            f"v{i}",
            order_id=f"o{i}",
            revenue=40.0 + i % 3,
            at_ms=START_MS + i,
        )
        for i in range(40)
    ]
    events.append(
        payload(
            "order",
            f"ord:{activity}:big",
            activity,
            0,
            "whale",
            order_id="big",
            revenue=9000.0,
            at_ms=START_MS + 100,
        )
    )
    events.append(dict(events[0]))  # the same order id again: counted once
    append(database, _tenant_id(database), events)
    response = await http.get(
        f"/acme/target/activities/ab/{activity}/report/orders", headers=acme.headers
    )
    assert response.status_code == 200, response.text
    orders = response.json()["orders"]
    assert len(orders) == 41
    assert [o["id"] for o in orders if o["outlier"]] == ["big"]
    assert orders[0] == {
        "time": "2026-01-01T00:00:00.000Z",
        "experienceLocalId": 0,
        "id": "o0",
        "total": 40.0,
        "duplicate": False,
        "outlier": False,
        "productIds": [],
    }
    response = await http.get(
        f"/acme/target/activities/ab/{activity}/report/orders",
        headers={**acme.headers, "Accept": "text/csv"},
    )
    assert response.text.splitlines()[0] == "time,experienceLocalId,id,total,duplicate,outlier"
    # Winsorising caps the whale's revenue in the performance report.
    capped = (await _report(http, acme, activity, winsorizePercentile="90")).json()
    plain = (await _report(http, acme, activity)).json()

    def revenue(body: dict[str, Any]) -> float:
        return float(body["report"]["statistics"]["experiences"][0]["analysis"]["revenue"]["total"])

    assert revenue(capped) < revenue(plain) - 8000


async def test_xt_report_and_bad_input(
    http: httpx.AsyncClient, acme: Credential, world: World, database: Database
) -> None:
    xt = await _activity(http, acme, "xt", database)
    response = await http.get(
        f"/acme/target/activities/xt/{xt}/report/performance", headers=acme.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["report"]["analysis"]["srm"] is None
    assert response.json()["report"]["statistics"]["totals"]["visitor"]["totals"] == {
        "entries": 0,
        "conversions": 0,
    }
    # An XT id on the A/B path is not found, like every other A/B route.
    assert (await _report(http, acme, xt)).status_code == 404
    ab = await _activity(http, acme)
    bad = await _report(
        http,
        acme,
        ab,
        reportInterval="2026-02-01/2026-01-01",
        countingMethod="session",
        environmentId="999999",
        winsorizePercentile="0",
    )
    assert bad.status_code == 400
    messages = " ".join(e["message"] for e in bad.json()["errors"])
    for name in ("reportInterval", "countingMethod", "winsorizePercentile"):
        assert name in messages
    bad = await _report(http, acme, ab, environmentId="999999")
    assert bad.status_code == 400 and "environmentId" in bad.text
    bad = await _report(http, acme, ab, metricLocalId="5")
    assert bad.status_code == 400 and "metricLocalId" in bad.text
    assert (
        await _report(http, acme, ab, accept="application/vnd.adobe.target.v9+json")
    ).status_code == 406
    # Another tenant's credential never reads acme's report.
    world.tenant("beta")
    beta = await world.credential("beta", "approver")
    response = await http.get(
        f"/beta/target/activities/ab/{ab}/report/performance", headers=beta.headers
    )
    assert response.status_code == 404
