"""The audience manager pages in a real browser: a folder, a trait whose rule is checked as it
is typed (the caret under the error), saved; axe-core, the content-security policy, a phone."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from cible.dmp import service
from cible.dmp.schemas import DataSourceIn
from cible.store import Database
from cible.store.base import utcnow
from cible.ui import users
from tests.ui.conftest import UiSession

pytestmark = pytest.mark.slow


def _data_source(ui: UiSession, name: str) -> None:
    db = Database(ui.database_url)
    try:
        with db.session() as s:
            principal = users.principal_for(s, users.get_user(s, "ana"), "acme")
            service.create_data_source(s, principal, DataSourceIn(name=name), utcnow())
    finally:
        db.dispose()


def _no_serious_axe(ui: UiSession, page: Any) -> None:
    violations = ui.axe(page)
    assert violations == [], f"axe-core on {page.url}: {violations}"


def test_trait_folder_and_editor_with_a_live_rule_check(ui: UiSession) -> None:
    _data_source(ui, "Browser site")
    page = ui.page("ana")
    page.get_by_role("link", name="Traits").first.click()
    page.fill("#folder-name", "Browser folder")
    page.get_by_role("button", name="Add folder").click()
    expect(page.get_by_role("link", name="/Browser folder")).to_have_attribute(
        "aria-current", "page"
    )
    _no_serious_axe(ui, page)

    page.get_by_role("link", name="New trait").click()
    page.fill("#name", "Big basket")
    page.get_by_label("Data source").select_option(label="Browser site")
    # Opened from the folder's list, the editor has that folder chosen.
    expect(page.get_by_label("Folder")).not_to_have_value("")
    page.fill("#traitRule", "c_total >> 100")
    expect(page.locator("#rule-check")).to_contain_text("(line 1, column 10)")
    expect(page.locator("#rule-check pre")).to_have_text("c_total >> 100\n         ^")
    _no_serious_axe(ui, page)
    page.fill("#traitRule", "c_total >= 100")
    expect(page.locator("#rule-check")).to_contain_text("Valid rule.")
    expect(page.locator("#rule-check")).to_contain_text("c_total")
    page.get_by_role("button", name="Save trait").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Big basket")
    expect(page.get_by_role("heading", name="Populations")).to_be_visible()
    _no_serious_axe(ui, page)

    phone = ui.page("ana", width=390, height=844)
    for path in ("/acme/traits", "/acme/traits/new", "/acme/segments/new"):
        phone.goto(ui.url(path))
        overflow = phone.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, f"{path} scrolls sideways at 390 px ({overflow} px)"
    assert ui.csp_violations() == []
