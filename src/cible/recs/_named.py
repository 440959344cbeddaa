"""What designs, collections, exclusions and promotions share: tenant-wide named objects with
Adobe's list query (``offset``, ``limit``, ``orderby``, ``name``) and lifecycle.

Each resource module describes itself with a :class:`Kind` (its table, how a body is stored
and how a row is shown); this module does the reads, writes and checks once.
Adobe Recommendations API: names are unique, a referenced resource cannot be deleted, a
DELETE returns the deleted object, lists are ``{offset, limit, total, list}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from cible.errors import BadRequest, Conflict, NotFound
from cible.recs.access import require_read, require_write
from cible.store.paging import Page, fetch_page
from cible.tenants.principal import Principal

__all__ = ["Kind", "ListQuery", "create", "delete", "get", "list_page", "parse_orderby", "update"]


@dataclass(frozen=True)
class ListQuery:
    """A list call: paging, Adobe's ``orderby`` (``id``, ``name``, ``lastModified``, with an
    optional ``+``/``-``) and ``name`` (case-insensitive contains)."""

    page: Page
    orderby: tuple[str, bool] = ("id", False)
    name: str | None = None


ORDERABLE = ("id", "name", "lastModified")


def parse_orderby(raw: str | None) -> tuple[str, bool]:
    if raw is None or not raw.strip():
        return ("id", False)
    text = raw.strip()
    descending = text.startswith("-")
    # A "+" in a query string arrives as a space unless encoded: both mean ascending.
    field_name = text.lstrip("+- ")
    if field_name not in ORDERABLE:
        raise BadRequest.fields([("orderby", f"one of {', '.join(ORDERABLE)}, with + or -")])
    return (field_name, descending)


@dataclass
class Kind:
    """One resource: ``label`` names it in messages, ``apply`` stores a body on a row,
    ``show`` renders a row (``full=False`` for list items)."""

    label: str
    model: Any
    apply: Callable[[Session, Any, Any], None]
    show: Callable[[Any, bool], dict[str, Any]]
    # Checks before a delete; each raises Conflict when the object is in use.
    delete_guards: list[Callable[[Session, int, int], None]] = field(default_factory=list)


def _check_name(session: Session, kind: Kind, tenant_id: int, name: str, own: int | None) -> None:
    model = kind.model
    found = session.scalar(select(model.id).where(model.tenant_id == tenant_id, model.name == name))
    if found is not None and found != own:
        raise Conflict(f"a {kind.label} named {name!r} already exists (id {found})")


def get(session: Session, principal: Principal, kind: Kind, object_id: int) -> Any:
    """The tenant's object, or 404 (another tenant's object is not revealed)."""
    require_read(principal)
    row = session.get(kind.model, object_id)
    if row is None or row.tenant_id != principal.tenant_id:
        raise NotFound(f"{kind.label} {object_id} does not exist")
    return row


def create(session: Session, principal: Principal, kind: Kind, body: Any, now: datetime) -> Any:
    require_write(principal)
    _check_name(session, kind, principal.tenant_id, body.name, None)
    row = kind.model(tenant_id=principal.tenant_id, name=body.name)
    kind.apply(session, row, body)
    row.modified_at = now
    row.modified_by = principal.client_id
    session.add(row)
    session.flush()
    return row


def update(
    session: Session, principal: Principal, kind: Kind, object_id: int, body: Any, now: datetime
) -> Any:
    require_write(principal)
    if body.id is not None and body.id != object_id:
        raise BadRequest.fields([("id", f"does not match the {kind.label} id {object_id}")])
    row = get(session, principal, kind, object_id)
    _check_name(session, kind, principal.tenant_id, body.name, row.id)
    row.name = body.name
    kind.apply(session, row, body)
    row.modified_at = now
    row.modified_by = principal.client_id
    session.flush()
    return row


def delete(session: Session, principal: Principal, kind: Kind, object_id: int) -> Any:
    require_write(principal)
    row = get(session, principal, kind, object_id)
    for guard in kind.delete_guards:
        guard(session, principal.tenant_id, object_id)
    session.delete(row)
    session.flush()
    return row


def list_page(
    session: Session, principal: Principal, kind: Kind, query: ListQuery
) -> tuple[list[Any], int]:
    require_read(principal)
    model = kind.model
    where: list[ColumnElement[bool]] = [model.tenant_id == principal.tenant_id]
    if query.name:
        where.append(func.lower(model.name).contains(query.name.lower(), autoescape=True))
    column = {"id": model.id, "name": func.lower(model.name), "lastModified": model.modified_at}
    field_name, descending = query.orderby
    order = column[field_name].desc() if descending else column[field_name].asc()
    return fetch_page(session, select(model).where(*where), query.page, [order, model.id])
