"""Reports by reporting audience (``reportingAudienceLocalId``): delivery calls record which
visitors qualified, and the filtered report counts only them, live and after a rebuild."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cible.jobs import run_pending
from cible.reports.backfill import rebuild
from tests.activities._kit import ab_body, audience, offer, v3
from tests.conftest import BACKENDS, Credential, World

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]

DELIVERY = "/rest/v1/delivery?client=acme&sessionId="
GOLD = 1  # the reporting audiences' local ids
FIREFOX = 2
FIREFOX_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


async def _deliver(world: World, visitor: str, body: dict[str, Any]) -> dict[str, Any]:
    body = {"context": {"channel": "web"}, "id": {"tntId": f"{visitor}.0"}, **body}
    response = await world.http.post(DELIVERY + visitor, json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _hero(tier: str | None = None) -> dict[str, Any]:
    mbox: dict[str, Any] = {"index": 0, "name": "hero"}
    if tier is not None:
        mbox["parameters"] = {"tier": tier}
    return mbox


async def _report(world: World, cred: Credential, activity: int, **params: Any) -> Any:
    response = await world.http.get(
        f"/acme/target/activities/ab/{activity}/report/performance",
        params=params,
        headers=cred.headers,
    )
    return response


async def test_a_report_filtered_by_reporting_audience_counts_its_visitors(
    world: World, acme: Credential, tmp_path: Path
) -> None:
    gold = audience(world.database, "acme", "gold tier", {"mbox": "tier", "equals": ["gold"]})
    firefox = audience(
        world.database, "acme", "firefox", {"browser": "type", "equals": ["firefox"]}
    )
    offers = [await offer(world.http, acme, f"ra-{i}") for i in range(2)]
    reporting = [
        {"reportingAudienceLocalId": GOLD, "audienceId": gold, "metricLocalId": 32767},
        {"reportingAudienceLocalId": FIREFOX, "audienceId": firefox, "metricLocalId": 32767},
    ]
    created = await world.http.post(
        "/acme/target/activities/ab",
        json=ab_body(offers, state="approved", reportingAudiences=reporting),
        headers=v3(acme),
    )
    assert created.status_code == 201, created.text
    activity = int(created.json()["id"])
    run_pending(world.database)

    experience: dict[str, int] = {}

    async def see_hero(visitor: str, tier: str | None, agent: str | None = None) -> None:
        body: dict[str, Any] = {"execute": {"mboxes": [_hero(tier)]}}
        if agent is not None:
            body["context"] = {"channel": "web", "userAgent": agent}
        shown = await _deliver(world, visitor, body)
        option = shown["execute"]["mboxes"][0]["options"][0]
        experience[visitor] = int(option["responseTokens"]["experience.id"])

    async def convert(visitor: str, order: str | None = None) -> None:
        mbox: dict[str, Any] = {"index": 0, "name": "orderConfirmPage"}
        if order is not None:
            mbox["order"] = {"id": order, "total": 40}
        await _deliver(world, visitor, {"execute": {"mboxes": [mbox]}})

    # Gold visitors qualify where they see the hero; others never do, except "late", who
    # converts first and qualifies afterwards: he is in the audience's report with his
    # conversion (a visitor who met the audience during the activity).
    for n in range(4):
        await see_hero(f"gold-{n}", "gold")
    for n in range(3):
        await see_hero(f"plain-{n}", "silver" if n else None)
    await see_hero("late", None)
    await see_hero("fox", None, FIREFOX_UA)
    await see_hero("gold-3", "gold", FIREFOX_UA)
    await convert("gold-0", order="order-g0")
    await convert("gold-1")
    await convert("plain-0", order="order-p0")
    await convert("late")
    await see_hero("late", "gold")

    # A visitor who enters by a display notification qualifies by the notification's
    # parameters, as an mbox call would.
    prefetched = await _deliver(world, "notified", {"prefetch": {"mboxes": [_hero()]}})
    option = prefetched["prefetch"]["mboxes"][0]["options"][0]
    experience["notified"] = int(option["responseTokens"]["experience.id"])
    notification = {
        "id": "display-1",
        "type": "display",
        "timestamp": 1_768_478_400_000,
        "mbox": {"name": "hero"},
        "parameters": {"tier": "gold"},
        "tokens": [option["eventToken"]],
    }
    answered = await _deliver(world, "notified", {"notifications": [notification]})
    assert [n["id"] for n in answered["notifications"]] == ["display-1"]

    members = {"gold-0", "gold-1", "gold-2", "gold-3", "late", "notified"}
    foxes = {"fox", "gold-3"}
    converted = {"gold-0", "gold-1", "plain-0", "late"}

    def by_hand(visitors: set[str]) -> dict[int, dict[str, int]]:
        counts: dict[int, dict[str, int]] = {}
        for visitor in visitors:
            cell = counts.setdefault(experience[visitor], {"entries": 0, "conversions": 0})
            cell["entries"] += 1
            cell["conversions"] += visitor in converted
        return counts

    async def counts(**params: Any) -> tuple[dict[str, int], dict[int, dict[str, int]]]:
        response = await _report(world, acme, activity, **params)
        assert response.status_code == 200, response.text
        stats = response.json()["report"]["statistics"]
        per_experience = {
            e["experienceLocalId"]: e["totals"]["visitor"]["totals"]
            for e in stats["experiences"]
            if e["totals"]["visitor"]["totals"]["entries"]
        }
        return stats["totals"]["visitor"]["totals"], per_experience

    everyone = set(experience)
    assert await counts() == ({"entries": 10, "conversions": 4}, by_hand(everyone))
    filtered = await counts(reportingAudienceLocalId=str(GOLD))
    assert filtered == ({"entries": 6, "conversions": 3}, by_hand(members))
    # The browser audience, from the request context: a visitor may be in both.
    by_browser = await counts(reportingAudienceLocalId=str(FIREFOX))
    assert by_browser == ({"entries": 2, "conversions": 0}, by_hand(foxes))

    response = await _report(world, acme, activity, reportingAudienceLocalId=str(GOLD))
    assert response.json()["reportParameters"]["reportingAudienceLocalIds"] == [GOLD]
    orders = await world.http.get(
        f"/acme/target/activities/ab/{activity}/report/orders",
        params={"reportingAudienceLocalId": str(GOLD)},
        headers=acme.headers,
    )
    assert orders.status_code == 200, orders.text
    assert [o["id"] for o in orders.json()["orders"]] == ["order-g0"]
    csv = await world.http.get(
        f"/acme/target/activities/ab/{activity}/report/performance",
        params={"reportingAudienceLocalId": str(GOLD)},
        headers={**acme.headers, "Accept": "text/csv"},
    )
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")

    # The DuckDB rebuild from raw events gives the same numbers.
    before = (await _report(world, acme, activity, reportingAudienceLocalId=str(GOLD))).json()
    rebuild(world.database, workdir=tmp_path)
    assert await counts(reportingAudienceLocalId=str(GOLD)) == filtered
    after = (await _report(world, acme, activity, reportingAudienceLocalId=str(GOLD))).json()
    assert after == before
    assert await counts(reportingAudienceLocalId=str(FIREFOX)) == by_browser
    assert await counts() == ({"entries": 10, "conversions": 4}, by_hand(everyone))


async def test_an_unknown_reporting_audience_is_a_400(world: World, acme: Credential) -> None:
    offers = [await offer(world.http, acme, f"ra-bad-{i}") for i in range(2)]
    created = await world.http.post(
        "/acme/target/activities/ab", json=ab_body(offers), headers=v3(acme)
    )
    activity = int(created.json()["id"])
    for value in ("7", "gold"):
        response = await _report(world, acme, activity, reportingAudienceLocalId=value)
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["httpStatus"] == 400 and body["requestId"] and body["requestTime"]
        assert body["errors"][0]["errorCode"] == "Invalid.Field"
        assert "reportingAudienceLocalId" in body["errors"][0]["message"]
