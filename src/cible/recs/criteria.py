"""Criteria (Adobe Recommendations API, ``/criteria/{group}``): stored, listed, trained, served.

A criteria is an algorithm (its group and ``type``), a key (what the recommendations are based
on), a lookback window and filters. Cible trains the groups below (docs/recommendations.md,
"Criteria"); ``cart``, ``custom``, ``profileattribute`` and ``sequence`` are refused with a 400
that says so, rather than stored and never served.

- ``item``: ``VIEWED_CF``, ``VIEWED_BOUGHT``, ``BOUGHT_CF``, ``SIMILARITY``; keys ``CURRENT``,
  ``LAST_VIEWED``, ``LAST_PURCHASED``, ``MOST_VIEWED``;
- ``category``: ``VIEWED``, ``BOUGHT``; keys ``CURRENT``, ``FAVORITE``;
- ``popularity``: ``VIEWED``, ``SELLERS``; no key;
- ``recent``: the visitor's own recent views;
- ``userhistory``: per visitor, by matrix factorisation.

A schedule trains every criteria hourly (``cible.recs.schedules``); ``POST
/criteria/{group}/{id}/train`` (Cible) queues one criteria's training at once (a ``recs.train``
job, in the caller's transaction). ``recommend`` serves the stored
results (``cible.recs.recommend``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cible.errors import BadRequest, Conflict, NotFound
from cible.isotime import iso_millis
from cible.jobs import enqueue
from cible.recs.access import require_read, require_write
from cible.recs.inclusion import check_rules
from cible.recs.recommend import recommend
from cible.recs.schemas import CriteriaIn
from cible.recs.tables import RecsCriteria
from cible.store.paging import Page, fetch_page
from cible.tenants.principal import Principal

__all__ = [
    "DELETE_GUARDS",
    "GROUPS",
    "SUPPORTED",
    "create_criteria",
    "criteria_json",
    "delete_criteria",
    "get_criteria",
    "list_criteria",
    "queue_training",
    "recommend",
    "update_criteria",
]

# Adobe's groups (path segment) and what Cible serves of each: types and keys accepted.
GROUPS = (
    "cart",
    "category",
    "custom",
    "item",
    "popularity",
    "profileattribute",
    "recent",
    "sequence",
    "userhistory",
)
SUPPORTED: dict[str, tuple[tuple[str | None, ...], tuple[str | None, ...]]] = {
    "item": (
        ("VIEWED_CF", "VIEWED_BOUGHT", "BOUGHT_CF", "SIMILARITY"),
        ("CURRENT", "LAST_VIEWED", "LAST_PURCHASED", "MOST_VIEWED"),
    ),
    "category": (("VIEWED", "BOUGHT"), ("CURRENT", "FAVORITE")),
    "popularity": (("VIEWED", "SELLERS"), (None,)),
    "recent": ((None, "RECENT"), (None,)),
    "userhistory": ((None, "USERHISTORY"), (None,)),
}
# Adobe: daysCount is required for ITEM, CART, USERHISTORY, PROFILEATTRIBUTE (not similarity).
NEEDS_DAYS = frozenset({"item", "userhistory"})
HOURS_ALLOWED = frozenset({"category", "popularity"})
SORTABLE: dict[str, Any] = {
    "id": RecsCriteria.id,
    "name": RecsCriteria.name,
    "lastModified": RecsCriteria.modified_at,
}
TRAIN_JOB = "recs.train"

# Checks run before a criteria is deleted; each raises ``Conflict`` when it is in use (offers
# that reference a criteria register theirs).
DELETE_GUARDS: list[Callable[[Session, RecsCriteria], None]] = []


def _check_group(group: str) -> None:
    if group not in GROUPS:
        raise NotFound(f"criteria group {group!r} does not exist; use one of {', '.join(GROUPS)}")
    if group not in SUPPORTED:
        raise BadRequest.fields(
            [("criteriaGroup", f"{group} criteria are not supported by Cible (see the docs)")]
        )


def _check_body(group: str, body: CriteriaIn) -> None:
    types, keys = SUPPORTED[group]
    problems: list[tuple[str, str]] = []
    if body.type not in types:
        allowed = ", ".join(t for t in types if t) or "none"
        problems.append(("type", f"{group} criteria take type {allowed}"))
    if body.key not in keys:
        allowed = ", ".join(k for k in keys if k) or "none"
        problems.append(("key", f"{group} criteria take key {allowed}"))
    similarity = group == "item" and body.type == "SIMILARITY"
    if group in NEEDS_DAYS and not similarity and body.days_count is None:
        problems.append(("daysCount", f"is required for {group} criteria"))
    if body.hours_count is not None and group not in HOURS_ALLOWED:
        problems.append(("hoursCount", "only category and popularity criteria take hoursCount"))
    if body.hours_count is not None and body.days_count is not None:
        problems.append(("hoursCount", "give daysCount or hoursCount, not both"))
    if group == "recent" and body.days_count is not None:
        problems.append(("daysCount", "recent criteria have no lookback window"))
    if problems:
        raise BadRequest.fields(problems)
    configuration = body.configuration
    if configuration is not None:
        stored = configuration.model_dump(by_alias=True, exclude_none=True)
        check_rules(stored.get("inclusionRules", []), "configuration.inclusionRules")
        matchers = [r["matcher"] for r in stored.get("rankingRules", [])]
        check_rules(matchers, "configuration.rankingRules.matcher")
        if any(m.get("source") for m in matchers):
            raise BadRequest.fields(
                [("configuration.rankingRules", "ranking rules take static values only")]
            )
        if configuration.min_similarity is not None and not similarity:
            raise BadRequest.fields(
                [("configuration.minSimilarity", "applies to SIMILARITY criteria only")]
            )


def _check_name_free(session: Session, tenant_id: int, name: str, own: int | None) -> None:
    existing = session.scalar(
        select(RecsCriteria.id).where(
            RecsCriteria.tenant_id == tenant_id, RecsCriteria.name == name
        )
    )
    if existing is not None and existing != own:
        raise Conflict(f"a criteria named {name!r} already exists (id {existing})")


def criteria_json(row: RecsCriteria) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(row.body)
    return {
        "id": row.id,
        "criteriaGroup": row.criteria_group.upper(),
        **body,
        "lastModified": iso_millis(row.modified_at),
        "lastModifiersName": row.modified_by,
        # Cible: when results were last computed, and how that went.
        "lastTrained": iso_millis(row.trained_at) if row.trained_at else None,
        "trainingStatus": row.train_status,
    }


def criteria_min(row: RecsCriteria) -> dict[str, Any]:
    body = orjson.loads(row.body)
    return {
        "id": row.id,
        "name": row.name,
        "criteriaTitle": body.get("criteriaTitle"),
        "criteriaGroup": row.criteria_group.upper(),
    }


def queue_training(
    session: Session, principal: Principal, group: str, criteria_id: int
) -> RecsCriteria:
    """Queue the criteria's training now (once: a pending request is not doubled)."""
    require_write(principal)
    row = get_criteria(session, principal, criteria_id, group)
    payload = {"tenant": row.tenant_id, "criteria": row.id}
    enqueue(session, TRAIN_JOB, payload, dedupe_key=f"{TRAIN_JOB}:{row.id}")
    row.train_status = "SCHEDULED"
    return row


def create_criteria(
    session: Session, principal: Principal, group: str, body: CriteriaIn, now: datetime
) -> RecsCriteria:
    require_write(principal)
    _check_group(group)
    _check_body(group, body)
    _check_name_free(session, principal.tenant_id, body.name, None)
    row = RecsCriteria(
        tenant_id=principal.tenant_id,
        criteria_group=group,
        name=body.name,
        body=orjson.dumps(body.stored()).decode(),
        train_status="NOT_RUN",
        modified_at=now,
        modified_by=principal.client_id,
    )
    session.add(row)
    session.flush()
    return row


def get_criteria(
    session: Session, principal: Principal, criteria_id: int, group: str | None = None
) -> RecsCriteria:
    require_read(principal)
    row = session.get(RecsCriteria, criteria_id)
    if (
        row is None
        or row.tenant_id != principal.tenant_id
        or (group is not None and row.criteria_group != group)
    ):
        raise NotFound(f"criteria {criteria_id} does not exist")
    return row


def update_criteria(
    session: Session,
    principal: Principal,
    group: str,
    criteria_id: int,
    body: CriteriaIn,
    now: datetime,
) -> RecsCriteria:
    require_write(principal)
    _check_group(group)
    row = get_criteria(session, principal, criteria_id, group)
    if body.id is not None and body.id != criteria_id:
        raise BadRequest.fields([("id", f"does not match the criteria id {criteria_id}")])
    _check_body(group, body)
    _check_name_free(session, principal.tenant_id, body.name, row.id)
    row.name = body.name
    row.body = orjson.dumps(body.stored()).decode()
    row.modified_at = now
    row.modified_by = principal.client_id
    session.flush()
    return row


def delete_criteria(
    session: Session, principal: Principal, group: str, criteria_id: int
) -> RecsCriteria:
    require_write(principal)
    row = get_criteria(session, principal, criteria_id, group)
    for guard in DELETE_GUARDS:
        guard(session, row)
    session.delete(row)
    session.flush()
    return row


def list_criteria(
    session: Session, principal: Principal, page: Page, group: str | None, name: str | None
) -> tuple[list[RecsCriteria], int]:
    require_read(principal)
    query = select(RecsCriteria).where(RecsCriteria.tenant_id == principal.tenant_id)
    if group is not None:
        _check_group(group)
        query = query.where(RecsCriteria.criteria_group == group)
    if name:
        # Adobe: ``name`` filters by a case-insensitive "contains".
        query = query.where(func.lower(RecsCriteria.name).contains(name.lower(), autoescape=True))
    order = [SORTABLE[f].desc() if desc else SORTABLE[f].asc() for f, desc in page.sort]
    return fetch_page(session, query, page, [*order, RecsCriteria.id])
