"""Promotions: items placed before (front) or after (back) what a criteria recommends (Adobe
Recommendations API, "Promotions"; Adobe Target, "Add promotions").

A promotion names its items by a list of ids (``entityIds``, shown in the order given or, with
``order.type`` ``RANDOM``, shuffled per call), by inclusion rules, or by a collection; items by
rules or collection come best ``value`` first (Adobe: "sorted by entity.value, descending").
Rules may compare with the key item (``source.type`` ``ENTITY``): the promotion's ``key``
says which item that is. Outside its ``schedule`` a promotion promotes nothing; no start means
now, no end means forever. How an offer places promotions (front, back, ``maxSlots``) is in
:mod:`cible.recs.serving`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from cible.errors import BadRequest
from cible.isotime import iso_millis
from cible.recs import _named
from cible.recs.catalog import default_environment, row_entity
from cible.recs.collections import collection_rules
from cible.recs.entities import Entity
from cible.recs.matchers import Resolver, matches_basic, matches_inclusion
from cible.recs.merchandising_schemas import PromotionIn
from cible.recs.merchandising_tables import RecsCollection, RecsPromotion
from cible.recs.offer_links import refuse_if_linked
from cible.recs.tables import RecsEntity

__all__ = ["PROMOTIONS", "SCAN_LIMIT", "Promotion", "load_promotion", "promoted_ids"]

# Items read from the catalog, at most, to find a promotion's items by rules or collection.
SCAN_LIMIT = 100_000


def _apply(session: Session, row: RecsPromotion, body: PromotionIn) -> None:
    problem = body.source_problem()
    if problem is not None:
        raise BadRequest.fields([("promotion", problem)])
    collection = body.configuration.collection_id if body.configuration else None
    if collection is not None:
        found = session.get(RecsCollection, collection)
        if found is None or found.tenant_id != row.tenant_id:
            raise BadRequest.fields(
                [("configuration.collectionId", f"collection {collection} does not exist")]
            )
    stored = body.model_dump(
        mode="json",
        by_alias=True,
        exclude_none=True,
        exclude={"id", "name", "description", "last_modified", "last_modifiers_name"}
        | {"last_modifiers_email"},
    )
    row.description = body.description
    row.body = orjson.dumps(stored).decode()


def _show(row: RecsPromotion, full: bool) -> dict[str, Any]:
    shown: dict[str, Any] = {"id": row.id, "name": row.name, "description": row.description}
    shown.update(orjson.loads(row.body))
    shown["lastModified"] = iso_millis(row.modified_at)
    return shown


def _guard(session: Session, tenant_id: int, promotion_id: int) -> None:
    refuse_if_linked(session, tenant_id, "promotion", promotion_id)


PROMOTIONS = _named.Kind("promotion", RecsPromotion, _apply, _show, [_guard])


@dataclass(frozen=True)
class Promotion:
    """A stored promotion, as delivery reads it."""

    id: int
    key: str
    attribute: str | None
    entity_ids: tuple[str, ...] | None
    rules: tuple[dict[str, Any], ...]
    collection_id: int | None
    random: bool
    start: datetime | None
    end: datetime | None

    def active(self, now: datetime) -> bool:
        return (self.start is None or self.start <= now) and (self.end is None or now < self.end)

    @property
    def dynamic(self) -> bool:
        """Whether its items depend on the call (rules read the key item, profile or mbox)."""
        return any("source" in rule for rule in self.rules)


def _instant(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def load_promotion(session: Session, tenant_id: int, promotion_id: int) -> Promotion | None:
    row = session.get(RecsPromotion, promotion_id)
    if row is None or row.tenant_id != tenant_id:
        return None
    body = orjson.loads(row.body)
    schedule = body.get("schedule") or {}
    ids = body.get("entityIds")
    return Promotion(
        id=row.id,
        key=body.get("key", "CURRENT"),
        attribute=body.get("attribute"),
        entity_ids=tuple(ids) if ids else None,
        rules=tuple(body.get("rules") or ()),
        collection_id=(body.get("configuration") or {}).get("collectionId"),
        random=(body.get("order") or {}).get("type") == "RANDOM",
        start=_instant(schedule.get("start")),
        end=_instant(schedule.get("end")),
    )


def _catalog_by_value(session: Session, tenant_id: int, environment_id: int) -> Iterator[Entity]:
    table = RecsEntity.__table__
    query = (
        select(table)
        .where(table.c.tenant_id == tenant_id, table.c.environment_id == environment_id)
        .order_by(table.c.value.desc().nulls_last(), table.c.entity_id)
        .limit(SCAN_LIMIT)
        .execution_options(yield_per=500)
    )
    for row in session.connection().execute(query):
        yield row_entity(row)


def promoted_ids(
    session: Session,
    tenant_id: int,
    promotion: Promotion,
    *,
    limit: int,
    resolve: Resolver | None = None,
    environment_id: int | None = None,
) -> list[str]:
    """Up to ``limit`` ids the promotion promotes, best first (ids of a list promotion are
    returned as listed, without checking the catalog: the caller reads the items anyway)."""
    if promotion.entity_ids is not None:
        return list(promotion.entity_ids)
    basic: Sequence[Any] = ()
    if not promotion.rules and promotion.collection_id is not None:
        basic = collection_rules(session, tenant_id, promotion.collection_id) or ()
        if not basic:
            return []
    env = environment_id or default_environment(session.connection(), tenant_id)
    found: list[str] = []
    for entity in _catalog_by_value(session, tenant_id, env):
        if promotion.rules:
            keep = all(matches_inclusion(entity, rule, resolve) for rule in promotion.rules)
        else:
            keep = all(matches_basic(entity, rule) for rule in basic)
        if keep:
            found.append(entity.id)
            if len(found) >= limit:
                break
    return found
