"""Views and click metrics, end to end: an activity with a view and a click metric, created
through the Admin API, is prefetched by the delivery API and decided by the SDK on-device from
``rules.json``; both answer the view's options and its click metric with an event token, and a
click notification carrying that token is a conversion in the activity's report."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cible.events import drain, load_consumers
from cible.jobs import run_pending
from cible.sdk import ASGITransport, TargetClient
from cible.tenants import service as tenants
from tests.activities._kit import offer, v1, v3
from tests.conftest import Credential, World

pytestmark = pytest.mark.anyio

BUTTON = "#cart > BUTTON.checkout"
TITLE = "#cart > H1:nth-of-type(1)"
AT = 1_767_225_600_000


def view_activity(offers: list[int], **extra: Any) -> dict[str, Any]:
    """An A/B activity changing the ``cart`` view's title, a click on checkout its metric."""
    body: dict[str, Any] = {
        "name": "Cart title",
        "state": "approved",
        "options": [{"optionLocalId": i, "offerId": o} for i, o in enumerate(offers)],
        "locations": {
            "selectors": [
                {
                    "locationLocalId": 0,
                    "name": "Title",
                    "selector": TITLE,
                    "selectorVersion": 1,
                    "viewLocalId": 0,
                }
            ]
        },
        "views": [{"viewLocalId": 0, "viewId": 77, "name": "cart"}],
        "experiences": [
            {
                "experienceLocalId": i,
                "name": f"Experience {i}",
                "visitorPercentage": 50,
                "optionLocations": [{"locationLocalId": 0, "optionLocalId": i}],
            }
            for i in range(len(offers))
        ],
        "metrics": [
            {
                "metricLocalId": 32767,
                "name": "Checkout clicked",
                "conversion": True,
                "clickTrackSelectors": [{"selector": BUTTON, "viewLocalId": 0}],
                "action": {"type": "count_once"},
            }
        ],
    }
    body.update(extra)
    return body


async def test_view_and_click_metric_end_to_end(world: World, acme: Credential, app: Any) -> None:
    http = world.http
    offers = [await offer(http, acme, f"title-{i}") for i in range(2)]
    created = await http.post(
        "/acme/target/activities/ab", json=view_activity(offers), headers=v3(acme)
    )
    assert created.status_code == 201, created.text
    activity = created.json()
    assert activity["views"] == [
        {"viewLocalId": 0, "viewId": 77, "name": "cart", "audienceIds": []}
    ]
    assert activity["locations"]["selectors"][0]["selector"] == TITLE
    assert activity["metrics"][0]["clickTrackSelectors"] == [
        {"selector": BUTTON, "audienceIds": [], "viewLocalId": 0}
    ]
    fetched = await http.get(f"/acme/target/activities/ab/{activity['id']}", headers=v3(acme))
    assert fetched.json()["views"] == activity["views"]
    assert run_pending(world.database) >= 1

    rules = (await http.get("/acme/production/v1/rules.json")).json()
    assert rules["localViews"] == ["cart"]
    assert [r["ruleKey"] for r in rules["rules"]["views"]["cart"]] == [f"{activity['id']}-0"] * 2

    # The delivery API: a prefetch of the view.
    prefetch = {"context": {"channel": "web"}, "id": {"tntId": "shopper.0"}}
    prefetch["prefetch"] = {"views": [{"name": "cart"}]}
    response = await http.post("/rest/v1/delivery?client=acme&sessionId=s1", json=prefetch)
    assert response.status_code == 200, response.text
    [view] = response.json()["prefetch"]["views"]
    experience = _check_view(view, offers)

    # The SDK, on-device from the same rules.json, answers the same view.
    with world.database.session() as s:
        organization_id = tenants.get_tenant(s, "acme").organization_id
    client = TargetClient.create(
        {
            "client": "acme",
            "organization_id": organization_id,
            "server_domain": "cible.test",
            "decisioning_method": "on-device",
            "polling_interval": 0,
            "transport": ASGITransport(app),
            "notification_flush_interval": 3600,
        }
    )
    try:
        local = client.get_offers({"request": prefetch})["response"]
    finally:
        client.close()
    [local_view] = local["prefetch"]["views"]
    assert _check_view(local_view, offers) == experience
    assert local_view["metrics"] == view["metrics"]

    # The click comes back as at.js sends it: a click notification naming the view.
    click = {
        "id": "click-1",
        "type": "click",
        "timestamp": AT,
        "view": {"name": "cart"},
        "tokens": [view["metrics"][0]["eventToken"]],
    }
    notified = await http.post(
        "/rest/v1/delivery?client=acme&sessionId=s1",
        json={
            "context": {"channel": "web"},
            "id": {"tntId": "shopper.0"},
            "notifications": [click],
        },
    )
    assert notified.status_code == 200, notified.text
    assert [n["id"] for n in notified.json()["notifications"]] == ["click-1"]
    load_consumers()
    drain(world.database)
    report = await http.get(
        f"/acme/target/activities/ab/{activity['id']}/report/performance", headers=acme.headers
    )
    assert report.status_code == 200, report.text
    experiences = report.json()["report"]["statistics"]["experiences"]
    conversions = {
        e["experienceLocalId"]: e["totals"]["visitor"]["totals"]["conversions"] for e in experiences
    }
    assert conversions[experience] == 1
    assert conversions[1 - experience] == 0


def _check_view(view: dict[str, Any], offers: list[int]) -> int:
    """The view's one option and click metric; returns the experience it shows."""
    assert view["name"] == "cart"
    [option] = view["options"]
    assert option["type"] == "actions"
    experience = int(option["responseTokens"]["experience.id"])
    assert option["content"] == [
        {
            "type": "setHtml",
            "selector": TITLE,
            "cssSelector": TITLE,
            "content": f"<p>title-{experience}</p>",
        }
    ]
    assert option["eventToken"]
    [metric] = view["metrics"]
    assert metric["type"] == "click" and metric["selector"] == BUTTON
    assert metric["eventToken"] and metric["eventToken"] != option["eventToken"]
    assert option["responseTokens"]["offer.id"] == offers[experience]
    return experience


async def test_views_are_validated(http: httpx.AsyncClient, acme: Credential) -> None:
    offers = [await offer(http, acme, f"bad-{i}") for i in range(2)]
    body = view_activity(offers)
    body["locations"]["selectors"][0]["viewLocalId"] = 5
    body["metrics"][0]["clickTrackSelectors"][0]["viewLocalId"] = 6
    body["views"].append({"viewLocalId": 0, "name": "cart"})
    response = await http.post("/acme/target/activities/ab", json=body, headers=v3(acme))
    assert response.status_code == 400, response.text
    text = response.text
    for path in (
        "locations.selectors[0].viewLocalId",
        "metrics[0].clickTrackSelectors[0].viewLocalId",
        "views[1].viewLocalId",
        "views[1].name",
    ):
        assert path in text, path
    # A selector location shares the location ids of the mboxes.
    body = view_activity(offers)
    body["locations"]["mboxes"] = [{"locationLocalId": 0, "name": "hero"}]
    response = await http.post("/acme/target/activities/ab", json=body, headers=v3(acme))
    assert response.status_code == 400
    assert "locations.selectors[0].locationLocalId" in response.text
    # A metric's views (view-shown success events) are not implemented: refused, not ignored.
    body = view_activity(offers)
    body["metrics"][0]["views"] = [{"viewLocalId": 0}]
    response = await http.post("/acme/target/activities/ab", json=body, headers=v3(acme))
    assert response.status_code == 400
    # Nothing was created.
    listed = await http.get("/acme/target/activities", headers=v1(acme))
    assert listed.json()["total"] == 0


async def test_activities_without_views_read_as_before(
    http: httpx.AsyncClient, acme: Credential
) -> None:
    offers = [await offer(http, acme, "plain")]
    body = view_activity(
        offers, views=[], locations={"mboxes": [{"locationLocalId": 0, "name": "hero"}]}
    )
    body["experiences"][0]["visitorPercentage"] = 100
    body["metrics"][0]["clickTrackSelectors"] = []
    body["metrics"][0]["mboxes"] = [{"name": "thanks"}]
    response = await http.post("/acme/target/activities/ab", json=body, headers=v3(acme))
    assert response.status_code == 201, response.text
    out = response.json()
    assert "views" not in out
    assert "selectors" not in out["locations"]
    assert "clickTrackSelectors" not in out["metrics"][0]
