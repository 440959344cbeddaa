"""Collections: named sets of catalog items, by rules on their attributes (Adobe
Recommendations API, "Collections"). An offer's collection limits what its criteria and
backups recommend; a promotion may promote a collection. Rules are ANDed
(``cible.recs.matchers``)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from cible.errors import Conflict
from cible.isotime import iso_millis
from cible.recs import _named
from cible.recs.merchandising_schemas import CollectionIn
from cible.recs.merchandising_tables import RecsCollection, RecsPromotion
from cible.recs.offer_links import refuse_if_linked

__all__ = ["COLLECTIONS", "collection_rules"]


def _apply(_session: Session, row: RecsCollection, body: CollectionIn) -> None:
    row.description = body.description
    row.rules = orjson.dumps(body.rules).decode()


def _show(row: RecsCollection, full: bool) -> dict[str, Any]:
    shown: dict[str, Any] = {"id": row.id, "name": row.name, "description": row.description}
    if full:
        shown["rules"] = orjson.loads(row.rules)
    shown["lastModified"] = iso_millis(row.modified_at)
    return shown


def _guard(session: Session, tenant_id: int, collection_id: int) -> None:
    refuse_if_linked(session, tenant_id, "collection", collection_id)
    rows = session.execute(
        select(RecsPromotion.id, RecsPromotion.body).where(RecsPromotion.tenant_id == tenant_id)
    )
    users = [
        pid
        for pid, body in rows
        if (orjson.loads(body).get("configuration") or {}).get("collectionId") == collection_id
    ]
    if users:
        listed = ", ".join(str(u) for u in sorted(users))
        raise Conflict(f"collection {collection_id} is promoted by promotions {listed}")


COLLECTIONS = _named.Kind("collection", RecsCollection, _apply, _show, [_guard])


def collection_rules(session: Session, tenant_id: int, collection_id: int) -> list[Any] | None:
    """The collection's rules, or ``None`` when the tenant has no such collection."""
    row = session.get(RecsCollection, collection_id)
    if row is None or row.tenant_id != tenant_id:
        return None
    rules: list[Any] = orjson.loads(row.rules)
    return rules
