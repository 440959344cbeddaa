"""The ``reports`` consumer: delivery events from the event log into the report aggregates.

Each batch is applied in the consumer's transaction (``cible.events.run_once``), with its offset:
a crash mid-batch leaves neither. Keys already counted are skipped (``report_keys``), so a
re-sent notification, a repeated order id or a replayed stretch of the log counts once.
Statements are built once; each batch costs a handful of multi-row statements whatever its size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from cible.events import StoredRecord, register
from cible.reports._aggregate import (
    ORDER,
    DailyKey,
    DailyTotals,
    Event,
    VisitorState,
    apply_event,
    daily_rows,
    parse_event,
)
from cible.reports.tables import report_daily, report_keys, report_orders, report_visitors

__all__ = ["TOPIC", "ReportsConsumer"]

TOPIC = "delivery"
CHUNK = 500  # keys per IN list: well under SQLite's and PostgreSQL's parameter limits

_DIALECTS: dict[str, Any] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def _statements(dialect: str) -> dict[str, Any]:
    insert = _DIALECTS[dialect]
    visitors = insert(report_visitors)
    daily = insert(report_daily)
    return {
        "keys": insert(report_keys).on_conflict_do_nothing(),
        "orders": insert(report_orders).on_conflict_do_nothing(),
        "visitors": visitors.on_conflict_do_update(
            index_elements=["tenant_id", "activity_id", "visitor"],
            set_={
                c.name: visitors.excluded[c.name]
                for c in report_visitors.columns
                if c.name not in ("tenant_id", "activity_id", "visitor")
            },
        ),
        "daily": daily.on_conflict_do_update(
            index_elements=[
                "tenant_id",
                "activity_id",
                "environment_id",
                "experience_id",
                "metric",
                "day",
            ],
            set_={
                name: report_daily.c[name] + daily.excluded[name]
                for name in ("visitors", "visits", "impressions", "value_sum", "value_sq_sum")
            },
        ),
    }


_STATEMENTS = {name: _statements(name) for name in _DIALECTS}
_SEEN = select(report_keys.c["key"]).where(
    report_keys.c.tenant_id == bindparam("tenant"),
    report_keys.c["key"].in_(bindparam("keys", expanding=True)),
)
_VISITORS = select(report_visitors).where(
    and_(
        report_visitors.c.tenant_id == bindparam("tenant"),
        report_visitors.c.activity_id == bindparam("activity"),
        report_visitors.c.visitor.in_(bindparam("visitors", expanding=True)),
    )
)


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]


def new_events(conn: Connection, records: Sequence[StoredRecord]) -> list[Event]:
    """The batch's countable events whose keys were not counted before, in log order."""
    events: list[Event] = []
    fresh: dict[tuple[int, str], None] = {}
    for record in records:
        event = parse_event(record.tenant_id, record.key, record.payload)
        if event is not None and (event.tenant_id, event.key) not in fresh:
            fresh[(event.tenant_id, event.key)] = None
            events.append(event)
    by_tenant: dict[int, list[str]] = defaultdict(list)
    for tenant, key in fresh:
        by_tenant[tenant].append(key)
    seen: set[tuple[int, str]] = set()
    for tenant, keys in by_tenant.items():
        for chunk in _chunks(keys):
            rows = conn.execute(_SEEN, {"tenant": tenant, "keys": list(chunk)})
            seen.update((tenant, k) for (k,) in rows)
    return [e for e in events if (e.tenant_id, e.key) not in seen]


def apply_events(conn: Connection, events: Sequence[Event]) -> None:
    """Counts ``events`` (already deduplicated) into the report tables."""
    if not events:
        return
    statements = _STATEMENTS[conn.dialect.name]
    conn.execute(
        statements["keys"], [{"tenant_id": e.tenant_id, "key": e.key[:400]} for e in events]
    )
    groups: dict[tuple[int, int], dict[str, VisitorState | None]] = defaultdict(dict)
    for e in events:
        groups[(e.tenant_id, e.activity_id)].setdefault(e.visitor, None)
    for (tenant, activity), states in groups.items():
        for chunk in _chunks(list(states)):
            params = {"tenant": tenant, "activity": activity, "visitors": list(chunk)}
            for row in conn.execute(_VISITORS, params).mappings():
                states[row["visitor"]] = VisitorState.from_row(row)
    daily: dict[DailyKey, DailyTotals] = {}
    orders: list[dict[str, Any]] = []
    touched: set[tuple[int, int, str]] = set()
    for e in events:
        states = groups[(e.tenant_id, e.activity_id)]
        state = apply_event(states[e.visitor], e, daily)
        if state is None:
            continue
        states[e.visitor] = state
        touched.add((e.tenant_id, e.activity_id, e.visitor))
        if e.kind == ORDER and e.order_id:
            orders.append(
                {
                    "tenant_id": e.tenant_id,
                    "activity_id": e.activity_id,
                    "order_id": e.order_id[:250],
                    "experience_id": state.experience_id,
                    "environment_id": state.environment_id,
                    "visitor": e.visitor,
                    "occurred_ms": e.occurred_ms,
                    "total": e.revenue,
                }
            )
    rows = []
    for tenant, activity, visitor in touched:
        state = groups[(tenant, activity)][visitor]
        assert state is not None
        rows.append(state.row(tenant, activity, visitor))
    if rows:
        conn.execute(statements["visitors"], rows)
    if daily:
        conn.execute(statements["daily"], list(daily_rows(daily)))
    if orders:
        conn.execute(statements["orders"], orders)


class ReportsConsumer:
    """Applies ``delivery`` records to ``report_visitors``, ``report_daily`` and
    ``report_orders``."""

    name = "reports"
    topics = frozenset({TOPIC})

    def apply(self, conn: Connection, records: Sequence[StoredRecord]) -> None:
        apply_events(conn, new_events(conn, records))


def tables() -> tuple[Table, ...]:
    """The tables this consumer writes (a rebuild empties them first)."""
    return (report_keys, report_visitors, report_daily, report_orders)


register(ReportsConsumer())
