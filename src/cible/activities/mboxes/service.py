"""Mboxes: the union of those delivery calls named and those activities declare.

The delivery API does not write here per request: it gathers the mbox names and parameter names
it saw and calls ``record_seen`` from a periodic flush, so one upsert covers many requests.
Inserts use ``ON CONFLICT DO NOTHING`` (SQLite and PostgreSQL) and then update, so two replicas
flushing the same new mbox at once do not fail.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cible.activities.mboxes.tables import Mbox
from cible.errors import NotFound
from cible.store.paging import Page, fetch_page

SORTABLE: dict[str, Any] = {
    "name": Mbox.name,
    "lastRequestedAt": Mbox.last_requested_at,
    "id": Mbox.id,
}


def _ensure(session: Session, tenant_id: int, names: Iterable[str]) -> dict[str, Mbox]:
    wanted = sorted(set(names))
    if not wanted:
        return {}
    rows = [
        {"tenant_id": tenant_id, "name": n, "declared": False, "parameters": "[]"} for n in wanted
    ]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(
        insert(Mbox).values(rows).on_conflict_do_nothing(index_elements=["tenant_id", "name"])
    )
    found = session.scalars(select(Mbox).where(Mbox.tenant_id == tenant_id, Mbox.name.in_(wanted)))
    return {m.name: m for m in found}


def record_seen(
    session: Session,
    tenant_id: int,
    seen: Mapping[str, set[str]],
    now: datetime,
    *,
    max_learned: int | None = None,
    max_parameters: int | None = None,
) -> tuple[int, int]:
    """Mark each mbox of ``seen`` requested at ``now`` and add the parameter names it carried.

    Names come from unauthenticated traffic, so growth is capped (docs/security.md): at most
    ``max_learned`` mboxes per tenant learned from traffic (declared ones do not count) and
    ``max_parameters`` parameter names per mbox. Known mboxes are always updated; what is over a
    cap is skipped. Returns the (mbox names, parameter names) skipped.
    """
    names = set(seen)
    dropped = 0
    if max_learned is not None and names:
        known = set(
            session.scalars(
                select(Mbox.name).where(Mbox.tenant_id == tenant_id, Mbox.name.in_(sorted(names)))
            )
        )
        new = sorted(names - known)
        learned = session.scalar(
            select(func.count())
            .select_from(Mbox)
            .where(Mbox.tenant_id == tenant_id, Mbox.declared.is_(False))
        )
        room = max(0, max_learned - int(learned or 0))
        dropped = max(0, len(new) - room)
        names = known | set(new[:room])
    dropped_parameters = 0
    for name, mbox in _ensure(session, tenant_id, names).items():
        if mbox.last_requested_at is None or mbox.last_requested_at < now:
            mbox.last_requested_at = now
        known_parameters = set(orjson.loads(mbox.parameters))
        added = sorted(seen[name] - known_parameters)
        if max_parameters is not None:
            room = max(0, max_parameters - len(known_parameters))
            dropped_parameters += max(0, len(added) - room)
            added = added[:room]
        if added:
            mbox.parameters = orjson.dumps(sorted(known_parameters | set(added))).decode()
    session.flush()
    return dropped, dropped_parameters


def declare(session: Session, tenant_id: int, names: Iterable[str]) -> None:
    """Mark mboxes an activity names (in its locations or metrics) as declared."""
    for mbox in _ensure(session, tenant_id, names).values():
        mbox.declared = True
    session.flush()


def status(mbox: Mbox) -> str:
    """``active`` once a delivery call named it, ``inactive`` while only declared."""
    return "active" if mbox.last_requested_at is not None else "inactive"


def list_mboxes(session: Session, tenant_id: int, page: Page) -> tuple[list[Mbox], int]:
    where: list[ColumnElement[bool]] = [Mbox.tenant_id == tenant_id]
    order = [
        (SORTABLE[f].desc() if desc else SORTABLE[f].asc()).nulls_last() for f, desc in page.sort
    ]
    return fetch_page(session, select(Mbox).where(*where), page, [*order, Mbox.id])


def get_mbox(session: Session, tenant_id: int, name: str) -> Mbox:
    mbox = session.scalar(select(Mbox).where(Mbox.tenant_id == tenant_id, Mbox.name == name))
    if mbox is None:
        raise NotFound(f"mbox {name!r} does not exist")
    return mbox


def parameter_names(mbox: Mbox) -> list[str]:
    names: list[str] = orjson.loads(mbox.parameters)
    return names
