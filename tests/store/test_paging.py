"""``cible.store.paging.fetch_page``: a page and its total in one query, on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, select

from cible.activities.offers.tables import Offer
from cible.store import Database
from cible.store.paging import Page, fetch_page
from cible.tenants import service as tenants
from tests.conftest import BACKENDS

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


def _offers(database: Database, n: int) -> int:
    with database.session() as s:
        tenant = tenants.create_tenant(s, "acme")
        workspace = tenants.default_workspace(s, tenant.id).id
        for i in range(n):
            s.add(
                Offer(
                    tenant_id=tenant.id,
                    workspace_id=workspace,
                    name=f"offer {i:02d}",
                    type="content",
                    content="<p/>",
                )
            )
        return tenant.id


def test_a_page_and_its_total_in_one_query(database: Database) -> None:
    tenant_id = _offers(database, 7)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        with database.session() as s:
            query = select(Offer).where(Offer.tenant_id == tenant_id)
            rows, total = fetch_page(s, query, Page(2, 3, ()), [Offer.name.desc(), Offer.id])
            names = [r.name for r in rows]
    finally:
        event.remove(database.engine, "before_cursor_execute", count)
    assert names == ["offer 04", "offer 03", "offer 02"]
    assert total == 7
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1


def test_pages_past_the_end_still_know_the_total(database: Database) -> None:
    tenant_id = _offers(database, 3)
    with database.session() as s:
        query = select(Offer).where(Offer.tenant_id == tenant_id)
        assert fetch_page(s, query, Page(10, 5, ()), [Offer.id]) == ([], 3)
        empty = select(Offer).where(Offer.tenant_id == -1)
        assert fetch_page(s, empty, Page(0, 5, ()), [Offer.id]) == ([], 0)
