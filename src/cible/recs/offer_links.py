"""Recommendations offers and what they point at: a criteria, a design, a collection and
promotions (Adobe Admin API, ``/offers/recs``: ``{criteriaId, designId, collectionId,
promotions}``).

The offers service calls :func:`check_links` before it stores a recs offer, so an offer never
names a missing object; the recs services call :func:`refuse_if_linked` before a delete (Adobe:
"a resource cannot be deleted while referenced"), and it registers the same check on
criteria (``cible.recs.criteria.DELETE_GUARDS``). It imports no offers service, so the offers
service can import it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from cible.activities.offers.tables import Offer
from cible.errors import BadRequest, Conflict
from cible.recs import criteria
from cible.recs.merchandising_tables import RecsCollection, RecsDesign, RecsPromotion
from cible.recs.tables import RecsCriteria

__all__ = ["RECS_OFFER", "check_links", "linked_ids", "refuse_if_linked"]

RECS_OFFER = "recs"

_FIELDS: dict[str, tuple[str, Any]] = {
    "criteria": ("criteriaId", RecsCriteria),
    "design": ("designId", RecsDesign),
    "collection": ("collectionId", RecsCollection),
}


def linked_ids(config: Mapping[str, Any], kind: str) -> Iterator[int]:
    """The ids of ``kind`` (criteria, design, collection, promotion) an offer's config names."""
    if kind == "promotion":
        promotions = config.get("promotions") or {}
        for place in ("front", "back", "internal"):
            for entry in promotions.get(place) or ():
                yield int(entry["id"])
        return
    value = config.get(_FIELDS[kind][0])
    if value is not None:
        yield int(value)


def check_links(session: Session, tenant_id: int, config: Mapping[str, Any]) -> None:
    """400 naming each field whose object the tenant does not have."""
    problems: list[tuple[str, str]] = []
    for kind, (field_name, model) in _FIELDS.items():
        for object_id in linked_ids(config, kind):
            row = session.get(model, object_id)
            if row is None or row.tenant_id != tenant_id:
                problems.append((field_name, f"{kind} {object_id} does not exist"))
    for place in ("front", "back", "internal"):
        for index, entry in enumerate((config.get("promotions") or {}).get(place) or ()):
            row = session.get(RecsPromotion, int(entry["id"]))
            if row is None or row.tenant_id != tenant_id:
                where = f"promotions.{place}[{index}].id"
                problems.append((where, f"promotion {entry['id']} does not exist"))
    if problems:
        raise BadRequest.fields(problems)


def refuse_if_linked(session: Session, tenant_id: int, kind: str, object_id: int) -> None:
    """409 when a recs offer of the tenant names this object."""
    rows = session.execute(
        select(Offer.id, Offer.content).where(
            Offer.tenant_id == tenant_id, Offer.type == RECS_OFFER
        )
    )
    users = [oid for oid, content in rows if object_id in linked_ids(orjson.loads(content), kind)]
    if users:
        listed = ", ".join(str(u) for u in sorted(users))
        raise Conflict(f"{kind} {object_id} is used by recommendations offers {listed}")


def _criteria_in_use(session: Session, row: RecsCriteria) -> None:
    refuse_if_linked(session, row.tenant_id, "criteria", row.id)


if _criteria_in_use not in criteria.DELETE_GUARDS:
    criteria.DELETE_GUARDS.append(_criteria_in_use)
