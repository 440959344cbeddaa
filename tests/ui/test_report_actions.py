"""The report page's reporting-audience filter (and its CSV) and the "Reset report data" action,
in-process through the ASGI app: numbers from real delivery calls, roles, CSRF, confirmation."""

from __future__ import annotations

import csv
import html
import io
import re
from typing import Any

import httpx
import pytest

from cible.jobs import run_pending
from cible.store import Database
from cible.ui import users
from cible.ui.tables import User
from tests.activities._kit import ab_body, audience, offer, v3
from tests.conftest import BACKENDS, Credential, World, count_rows
from tests.ui.test_http import _csrf, _password_hash, _sign_in

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]

DELIVERY = "/rest/v1/delivery?client=acme&sessionId="
GOLD = 1  # the reporting audience's local id
NAMES = {0: "Experience A", 1: "Experience B"}  # ab_body's experience names
ROW = re.compile(
    r"<tr>\s*<td>([^<]+?)(?: \(control\))?</td>\s*<td>(\d+)</td>\s*<td>(\d+)</td>", re.S
)

Counts = dict[str, tuple[int, int]]


@pytest.fixture
def people(acme: Credential, database: Database) -> None:
    """``ana`` (approver: may reset) and ``ed`` (editor: may not) on ``acme``."""
    with database.session() as s:
        for name, role in (("ana", "approver"), ("ed", "editor")):
            user = User(username=name, password_hash=_password_hash())
            s.add(user)
            s.flush()
            users.grant(s, user, tenant_code="acme", role=role)


async def _deliver(http: httpx.AsyncClient, visitor: str, mbox: dict[str, Any]) -> Any:
    body = {
        "context": {"channel": "web"},
        "id": {"tntId": f"{visitor}.0"},
        "execute": {"mboxes": [{"index": 0, **mbox}]},
    }
    response = await http.post(DELIVERY + visitor, json=body)
    assert response.status_code == 200, response.text
    return response.json()["execute"]["mboxes"][0]


async def _reported(world: World, acme: Credential) -> tuple[int, Counts, Counts]:
    """An approved A/B activity with the reporting audience "Gold tier" and traffic: its id, and
    the entries and conversions per experience name of everyone and of the gold visitors."""
    gold = audience(world.database, "acme", "Gold tier", {"mbox": "tier", "equals": ["gold"]})
    offers = [await offer(world.http, acme, f"ui-ra-{i}") for i in range(2)]
    reporting = [{"reportingAudienceLocalId": GOLD, "audienceId": gold, "metricLocalId": 32767}]
    created = await world.http.post(
        "/acme/target/activities/ab",
        json=ab_body(offers, state="approved", reportingAudiences=reporting),
        headers=v3(acme),
    )
    assert created.status_code == 201, created.text
    activity = int(created.json()["id"])
    run_pending(world.database)

    tiers = {"gold-0": "gold", "gold-1": "gold", "gold-2": "gold"}
    tiers |= {f"plain-{n}": "silver" for n in range(4)}
    converted = {"gold-0", "plain-0", "plain-1"}
    shown: dict[str, int] = {}
    for visitor, tier in tiers.items():
        hero = await _deliver(world.http, visitor, {"name": "hero", "parameters": {"tier": tier}})
        shown[visitor] = int(hero["options"][0]["responseTokens"]["experience.id"])
    for visitor in converted:
        await _deliver(world.http, visitor, {"name": "orderConfirmPage"})

    def by_hand(visitors: set[str]) -> Counts:
        counts = {name: (0, 0) for name in NAMES.values()}
        for visitor in visitors:
            entries, conversions = counts[NAMES[shown[visitor]]]
            counts[NAMES[shown[visitor]]] = (entries + 1, conversions + (visitor in converted))
        return counts

    everyone = by_hand(set(tiers))
    golds = by_hand({v for v, t in tiers.items() if t == "gold"})
    assert everyone != golds
    return activity, everyone, golds


def _table(page: str) -> Counts:
    return {html.unescape(n): (int(e), int(c)) for n, e, c in ROW.findall(page)}


def _csv_url(page: str) -> str:
    found = re.search(r'<a class="button" href="([^"]+)" download>Download CSV</a>', page)
    assert found, "no CSV link on the report page"
    return html.unescape(found.group(1))


async def test_the_report_filters_by_reporting_audience_and_its_csv_follows(
    http: httpx.AsyncClient, world: World, acme: Credential, people: None
) -> None:
    activity, everyone, golds = await _reported(world, acme)
    await _sign_in(http, "ed")  # reading reports needs no more than the read right
    page = f"/ui/acme/activities/{activity}/report"

    whole = await http.get(page)
    assert whole.status_code == 200
    assert '<label for="reportingAudienceLocalId">Visitors</label>' in whole.text
    assert re.search(r'<option value="">All visitors</option>', whole.text)
    assert f'<option value="{GOLD}">Reporting audience: Gold tier</option>' in whole.text
    assert _table(whole.text) == everyone

    filtered = await http.get(page, params={"reportingAudienceLocalId": str(GOLD)})
    assert filtered.status_code == 200
    assert f'<option value="{GOLD}" selected>' in filtered.text
    assert _table(filtered.text) == golds
    # The counting method and the audience combine, as in the API.
    by_visit = await http.get(
        page, params={"countingMethod": "visit", "reportingAudienceLocalId": str(GOLD)}
    )
    assert _table(by_visit.text) == golds  # one visit each

    # The CSV link carries the choice: the download counts the same visitors.
    for shown, expected in ((whole.text, everyone), (filtered.text, golds)):
        download = await http.get(_csv_url(shown))
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("text/csv")
        assert "attachment" in download.headers["content-disposition"]
        rows = csv.DictReader(io.StringIO(download.text))
        got = {r["experienceName"]: (int(r["entries"]), int(r["conversions"])) for r in rows}
        assert got == expected
    assert "reportingAudienceLocalId=1" in _csv_url(filtered.text)
    assert "reportingAudienceLocalId" not in _csv_url(whole.text)

    # An audience the activity does not have: the service's message, and no numbers.
    unknown = await http.get(page, params={"reportingAudienceLocalId": "9"})
    assert unknown.status_code == 200
    assert "the activity has no reporting audience 9" in unknown.text
    assert _table(unknown.text) == {}
    bad_csv = await http.get(f"{page}.csv", params={"reportingAudienceLocalId": "9"})
    assert bad_csv.status_code == 400


async def test_an_activity_without_reporting_audiences_shows_no_audience_control(
    http: httpx.AsyncClient, world: World, acme: Credential, people: None
) -> None:
    offers = [await offer(world.http, acme, f"ui-plain-{i}") for i in range(2)]
    created = await world.http.post(
        "/acme/target/activities/ab", json=ab_body(offers), headers=v3(acme)
    )
    activity = int(created.json()["id"])
    await _sign_in(http, "ana")
    page = await http.get(f"/ui/acme/activities/{activity}/report")
    assert page.status_code == 200
    assert 'id="reportingAudienceLocalId"' not in page.text
    assert _csv_url(page.text) == f"/ui/acme/activities/{activity}/report.csv"


async def _changelog(world: World, acme: Credential, activity: int) -> list[dict[str, Any]]:
    log = await world.http.get(
        f"/acme/target/activities/{activity}/changelog", headers=acme.headers
    )
    assert log.status_code == 200, log.text
    entries: list[dict[str, Any]] = log.json()["activityChangelogs"]
    return entries


async def test_reset_needs_the_activate_right_and_a_confirmation(
    http: httpx.AsyncClient, world: World, acme: Credential, people: None, database: Database
) -> None:
    activity, everyone, golds = await _reported(world, acme)
    report = f"/ui/acme/activities/{activity}/report"
    reset = f"/ui/acme/activities/{activity}/reset"
    disabled = re.compile(
        r"<button type=\"button\" class=\"danger\" disabled[^>]*>Reset report data"
    )
    rows = count_rows(database, "report_daily")
    assert rows > 0

    # An editor sees the action disabled everywhere, and a forged post is refused.
    csrf = await _sign_in(http, "ed")
    for path in (report, f"/ui/acme/activities/{activity}"):
        assert disabled.search((await http.get(path)).text), path
    confirm = await http.get(reset)
    assert re.search(r'<button type="submit" class="danger" disabled[^>]*>Reset', confirm.text)
    forged = await http.post(reset, data={"csrf_token": csrf, "confirm": "yes"})
    assert forged.status_code == 403
    assert "User ed lacks the activate right" in forged.text
    assert count_rows(database, "report_daily") == rows
    assert not any(e["reportDataReset"] for e in await _changelog(world, acme, activity))

    # An approver goes from the report to the confirmation page, then resets.
    await http.post("/ui/signout", data={"csrf_token": csrf})
    csrf = await _sign_in(http, "ana")
    page = await http.get(report)
    assert f'<a class="button danger" href="{reset}">Reset report data</a>' in page.text
    confirm = await http.get(reset)
    assert confirm.status_code == 200
    assert "This cannot be undone." in confirm.text
    token = _csrf(confirm.text)
    assert 'name="confirm" value="yes"' in confirm.text
    # Without the confirmation or without the CSRF token nothing happens.
    unconfirmed = await http.post(reset, data={"csrf_token": token})
    assert unconfirmed.status_code == 400
    assert "confirm" in unconfirmed.text
    tokenless = await http.post(reset, data={"confirm": "yes"})
    assert tokenless.status_code == 403
    assert count_rows(database, "report_daily") == rows
    assert _table((await http.get(report)).text) == everyone

    # Never reset yet: the notice the reset redirects to says nothing.
    assert 'class="notice"' not in (await http.get(report, params={"notice": "reset"})).text
    posted = await http.post(reset, data={"csrf_token": token, "confirm": "yes"})
    assert posted.status_code == 303
    assert posted.headers["location"] == f"{report}?notice=reset"
    done = await http.get(posted.headers["location"])
    assert done.status_code == 200
    assert re.search(
        r'<p class="notice" role="status">Report data reset at \S+Z by ana: ', done.text
    )
    assert _csv_url(done.text) == f"{report}.csv"  # the notice is no report parameter
    empty = {name: (0, 0) for name in NAMES.values()}
    assert _table(done.text) == empty
    gold = await http.get(report, params={"reportingAudienceLocalId": str(GOLD)})
    assert _table(gold.text) == empty
    assert golds != empty
    assert count_rows(database, "report_daily") == 0

    entries = await _changelog(world, acme, activity)
    assert [e["reportDataReset"] for e in entries].count(True) == 1
    assert entries[-1]["reportDataReset"] is True and entries[-1]["modifiedBy"] == "ana"
    detail = await http.get(f"/ui/acme/activities/{activity}")
    assert "report data reset" in detail.text

    # Another tenant's, or a missing, activity is a 404 that resets nothing.
    missing = await http.post(
        f"/ui/acme/activities/{activity + 999}/reset", data={"csrf_token": token, "confirm": "yes"}
    )
    assert missing.status_code == 404
