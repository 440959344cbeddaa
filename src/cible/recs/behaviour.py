"""Views and purchases from delivery calls: recorded on the event log, applied by a consumer.

A delivery call whose executed mboxes carry ``entity.*`` parameters, ``productPurchasedId`` or an
``order`` with ``purchasedProductIds`` appends one ``recs`` record per such mbox, in the same group
commit as the rest of the call (:func:`behaviour_records`, called by ``cible.delivery``). The
``recs.behaviour`` consumer (:func:`apply_behaviour`) then, per batch:

- merges the entity attributes into the default environment's catalog (Adobe, "Entity
  attributes": pages may update the catalog; blank values do not clear, categories append);
- stores each view (unless ``entity.event.detailsOnly=true``) and purchase per visitor in
  ``recs_behaviour``, which training reads over its lookback window;
- adds them to ``recs_item_days`` (views and orders per item per day), so popularity over any
  window is a sum of a few rows, kept up to date incrementally;
- folds them into ``recs_visitors``: last viewed and purchased items, recently viewed items,
  most-viewed scores (10 for a first view, 5 per later view, halved when a new visit starts)
  and favourite-category scores (10 for the first view of a category, 5 later, -1 for the other
  categories at each new visit), as Adobe scores its profile-based keys.

The consumer's offset moves in the batch's transaction (``cible.events``), so each record is
normally applied once; should a record be applied again all the same (the log replayed from an
earlier offset, a record appended twice), each behaviour row carries a digest of the record's key,
the action and the item, unique per tenant, and a row already stored is neither stored, counted
nor folded a second time.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Table, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cible.events import Record, StoredRecord
from cible.ids import random_uuid
from cible.recs.catalog import default_environment, get_entities, upsert
from cible.recs.entities import EntityIn, Rejected, check_id, entity_from_parameters
from cible.recs.tables import RecsBehaviour, RecsItemDay, RecsVisitor

__all__ = ["TOPIC", "apply_behaviour", "behaviour_records", "visitor_state"]

TOPIC = "recs"
DAY_MS = 86_400_000
# Adobe, ``productPurchasedId``: values longer than 50 characters are truncated.
PURCHASED_ID_MAX = 50
RECENT_MAX = 50
SCORES_MAX = 100
CHUNK = 500

_behaviour: Table = RecsBehaviour.__table__  # type: ignore[assignment]
_days: Table = RecsItemDay.__table__  # type: ignore[assignment]
_visitors: Table = RecsVisitor.__table__  # type: ignore[assignment]


def _purchased(ids: Any) -> list[str]:
    """``productPurchasedId`` (comma-separated) or ``order.purchasedProductIds`` (an array)."""
    parts = ids.split(",") if isinstance(ids, str) else ids if isinstance(ids, list) else []
    return [p.strip()[:PURCHASED_ID_MAX] for p in parts if isinstance(p, str) and p.strip()]


def behaviour_records(
    tenant_id: int,
    visitor: str,
    session_id: str | None,
    request: Mapping[str, Any],
    now: datetime,
) -> list[Record]:
    """The ``recs`` records of one delivery call (none for a call without entity parameters)."""
    execute = request.get("execute")
    if not isinstance(execute, Mapping):
        return []
    details: list[Any] = []
    if isinstance(execute.get("pageLoad"), Mapping):
        details.append(execute["pageLoad"])
    if isinstance(execute.get("mboxes"), list):
        details.extend(execute["mboxes"])
    records: list[Record] = []
    at = int(now.timestamp() * 1000)
    # Each call's records have keys of their own (two calls of one visitor in the same
    # millisecond included: the request's id, or a fresh one), so the consumer's deduplication
    # by key drops only a record applied twice.
    request_id = request.get("requestId")
    call = request_id[:100] if isinstance(request_id, str) and request_id else random_uuid()
    for index, detail in enumerate(details):
        if not isinstance(detail, Mapping):
            continue
        parameters = detail.get("parameters")
        entity: dict[str, str] = {}
        bought: list[str] = []
        if isinstance(parameters, Mapping):
            for name, value in parameters.items():
                if isinstance(value, str) and name.startswith("entity."):
                    entity[name[7:]] = value
            bought = _purchased(parameters.get("productPurchasedId"))
        order = detail.get("order")
        if isinstance(order, Mapping):
            bought += [b for b in _purchased(order.get("purchasedProductIds")) if b not in bought]
        if not entity and not bought:
            continue
        payload = {"v": visitor, "s": session_id, "t": at, "e": entity, "b": bought}
        key = f"{visitor}/{at}/{index}/{call}"
        records.append(Record(TOPIC, tenant_id, key, orjson.dumps(payload)))
    return records


def _upsert_days(conn: Connection, rows: dict[tuple[str, int], list[int]], tenant_id: int) -> None:
    if not rows:
        return
    make = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = make(_days)
    statement = statement.on_conflict_do_update(
        index_elements=["tenant_id", "entity_id", "day"],
        set_={
            "views": _days.c.views + statement.excluded.views,
            "buys": _days.c.buys + statement.excluded.buys,
        },
    )
    values = [
        {"tenant_id": tenant_id, "entity_id": entity, "day": day, "views": v, "buys": b}
        for (entity, day), (v, b) in rows.items()
    ]
    conn.execute(statement, values)


def visitor_state(raw: str | None) -> dict[str, Any]:
    state: dict[str, Any] = orjson.loads(raw) if raw else {}
    state.setdefault("views", {})
    state.setdefault("categories", {})
    state.setdefault("recent", [])
    state.setdefault("purchased", [])
    state.setdefault("session", None)
    return state


def _top(scores: dict[str, float], n: int) -> dict[str, float]:
    kept = {k: v for k, v in scores.items() if v > 0}
    if len(kept) <= n:
        return kept
    return dict(sorted(kept.items(), key=lambda kv: -kv[1])[:n])


def _new_visit(state: dict[str, Any], session: str | None) -> None:
    if session is None or session == state["session"]:
        return
    if state["session"] is not None:
        state["views"] = {k: v / 2 for k, v in state["views"].items()}
        state["categories"] = {k: v - 1 for k, v in state["categories"].items()}
    state["session"] = session


def _fold(
    state: dict[str, Any],
    events: list[tuple[int, str | None, str, str]],
    categories: Mapping[str, Sequence[str]],
) -> tuple[str | None, str | None]:
    last_viewed = last_bought = None
    for _at, session, kind, entity in events:
        _new_visit(state, session)
        if kind == "view":
            views = state["views"]
            views[entity] = views.get(entity, 0) + (5 if entity in views else 10)
            recent = [e for e in state["recent"] if e != entity] + [entity]
            state["recent"] = recent[-RECENT_MAX:]
            for category in categories.get(entity, ()):
                known = state["categories"]
                known[category] = known.get(category, 0) + (5 if category in known else 10)
            last_viewed = entity
        else:
            state["purchased"] = ([e for e in state["purchased"] if e != entity] + [entity])[
                -RECENT_MAX:
            ]
            last_bought = entity
    state["views"] = _top(state["views"], SCORES_MAX)
    state["categories"] = _top(state["categories"], SCORES_MAX)
    return last_viewed, last_bought


def _event_key(record_key: str, kind: str, entity_id: str) -> str:
    """One action on one item in one event-log record: the same record applied again (a replay)
    gives the same key, and the same item twice in one order counts once (Adobe: an order of
    several units is one sale)."""
    return hashlib.sha256(f"{record_key}\x00{kind}\x00{entity_id}".encode()).hexdigest()


def _fresh(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert behaviour rows whose key is not stored yet; the rows inserted.

    ``ON CONFLICT DO NOTHING ... RETURNING`` both skips known keys and says which rows were new
    (SQLite 3.35+, PostgreSQL), so the counts and folds below see each event once.
    """
    unique = list({row["event_key"]: row for row in rows}.values())
    if not unique:
        return []
    make = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = (
        make(_behaviour)
        .on_conflict_do_nothing(index_elements=["tenant_id", "event_key"])
        .returning(_behaviour.c.event_key)
    )
    added: set[str] = set()
    for start in range(0, len(unique), CHUNK):
        result = conn.execute(statement, unique[start : start + CHUNK])
        added.update(result.scalars().all())
    return [row for row in unique if row["event_key"] in added]


def _apply_tenant(
    conn: Connection, tenant_id: int, payloads: list[tuple[str, dict[str, Any]]]
) -> None:
    environment = default_environment(conn, tenant_id)
    catalog_updates: list[tuple[int, EntityIn]] = []
    behaviour: list[dict[str, Any]] = []
    categories: dict[str, tuple[str, ...]] = {}
    for record_key, payload in payloads:
        at, visitor, session = int(payload["t"]), str(payload["v"])[:128], payload.get("s")
        events: list[tuple[str, str]] = []
        entity_params: dict[str, str] = payload.get("e") or {}
        if "id" in entity_params:
            try:
                entity = entity_from_parameters(entity_params)
            except Rejected:
                entity = None  # a bad id updates nothing and counts no view
            if entity is not None:
                catalog_updates.append((at, entity))
                if entity.categories:
                    categories[entity.id] = entity.categories
                if entity_params.get("event.detailsOnly") != "true":
                    events.append(("view", entity.id))
        for bought in payload.get("b") or ():
            try:
                events.append(("buy", check_id(bought)))
            except Rejected:
                continue
        for kind, entity_id in events:
            behaviour.append(
                {
                    "tenant_id": tenant_id,
                    "visitor": visitor,
                    "session_id": session[:128] if isinstance(session, str) else None,
                    "entity_id": entity_id,
                    "kind": kind,
                    "occurred_ms": at,
                    "event_key": _event_key(record_key, kind, entity_id),
                }
            )
    if catalog_updates:
        last = datetime.fromtimestamp(max(at for at, _ in catalog_updates) / 1000, UTC)
        upsert(conn, tenant_id, environment, [e for _, e in catalog_updates], last, merge=True)
    days: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    per_visitor: dict[str, list[tuple[int, str | None, str, str]]] = defaultdict(list)
    for row in _fresh(conn, behaviour):
        at, entity_id, kind = row["occurred_ms"], row["entity_id"], row["kind"]
        days[(entity_id, at // DAY_MS)][0 if kind == "view" else 1] += 1
        per_visitor[row["visitor"]].append((at, row["session_id"], kind, entity_id))
    _upsert_days(conn, days, tenant_id)
    if per_visitor:
        _update_visitors(conn, tenant_id, environment, per_visitor, categories)


def _update_visitors(
    conn: Connection,
    tenant_id: int,
    environment: int,
    per_visitor: dict[str, list[tuple[int, str | None, str, str]]],
    categories: dict[str, tuple[str, ...]],
) -> None:
    viewed = {e for events in per_visitor.values() for _, _, k, e in events if k == "view"}
    missing = viewed - set(categories)
    if missing:
        for entity in get_entities(conn, tenant_id, missing, environment_id=environment).values():
            categories[entity.id] = entity.categories
    names = list(per_visitor)
    for start in range(0, len(names), CHUNK):
        chunk = names[start : start + CHUNK]
        stored = {
            row.visitor: row
            for row in conn.execute(
                select(_visitors).where(
                    _visitors.c.tenant_id == tenant_id, _visitors.c.visitor.in_(chunk)
                )
            )
        }
        inserts, updates = [], []
        for visitor in chunk:
            row = stored.get(visitor)
            state = visitor_state(row.state if row is not None else None)
            events = sorted(per_visitor[visitor], key=lambda event: event[0])
            last_viewed, last_bought = _fold(state, events, categories)
            values = {
                "last_viewed": last_viewed or (row.last_viewed if row is not None else None),
                "last_purchased": last_bought or (row.last_purchased if row is not None else None),
                "state": orjson.dumps(state).decode(),
                "updated_ms": events[-1][0],
            }
            if row is None:
                inserts.append({**values, "tenant_id": tenant_id, "visitor": visitor})
            else:
                updates.append({**values, "who": visitor})
        if inserts:
            conn.execute(insert(_visitors), inserts)
        if updates:
            conn.execute(
                update(_visitors)
                .where(_visitors.c.tenant_id == tenant_id, _visitors.c.visitor == bindparam("who"))
                .values(
                    last_viewed=bindparam("last_viewed"),
                    last_purchased=bindparam("last_purchased"),
                    state=bindparam("state"),
                    updated_ms=bindparam("updated_ms"),
                ),
                updates,
            )


def apply_behaviour(conn: Connection, records: Sequence[StoredRecord]) -> None:
    """Apply a batch of ``recs`` records (see the module docstring)."""
    by_tenant: dict[int, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for record in records:
        by_tenant[record.tenant_id].append((record.key, orjson.loads(record.payload)))
    for tenant_id, payloads in by_tenant.items():
        _apply_tenant(conn, tenant_id, payloads)
