"""Export or delete everything Cible holds about one visitor of one tenant.

A visitor is named by one of his ids (``tntId``, ``thirdPartyId``, ``marketingCloudVisitorId`` or
``customerId:<integrationCode>``); ``resolve`` follows it to his profile and every other id that
profile carries, so one request covers all of them. Each kind of data is a ``Handler`` in a
registry: the built-ins (profile and ids, sticky assignments, delivery events) register the same
way a later domain (audience manager, recommendations) adds its own (docs/security.md,
"Privacy").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cible.delivery.tables import Event
from cible.errors import BadRequest
from cible.isotime import iso_millis
from cible.profiles.tables import Assignment, Profile, ProfileId

# The id kinds a request may name, and the ``profile_ids.kind`` each is stored under.
KINDS = {"tntId": "tnt", "thirdPartyId": "3p", "marketingCloudVisitorId": "mcid"}
CUSTOMER = "customerId:"


@dataclass(frozen=True)
class Visitor:
    """One visitor of one tenant: his profiles and every id value that names him."""

    tenant_id: int
    profile_ids: tuple[int, ...]
    ids: tuple[tuple[str, str], ...]  # (profile_ids.kind, value)
    values: frozenset[str] = field(default_factory=frozenset)  # what events record as visitor


@dataclass(frozen=True)
class Handler:
    """One kind of visitor data: how to export it (JSON-ready) and delete it (rows removed)."""

    name: str
    export: Callable[[Session, Visitor], Any]
    delete: Callable[[Session, Visitor], int]


_HANDLERS: dict[str, Handler] = {}


def register(handler: Handler) -> None:
    """Add (or replace, by name) a kind of visitor data to export and delete."""
    _HANDLERS[handler.name] = handler


def parse_kind(kind: str) -> str:
    """The stored kind of a public id kind; 400 for an unknown one."""
    if kind in KINDS:
        return KINDS[kind]
    if kind.startswith(CUSTOMER) and len(kind) > len(CUSTOMER):
        return "cust:" + kind.removeprefix(CUSTOMER)
    allowed = ", ".join([*KINDS, f"{CUSTOMER}<integrationCode>"])
    raise BadRequest.fields([("kind", f"must be one of {allowed}")])


def resolve(session: Session, tenant_id: int, kind: str, value: str) -> Visitor:
    """The visitor ``kind``/``value`` names (no profile: only events can still name him)."""
    stored = parse_kind(kind)
    if not value or len(value) > 256:
        raise BadRequest.fields([("id", "must be 1 to 256 characters")])
    lookup = value.split(".", 1)[0] if stored == "tnt" else value
    profile_ids = tuple(
        session.scalars(
            select(ProfileId.profile_id).where(
                ProfileId.tenant_id == tenant_id,
                ProfileId.kind == stored,
                ProfileId.value == lookup,
            )
        )
    )
    ids: set[tuple[str, str]] = {(stored, lookup)}
    values = {value, lookup}
    if profile_ids:
        for row in session.scalars(select(ProfileId).where(ProfileId.profile_id.in_(profile_ids))):
            ids.add((row.kind, row.value))
            values.add(row.value)
        for tnt_id in session.scalars(select(Profile.tnt_id).where(Profile.id.in_(profile_ids))):
            values.update({tnt_id, tnt_id.split(".", 1)[0]})
    return Visitor(tenant_id, profile_ids, tuple(sorted(ids)), frozenset(values))


def export_visitor(session: Session, tenant_id: int, kind: str, value: str) -> dict[str, Any]:
    """``{"ids": [...], <handler name>: <its export>, ...}`` for the visitor."""
    visitor = resolve(session, tenant_id, kind, value)
    out: dict[str, Any] = {"ids": [{"kind": k, "value": v} for k, v in visitor.ids]}
    for handler in _HANDLERS.values():
        out[handler.name] = handler.export(session, visitor)
    return out


def delete_visitor(session: Session, tenant_id: int, kind: str, value: str) -> dict[str, int]:
    """Delete the visitor's data; rows removed per handler."""
    visitor = resolve(session, tenant_id, kind, value)
    return {handler.name: handler.delete(session, visitor) for handler in _HANDLERS.values()}


# -- built-in handlers ----------------------------------------------------------------------


def _export_profiles(session: Session, visitor: Visitor) -> list[dict[str, Any]]:
    rows = session.scalars(select(Profile).where(Profile.id.in_(visitor.profile_ids)))
    return [
        {
            "tntId": p.tnt_id,
            "thirdPartyId": p.third_party_id,
            "attributes": orjson.loads(p.attributes),
            "visitCount": p.visit_count,
            "createdAt": iso_millis(p.created_at),
            "modifiedAt": iso_millis(p.modified_at),
        }
        for p in rows
    ]


def _delete_profiles(session: Session, visitor: Visitor) -> int:
    if not visitor.profile_ids:
        return 0
    session.execute(delete(ProfileId).where(ProfileId.profile_id.in_(visitor.profile_ids)))
    removed = session.execute(delete(Profile).where(Profile.id.in_(visitor.profile_ids)))
    return int(getattr(removed, "rowcount", 0) or 0)


def _export_assignments(session: Session, visitor: Visitor) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Assignment)
        .where(Assignment.profile_id.in_(visitor.profile_ids))
        .order_by(Assignment.activity_id)
    )
    return [
        {
            "activityId": a.activity_id,
            "experienceId": a.experience_id,
            "assignedAt": iso_millis(a.assigned_at),
        }
        for a in rows
    ]


def _delete_assignments(session: Session, visitor: Visitor) -> int:
    if not visitor.profile_ids:
        return 0
    removed = session.execute(
        delete(Assignment).where(Assignment.profile_id.in_(visitor.profile_ids))
    )
    return int(getattr(removed, "rowcount", 0) or 0)


def _events_of(visitor: Visitor) -> Any:
    return (Event.tenant_id == visitor.tenant_id) & Event.visitor.in_(sorted(visitor.values))


def _export_events(session: Session, visitor: Visitor) -> list[dict[str, Any]]:
    rows = session.scalars(select(Event).where(_events_of(visitor)).order_by(Event.id))
    return [
        {
            "kind": e.kind,
            "activityId": e.activity_id,
            "experienceId": e.experience_id,
            "mbox": e.mbox,
            "sessionId": e.session_id,
            "orderId": e.order_id,
            "revenue": e.revenue,
            "occurredAt": iso_millis(e.occurred_at),
        }
        for e in rows
    ]


def _delete_events(session: Session, visitor: Visitor) -> int:
    removed = session.execute(delete(Event).where(_events_of(visitor)))
    return int(getattr(removed, "rowcount", 0) or 0)


# Rows that point at a profile go before the profile (its foreign keys cascade otherwise, and the
# counts would not say what was removed).
register(Handler("assignments", _export_assignments, _delete_assignments))
register(Handler("events", _export_events, _delete_events))
register(Handler("profiles", _export_profiles, _delete_profiles))

# Domains whose visitor data is exported and deleted here register on import.
from cible.dmp import privacy as _dmp_privacy  # noqa: E402, F401
from cible.recs import privacy as _recs_privacy  # noqa: E402, F401
