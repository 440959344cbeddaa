"""The report page in a real browser with its reporting-audience menu and the reset's
confirmation: choosing an audience, resetting, axe-core, the content-security policy, a phone."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from cible.activities.abxt import service as activities
from cible.activities.abxt.schemas import ActivityIn
from cible.activities.offers import service as offers
from cible.activities.offers.schemas import ContentOfferIn
from cible.store import Database
from cible.store.base import utcnow
from cible.ui import users
from tests.activities._kit import ab_body, audience
from tests.ui.conftest import UiSession

pytestmark = pytest.mark.slow


def _seed(ui: UiSession) -> int:
    """A saved A/B activity with the reporting audience "Browser gold" (local id 1)."""
    db = Database(ui.database_url)
    try:
        gold = audience(db, "acme", "Browser gold", {"mbox": "tier", "equals": ["gold"]})
        with db.session() as s:
            principal = users.principal_for(s, users.get_user(s, "ana"), "acme")
            made = [
                offers.create_offer(
                    s,
                    principal,
                    "content",
                    ContentOfferIn(name=f"Browser report offer {i}", content="<p>r</p>"),
                    utcnow(),
                ).id
                for i in range(2)
            ]
            reporting = [
                {"reportingAudienceLocalId": 1, "audienceId": gold, "metricLocalId": 32767}
            ]
            body = ab_body(made, name="Browser report", reportingAudiences=reporting)
            created = activities.create_activity(
                s, principal, "ab", ActivityIn.model_validate(body), utcnow()
            )
            return created.id
    finally:
        db.dispose()


def _no_serious_axe(ui: UiSession, page: Any) -> None:
    violations = ui.axe(page)
    assert violations == [], f"axe-core on {page.url}: {violations}"


def test_report_audience_menu_and_reset_confirmation(ui: UiSession) -> None:
    activity_id = _seed(ui)
    report = ui.url(f"/acme/activities/{activity_id}/report")
    page = ui.page("ana")
    page.goto(report)
    _no_serious_axe(ui, page)
    page.get_by_label("Visitors").select_option(label="Reporting audience: Browser gold")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r".*reportingAudienceLocalId=1"))
    expect(page.get_by_label("Visitors")).to_have_value("1")
    csv = page.get_by_role("link", name="Download CSV")
    expect(csv).to_have_attribute("href", re.compile(r"report\.csv\?.*reportingAudienceLocalId=1"))
    _no_serious_axe(ui, page)

    page.get_by_role("link", name="Reset report data").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Reset report data: Browser report")
    _no_serious_axe(ui, page)
    page.get_by_role("button", name="Reset report data").click()
    expect(page.get_by_role("status")).to_contain_text("Report data reset at")
    _no_serious_axe(ui, page)

    observer = ui.page("olga")
    observer.goto(report)
    expect(observer.get_by_role("button", name="Reset report data")).to_be_disabled()

    phone = ui.page("ana", width=390, height=844)
    phone.goto(report + "?reportingAudienceLocalId=1")
    overflow = phone.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"the report scrolls sideways at 390 px ({overflow} px)"
    assert ui.csp_violations() == []
