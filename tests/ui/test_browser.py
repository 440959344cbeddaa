"""The admin web UI in a real browser: the main flow, roles, the keyboard, axe-core, CSP.

Driven through ``conftest.UiSession`` against ``cible serve``; see that module for the setup.
"""

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
from tests.ui.conftest import UiSession

pytestmark = pytest.mark.slow


def _seed_activity(ui: UiSession, name: str) -> int:
    """A saved A/B activity on mbox ``home``, made through the services as ``ana``."""
    db = Database(ui.database_url)
    try:
        with db.session() as s:
            principal = users.principal_for(s, users.get_user(s, "ana"), "acme")
            offer = offers.create_offer(
                s,
                principal,
                "content",
                ContentOfferIn(name=f"{name} offer", content="<p>seeded</p>"),
                utcnow(),
            )
            body = ActivityIn.model_validate(
                {
                    "name": name,
                    "options": [{"optionLocalId": 0, "offerId": offer.id}],
                    "locations": {"mboxes": [{"locationLocalId": 0, "name": "home"}]},
                    "experiences": [
                        {
                            "experienceLocalId": 0,
                            "name": "Only",
                            "visitorPercentage": 100,
                            "optionLocations": [{"locationLocalId": 0, "optionLocalId": 0}],
                        }
                    ],
                }
            )
            return activities.create_activity(s, principal, "ab", body, utcnow()).id
    finally:
        db.dispose()


def _state(ui: UiSession, activity_id: int) -> str:
    db = Database(ui.database_url)
    try:
        with db.session() as s:
            principal = users.principal_for(s, users.get_user(s, "ana"), "acme")
            return activities.get_activity(s, principal, activity_id).state
    finally:
        db.dispose()


def _no_serious_axe(ui: UiSession, page: Any) -> None:
    violations = ui.axe(page)
    assert violations == [], f"axe-core on {page.url}: {violations}"


def test_sign_in_create_offer_audience_activity_approve_and_preview(ui: UiSession) -> None:
    page = ui.page("ana")
    _no_serious_axe(ui, page)

    page.get_by_role("link", name="Offers").click()
    page.get_by_role("link", name="New HTML offer").click()
    page.fill("#name", "Hero from the UI")
    page.fill("#content", "<h2>Hello from the UI</h2>")
    page.get_by_role("button", name="Save offer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Offer: Hero from the UI")
    expect(page.locator("iframe.offer-preview")).to_have_attribute("sandbox", "")
    _no_serious_axe(ui, page)

    page.goto(ui.url("/acme/audiences/new"))
    page.fill("#name", "Gold tier")
    page.get_by_label("Attribute of condition 1").fill("tier")
    page.get_by_label("Values of condition 1").fill("gold")
    page.fill("#t-params", "tier=gold")
    expect(page.locator("#verdict")).to_contain_text("Matches")
    page.fill("#t-params", "tier=silver")
    expect(page.locator("#verdict")).to_contain_text("Does not match")
    _no_serious_axe(ui, page)
    page.get_by_role("button", name="Save audience").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audience: Gold tier")

    page.goto(ui.url("/acme/activities/new?type=ab"))
    page.fill("#name", "Hero test from the UI")
    page.fill("#location", "hero")
    page.get_by_label("Name of experience 1").fill("Hello")
    page.get_by_label("Offer of experience 1").select_option(label="Hero from the UI (content)")
    page.get_by_label("Traffic percentage of experience 1").fill("100")
    _no_serious_axe(ui, page)
    page.get_by_role("button", name="Save activity").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hero test from the UI")
    expect(page.locator(".title-row .state")).to_have_text("saved")

    page.get_by_role("button", name="Approve").click()
    expect(page.locator(".title-row .state")).to_have_text("approved")
    page.fill("#p-visitor", "visitor-42")
    page.get_by_role("button", name="Show decision").click()
    expect(page.locator("#preview")).to_contain_text("Experience: Hello")
    expect(page.locator("#preview")).to_contain_text("<h2>Hello from the UI</h2>")
    expect(page.locator("#preview")).to_contain_text("matched")
    _no_serious_axe(ui, page)
    expect(page.get_by_role("region", name="Changelog")).to_contain_text("saved → approved")
    assert ui.csp_violations() == []


def test_observer_sees_disabled_buttons_and_a_forged_post_is_refused(ui: UiSession) -> None:
    activity_id = _seed_activity(ui, "Observer target")
    page = ui.page("olga")
    page.goto(ui.url(f"/acme/activities/{activity_id}"))
    expect(page.get_by_role("button", name="Approve")).to_be_disabled()
    expect(page.get_by_role("button", name="Edit")).to_be_disabled()
    page.goto(ui.url("/acme/offers/new"))
    expect(page.get_by_role("button", name="Save offer")).to_be_disabled()

    page.goto(ui.url(f"/acme/activities/{activity_id}"))
    token = page.locator("input[name=csrf_token]").first.input_value()
    forged = page.request.post(
        ui.url(f"/acme/activities/{activity_id}/state"),
        form={"csrf_token": token, "state": "approved"},
        max_redirects=0,
    )
    assert forged.status == 403
    assert _state(ui, activity_id) == "saved"


def _tab_to(page: Any, pattern: str, limit: int = 80) -> None:
    """Press Tab until the focused element's accessible text matches ``pattern``."""
    wanted = re.compile(pattern)
    for _ in range(limit):
        page.keyboard.press("Tab")
        names = page.evaluate(
            "() => { const e = document.activeElement;"
            " return [e.id, e.getAttribute('aria-label'), e.innerText, e.value]"
            ".map(v => (v || '').trim()); }"
        )
        if any(wanted.fullmatch(name) for name in names):
            return
    raise AssertionError(f"no focusable element matching {pattern!r} within {limit} tabs")


def test_the_main_flow_works_with_the_keyboard_alone(ui: UiSession) -> None:
    page = ui.page()
    page.goto(ui.url("/signin"))
    page.keyboard.type("ana")  # the username field has the focus on load
    page.keyboard.press("Tab")
    page.keyboard.type("correct horse battery")
    page.keyboard.press("Enter")
    page.wait_for_url("**/acme/activities")

    _tab_to(page, "Offers")
    page.keyboard.press("Enter")
    page.wait_for_url("**/acme/offers")
    _tab_to(page, "New HTML offer")
    page.keyboard.press("Enter")
    page.wait_for_url("**/offers/new?type=content")
    _tab_to(page, "name")
    page.keyboard.type("Keyboard offer")
    _tab_to(page, "content")
    page.keyboard.type("<p>typed</p>")
    _tab_to(page, "Save offer")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Offer: Keyboard offer")

    activity_id = _seed_activity(ui, "Keyboard activity")
    page.goto(ui.url(f"/acme/activities/{activity_id}"))
    _tab_to(page, "Approve")
    page.keyboard.press("Enter")
    expect(page.locator(".title-row .state")).to_have_text("approved")
    _tab_to(page, "p-visitor")
    page.keyboard.type("kb-visitor")
    _tab_to(page, "Show decision")
    page.keyboard.press("Enter")
    expect(page.locator("#preview")).to_contain_text("Experience: Only")


PAGES = (
    "activities",
    "offers",
    "audiences",
    "mboxes",
    "environments",
    "properties",
    "traits",
    "segments",
    "clients",
    "jobs",
)


def test_main_pages_pass_axe_and_fit_a_phone(ui: UiSession) -> None:
    desk = ui.page("ana")
    phone = ui.page("ana", width=390, height=844)
    report = f"activities/{_seed_activity(ui, 'Reported')}/report"
    for name in (*PAGES, report):
        desk.goto(ui.url(f"/acme/{name}"))
        _no_serious_axe(ui, desk)
        phone.goto(ui.url(f"/acme/{name}"))
        overflow = phone.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, f"/acme/{name} scrolls sideways at 390 px ({overflow} px)"
    signin = ui.page()
    signin.goto(ui.url("/signin"))
    _no_serious_axe(ui, signin)
    # The switcher lists both of ana's tenants and switches without JavaScript.
    desk.select_option("#tenant-switch", "beta")
    desk.get_by_role("button", name="Switch").click()
    desk.wait_for_url("**/ui/beta/activities")
    assert ui.csp_violations() == []
