"""The catalog: entities saved, read, deleted and searched, per tenant and environment.

Writes come from the Entities API (an entity replaces the stored one), feeds and ``entity.*``
mbox parameters (merged: given values overwrite, blank ones do not, categories are appended, as
Adobe describes for feeds and pages). Every write path goes through :func:`upsert`, in chunks, so
a feed of a million rows costs a few thousand statements, not a million.

>>> with db.session() as s:
...     upsert(s.connection(), tenant_id, env_id, [EntityIn("kit2001", "Toaster", ("home",))], now)
...     get_entities(s.connection(), tenant_id, ["kit2001"])["kit2001"].name
'Toaster'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Table, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from cible.activities.environments.service import ensure_default_environments
from cible.activities.environments.tables import Environment
from cible.errors import BadRequest, NotFound
from cible.isotime import iso_millis
from cible.recs.access import require_read, require_write
from cible.recs.entities import (
    NUMERIC,
    Entity,
    EntityIn,
    Rejected,
    parse_api_entity,
)
from cible.recs.tables import RecsEntity
from cible.tenants.principal import Principal

__all__ = [
    "Entity",
    "default_environment",
    "delete_entities",
    "entity_json",
    "environment_of",
    "get_entities",
    "read_entity",
    "row_entity",
    "save_entities",
    "upsert",
]

CHUNK = 500
# Adobe, ``entity.categoryId``: categories are appended on update, up to 250 characters.
CATEGORY_TEXT_MAX = 250
_T: Table = RecsEntity.__table__  # type: ignore[assignment]


def default_environment(conn: Connection, tenant_id: int) -> int:
    """The id of the tenant's default environment (created with the built-in ones if needed)."""
    found = conn.scalar(
        select(Environment.id).where(
            Environment.tenant_id == tenant_id, Environment.is_default.is_(True)
        )
    )
    if found is None:
        ensure_default_environments(Session(bind=conn), tenant_id)
        found = conn.scalar(
            select(Environment.id).where(
                Environment.tenant_id == tenant_id, Environment.is_default.is_(True)
            )
        )
    assert found is not None
    return int(found)


def environment_of(conn: Connection, tenant_id: int, environment: int | None) -> int:
    if environment is None:
        return default_environment(conn, tenant_id)
    found = conn.scalar(
        select(Environment.id).where(
            Environment.tenant_id == tenant_id, Environment.id == environment
        )
    )
    if found is None:
        raise Rejected(
            "error.entity.environment.notFound", f"environment {environment} does not exist"
        )
    return int(found)


def _merge_categories(old: Sequence[str], new: Sequence[str]) -> list[str]:
    merged = list(dict.fromkeys([*old, *new]))
    # Over the limit: the oldest categories go first, so fresh data always lands.
    while len(merged) > 1 and len(",".join(merged)) > CATEGORY_TEXT_MAX:
        merged.pop(0)
    return merged


def _row(
    entity: EntityIn, old: dict[str, Any] | None, merge: bool, now: datetime
) -> dict[str, Any]:
    attributes = {k: v for k, v in entity.attributes.items() if k not in NUMERIC}
    numbers = {k: v for k, v in entity.attributes.items() if k in NUMERIC}
    if merge and old is not None:
        kept = orjson.loads(old["attributes"])
        # Blank values do not overwrite (Adobe, feeds and the FAQ).
        kept.update({k: v for k, v in attributes.items() if v != ""})
        attributes = kept
        numbers = {k: numbers.get(k, old[k]) for k in NUMERIC}
        name = entity.name or old["name"]
        categories = _merge_categories(orjson.loads(old["categories"]), entity.categories or ())
    else:
        attributes = {k: v for k, v in attributes.items() if v != ""}
        name = entity.name or ""
        categories = list(entity.categories or ())
    return {
        "name": name[:250],
        "categories": orjson.dumps(categories).decode(),
        "attributes": orjson.dumps(attributes).decode(),
        "value": numbers.get("value"),
        "inventory": numbers.get("inventory"),
        "margin": numbers.get("margin"),
        "updated_at": now,
    }


def upsert(
    conn: Connection,
    tenant_id: int,
    environment_id: int,
    entities: Iterable[EntityIn],
    now: datetime,
    *,
    merge: bool = False,
) -> int:
    """Insert or update ``entities`` in one environment; the number written.

    ``merge``: keep stored values the write does not give (feeds, mbox parameters); otherwise
    the entity replaces the stored one (Entities API). A later entity with the same id in the
    same call wins, merged over the earlier one.
    """
    latest: dict[str, EntityIn] = {}
    for given in entities:
        entity = given
        earlier = latest.get(entity.id)
        if earlier is not None and merge:
            entity = EntityIn(
                entity.id,
                entity.name or earlier.name,
                tuple(dict.fromkeys([*(earlier.categories or ()), *(entity.categories or ())]))
                or None,
                {**earlier.attributes, **entity.attributes},
            )
        latest[entity.id] = entity
    ids = list(latest)
    written = 0
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        existing = {
            row["entity_id"]: dict(row)
            for row in conn.execute(
                select(_T).where(
                    _T.c.tenant_id == tenant_id,
                    _T.c.environment_id == environment_id,
                    _T.c.entity_id.in_(chunk),
                )
            ).mappings()
        }
        updates: list[dict[str, Any]] = []
        inserts: list[dict[str, Any]] = []
        for entity_id in chunk:
            old = existing.get(entity_id)
            row = _row(latest[entity_id], old, merge, now)
            if old is None:
                inserts.append(
                    {
                        **row,
                        "tenant_id": tenant_id,
                        "environment_id": environment_id,
                        "entity_id": entity_id,
                        "created_at": now,
                    }
                )
            else:
                updates.append({**row, "row_id": old["id"]})
        if inserts:
            conn.execute(insert(_T), inserts)
        if updates:
            conn.execute(
                update(_T)
                .where(_T.c.id == bindparam("row_id"))
                .values({k: bindparam(k) for k in updates[0] if k != "row_id"}),
                updates,
            )
        written += len(chunk)
    return written


def save_entities(
    session: Session, principal: Principal, raw: list[Any], now: datetime
) -> dict[str, Any]:
    """``POST /entities``: each valid entity saved, each invalid one counted by its cause."""
    require_write(principal)
    conn = session.connection()
    causes: dict[str, tuple[Rejected, int]] = {}
    accepted: dict[int, list[EntityIn]] = {}
    for item in raw:
        try:
            entity, environment = parse_api_entity(item)
            env_id = environment_of(conn, principal.tenant_id, environment)
        except Rejected as rejected:
            earlier = causes.get(rejected.text)
            causes[rejected.text] = (rejected, 1 + (earlier[1] if earlier else 0))
            continue
        accepted.setdefault(env_id, []).append(entity)
    saved = sum(
        upsert(conn, principal.tenant_id, env_id, entities, now)
        for env_id, entities in accepted.items()
    )
    result: dict[str, Any] = {
        "inserted/updated": saved,
        "rejected": sum(n for _, n in causes.values()),
    }
    if causes:
        result["rejectCauses"] = [
            {
                "cause": {"key": r.key, "keyArguments": r.arguments, "text": r.text},
                "occurrences": n,
            }
            for r, n in causes.values()
        ]
    return result


def row_entity(row: Any) -> Entity:
    attributes: dict[str, Any] = orjson.loads(row.attributes)
    for name in NUMERIC:
        number = getattr(row, name)
        if number is not None:
            attributes[name] = number
    return Entity(
        row.entity_id, row.name, tuple(orjson.loads(row.categories)), row.environment_id, attributes
    )


def get_entities(
    conn: Connection | Session,
    tenant_id: int,
    ids: Iterable[str],
    *,
    environment_id: int | None = None,
) -> dict[str, Entity]:
    """The stored entities among ``ids`` (absent ones are left out), in the given environment or
    the tenant's default one."""
    connection = conn.connection() if isinstance(conn, Session) else conn
    env_id = environment_id or default_environment(connection, tenant_id)
    wanted = list(dict.fromkeys(ids))
    found: dict[str, Entity] = {}
    for start in range(0, len(wanted), CHUNK):
        rows = connection.execute(
            select(_T).where(
                _T.c.tenant_id == tenant_id,
                _T.c.environment_id == env_id,
                _T.c.entity_id.in_(wanted[start : start + CHUNK]),
            )
        )
        for row in rows:
            found[row.entity_id] = row_entity(row)
    return found


def entity_json(row: Any) -> dict[str, Any]:
    entity = row_entity(row)
    return {
        "id": entity.id,
        "name": entity.name,
        "categories": list(entity.categories),
        "environment": entity.environment_id,
        "attributes": {
            **entity.attributes,
            "createdAt": iso_millis(row.created_at),
            "lastUpdatedAt": iso_millis(row.updated_at),
        },
    }


def read_entity(
    session: Session, principal: Principal, entity_id: str, environment: int | None
) -> dict[str, Any]:
    """``GET /entities/{id}``: without ``environmentId`` only the default environment is read."""
    require_read(principal)
    conn = session.connection()
    env_id = _known_environment(conn, principal.tenant_id, environment)
    row = conn.execute(
        select(_T).where(
            _T.c.tenant_id == principal.tenant_id,
            _T.c.environment_id == env_id,
            _T.c.entity_id == entity_id,
        )
    ).first()
    if row is None:
        raise NotFound(f"entity {entity_id!r} does not exist in environment {env_id}")
    return entity_json(row)


def _known_environment(conn: Connection, tenant_id: int, environment: int | None) -> int:
    try:
        return environment_of(conn, tenant_id, environment)
    except Rejected as rejected:
        raise NotFound(rejected.text) from None


def delete_entities(
    session: Session, principal: Principal, ids: list[str] | None, environment: int | None
) -> dict[str, Any]:
    """``DELETE /entities``: the ids given (all without ids), in one environment (all without)."""
    require_write(principal)
    conn = session.connection()
    where = [_T.c.tenant_id == principal.tenant_id]
    if environment is not None:
        where.append(
            _T.c.environment_id == _known_environment(conn, principal.tenant_id, environment)
        )
    if ids is not None:
        if not ids:
            raise BadRequest.fields([("ids", "name at least one entity id")])
        where.append(_T.c.entity_id.in_(ids))
    removed = conn.execute(delete(_T).where(*where))
    operation = "deleted by ids" if ids is not None else "Delete by client requested."
    return {"operation": operation, "deleted": int(getattr(removed, "rowcount", 0) or 0)}
