"""One page of a list, and its total, in one query.

``Page`` is the value every Admin API list passes from its route to its service (parsed from the
query string by ``cible.web.paging.parse_page``); it lives here so that services page without
knowing HTTP. ``fetch_page`` reads the rows and the total count together with a window function
(``count(*) OVER ()``, SQLite 3.25+ and PostgreSQL), so a list costs one query rather than a
count and a select.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    """``offset``, ``limit`` (already clamped) and ``sort``: ``(field, descending)`` pairs.

    >>> Page(0, 10, (("name", False),)).envelope("offers", [], 0)
    {'offset': 0, 'limit': 10, 'total': 0, 'offers': []}
    """

    offset: int
    limit: int
    sort: tuple[tuple[str, bool], ...]  # (field, descending)

    def envelope(self, key: str, items: list[object], total: int) -> dict[str, object]:
        return {"offset": self.offset, "limit": self.limit, "total": total, key: items}


def fetch_page(
    session: Session,
    query: Select[T],
    page: Page,
    order: Sequence[ColumnElement[Any] | InstrumentedAttribute[Any]],
) -> tuple[list[T], int]:
    """The rows of ``query`` on ``page`` in ``order``, and how many rows the query has in all."""
    total_column = func.count().over().label("cible_total")
    rows = session.execute(
        query.add_columns(total_column).order_by(*order).offset(page.offset).limit(page.limit)
    ).all()
    if rows:
        return [row[0] for row in rows], int(rows[0][1])
    if page.offset == 0:
        return [], 0
    # An offset past the end returns no row to read the total from: count once.
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    return [], int(total or 0)
