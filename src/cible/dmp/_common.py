"""What the taxonomy services share: list parameters, ids, rights, the rules version."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from cible.dmp.segmentrule import compile_segment_rule
from cible.dmp.tables import (
    Folder,
    RulesVersion,
    Segment,
)
from cible.errors import BadRequest, Conflict, Forbidden, NotFound
from cible.tenants.principal import Principal
from cible.tenants.roles import GRANTS, Capability

FOLDER_TRAIT = "FOLDER_TRAIT"


KINDS = ("traits", "segments")


WINDOWS = (1, 7, 14, 30, 60)


MAX_TRAITS = 5_000_000


MAX_SEGMENTS = 100_000


@dataclass(frozen=True)
class ListQuery:
    """AAM's list parameters: 0-based ``page``, ``pageSize`` and filters."""

    page: int
    page_size: int
    filters: dict[str, str]


MAX_ID = 2**31 - 1  # ids are INTEGER columns (PostgreSQL int4)


def parse_id(text: str) -> int | None:
    """``text`` as an id the tables can hold, or None (never an SQL overflow)."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def filter_id(filters: dict[str, str], name: str) -> int:
    value = parse_id(filters[name])
    if value is None:
        raise BadRequest.fields([(name, f"must be an id between 1 and {MAX_ID}")])
    return value


def require_write(principal: Principal) -> None:
    """Audience manager data belongs to the whole tenant: writing needs a tenant-wide role."""
    tenant_wide = {c for role in principal.grants.get(None, frozenset()) for c in GRANTS[role]}
    if Capability.WRITE not in tenant_wide:
        raise Forbidden(
            f"API client {principal.client_id} needs the write right on the whole tenant "
            "to change audience manager data"
        )


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def bump_rules(session: Session, tenant_id: int) -> None:
    updated = session.execute(
        update(RulesVersion)
        .where(RulesVersion.tenant_id == tenant_id)
        .values(version=RulesVersion.version + 1)
    )
    if getattr(updated, "rowcount", 0) == 0:
        session.add(RulesVersion(tenant_id=tenant_id, version=1))
    session.flush()


def fetch_page(session: Session, query: Any, count: Any, q: ListQuery) -> tuple[list[Any], int]:
    total = int(session.scalar(count) or 0)
    rows = list(session.scalars(query.offset(q.page * q.page_size).limit(q.page_size)))
    return rows, total


def envelope(items: list[dict[str, Any]], total: int, q: ListQuery) -> dict[str, Any]:
    return {"total": total, "page": q.page, "pageSize": q.page_size, "list": items}


def ref_clause(ref: str, id_column: Any, code_column: Any) -> ColumnElement[bool]:
    """``123`` by id or ``ic:CODE`` by integration code (AAM's ``ic:`` lookups)."""
    if ref.startswith("ic:"):
        return code_column == ref[3:]  # type: ignore[no-any-return]
    value = parse_id(ref)
    if value is None:
        raise NotFound(f"{ref!r} names nothing: use an id or ic:<integration code>")
    return id_column == value  # type: ignore[no-any-return]


def get_folder(session: Session, tenant_id: int, kind: str, folder_id: int) -> Folder:
    if not 0 < folder_id <= MAX_ID:
        raise NotFound(f"{kind[:-1]} folder {folder_id} does not exist")
    found = session.scalar(
        select(Folder).where(
            Folder.tenant_id == tenant_id, Folder.kind == kind, Folder.id == folder_id
        )
    )
    if found is None:
        raise NotFound(f"{kind[:-1]} folder {folder_id} does not exist")
    return found


def segments_using(session: Session, tenant_id: int, trait_ids: Iterable[int]) -> list[int]:
    wanted = set(trait_ids)
    found = []
    for sid, rule in session.execute(
        select(Segment.id, Segment.segment_rule).where(Segment.tenant_id == tenant_id)
    ):
        if compile_segment_rule(rule).traits & wanted:
            found.append(sid)
    return found


def refuse_if_used(session: Session, tenant_id: int, trait_ids: Sequence[int]) -> None:
    users = segments_using(session, tenant_id, trait_ids)
    if users:
        raise Conflict(
            f"trait {', '.join(map(str, trait_ids))} is used by segment "
            f"{', '.join(map(str, users))}; remove it from the segment first"
        )
