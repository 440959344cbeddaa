"""The ``reports`` consumer: delivery events from the event log into the report aggregates.

Each batch is applied in the consumer's transaction (``cible.events.run_once``), with its offset:
a crash mid-batch leaves neither. Keys already counted are skipped (``report_keys``), so a
re-sent notification, a repeated order id or a replayed stretch of the log counts once.

Reporting audiences go to ``report_audience_daily`` and ``report_audience_visitors``
(``cible.reports._aggregate.Audiences``). Events of an activity that the log accepted at or before
the activity's reset (``report_resets``, docs/reports.md "Activity reset") are left out, so a
lagging consumer never brings back what a reset deleted.

Each batch costs a handful of multi-row statements whatever its size. They are plain SQL run
through the driver (``exec_driver_sql``): Core's per-row parameter processing cost more than
SQLite's own work here (BENCHMARKS.md, "Reports"). The upserts are the same on SQLite and
PostgreSQL; only the placeholder differs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from cible.events import StoredRecord, register
from cible.reports._aggregate import (
    AUDIENCE_COLUMNS,
    DAILY_COLUMNS,
    ORDER,
    VISITOR_COLUMNS,
    Audiences,
    DailyKey,
    DailyTotals,
    Event,
    VisitorState,
    apply_event,
    daily_rows,
    key_hash,
    parse_event,
)

__all__ = ["TOPIC", "ReportsConsumer", "apply_events", "new_events"]

TOPIC = "delivery"
CHUNK = 500  # keys per IN list: well under SQLite's and PostgreSQL's parameter limits
_PLACEHOLDER = {"sqlite": "?", "postgresql": "%s"}
_ORDER_COLUMNS = (
    "tenant_id",
    "activity_id",
    "order_id",
    "experience_id",
    "environment_id",
    "visitor",
    "occurred_ms",
    "total",
)
_QUALIFIED_COLUMNS = ("tenant_id", "activity_id", "reporting_audience", "visitor", "qualified_ms")
_ADDED = ("visitors", "visits", "impressions", "value_sum", "value_sq_sum")


def _values(p: str, columns: Sequence[str]) -> str:
    return f"({', '.join(columns)}) VALUES ({', '.join([p] * len(columns))})"


def _statements(p: str) -> dict[str, str]:
    visitor_updates = ", ".join(f"{c} = excluded.{c}" for c in VISITOR_COLUMNS[3:])
    daily_updates = ", ".join(f"{c} = report_daily.{c} + excluded.{c}" for c in _ADDED)
    audience_updates = ", ".join(f"{c} = report_audience_daily.{c} + excluded.{c}" for c in _ADDED)
    return {
        "visitors": (
            f"INSERT INTO report_visitors {_values(p, VISITOR_COLUMNS)} "
            f"ON CONFLICT (tenant_id, activity_id, visitor) DO UPDATE SET {visitor_updates}"
        ),
        "daily": (
            f"INSERT INTO report_daily {_values(p, DAILY_COLUMNS)} ON CONFLICT "
            "(tenant_id, activity_id, environment_id, experience_id, metric, day) "
            f"DO UPDATE SET {daily_updates}"
        ),
        "audience_daily": (
            f"INSERT INTO report_audience_daily {_values(p, AUDIENCE_COLUMNS)} ON CONFLICT "
            "(tenant_id, activity_id, reporting_audience, environment_id, experience_id, metric,"
            f" day) DO UPDATE SET {audience_updates}"
        ),
        "audience_visitors": (
            f"INSERT INTO report_audience_visitors {_values(p, _QUALIFIED_COLUMNS)} "
            "ON CONFLICT DO NOTHING"
        ),
        "resets": "SELECT tenant_id, activity_id, reset_ms FROM report_resets",
        "orders": f"INSERT INTO report_orders {_values(p, _ORDER_COLUMNS)} ON CONFLICT DO NOTHING",
        "states": (
            f"SELECT visitor, {', '.join(VISITOR_COLUMNS[3:])} FROM report_visitors "
            f"WHERE tenant_id = {p} AND activity_id = {p} AND visitor IN "
        ),
    }


_SQL = {dialect: _statements(p) for dialect, p in _PLACEHOLDER.items()}


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]


def _in(dialect: str, count: int) -> str:
    return f"({', '.join([_PLACEHOLDER[dialect]] * count)})"


def _fetch(conn: Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    """Rows of ``sql`` straight from the driver's cursor, in ``conn``'s transaction: a batch
    reads thousands of rows, and SQLAlchemy's per-row result processing cost more than SQLite's
    own work (BENCHMARKS.md, "Reports")."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def new_events(conn: Connection, records: Sequence[StoredRecord]) -> list[Event]:
    """The batch's countable events whose keys were not counted before, in log order; their
    keys are recorded as counted (in the caller's transaction)."""
    fresh: dict[tuple[int, int], Event] = {}
    for record in records:
        event = parse_event(record.tenant_id, record.key, record.payload)
        if event is not None:
            event.logged_ms = record.created_ms
            assert event.event_key is not None  # parse_event falls back to the record's key
            fresh.setdefault((event.tenant_id, key_hash(event.event_key[:400])), event)
    p = _PLACEHOLDER[conn.dialect.name]
    added: set[tuple[int, int]] = set()
    # One statement per chunk both records the keys and says which were new: ON CONFLICT DO
    # NOTHING ... RETURNING returns the inserted rows only (SQLite >= 3.35, PostgreSQL).
    refs = list(fresh)
    for chunk in _chunks(refs):
        values = ", ".join([f"({p}, {p})"] * len(chunk))
        sql = (
            f"INSERT INTO report_keys (tenant_id, key_hash) VALUES {values} "
            "ON CONFLICT DO NOTHING RETURNING tenant_id, key_hash"
        )
        params = [x for pair in chunk for x in pair]
        added.update(map(tuple, _fetch(conn, sql, params)))
    if len(added) == len(fresh):
        return list(fresh.values())
    return [event for ref, event in fresh.items() if ref in added]


def apply_events(conn: Connection, events: Sequence[Event]) -> None:
    """Counts ``events`` (``new_events``' answer) into the report tables."""
    if not events:
        return
    dialect = conn.dialect.name
    sql = _SQL[dialect]
    resets = {(t, a): ms for t, a, ms in _fetch(conn, sql["resets"], ())}
    if resets:
        events = [e for e in events if e.logged_ms > resets.get((e.tenant_id, e.activity_id), -1)]
    # The visitors' stored states, read in one statement per (tenant, activity) and chunk.
    groups: dict[tuple[int, int | None], dict[str, VisitorState | None]] = defaultdict(dict)
    for e in events:
        groups[(e.tenant_id, e.activity_id)].setdefault(e.visitor, None)  # type: ignore[arg-type]
    for (tenant, activity), states in groups.items():
        for chunk in _chunks(list(states)):
            query = sql["states"] + _in(dialect, len(chunk))
            for row in _fetch(conn, query, (tenant, activity, *chunk)):
                states[row[0]] = VisitorState(*row[1:])
    daily: dict[DailyKey, DailyTotals] = {}
    audiences = Audiences({}, [])
    orders: list[tuple[Any, ...]] = []
    touched: dict[tuple[int, int | None], set[str]] = defaultdict(set)
    for e in events:
        group = (e.tenant_id, e.activity_id)
        states = groups[group]
        visitor: str = e.visitor  # type: ignore[assignment]
        state = apply_event(states[visitor], e, daily, audiences)
        if state is None:
            continue
        states[visitor] = state
        touched[group].add(visitor)
        if e.kind == ORDER and e.order_id:
            orders.append(
                (
                    e.tenant_id,
                    e.activity_id,
                    e.order_id[:250],
                    state.experience_id,
                    state.environment_id,
                    visitor,
                    e.occurred_ms,
                    e.revenue,
                )
            )
    rows = []
    for (tenant, activity), visitors in touched.items():
        states = groups[(tenant, activity)]
        for visitor in visitors:
            state = states[visitor]
            assert state is not None and activity is not None
            rows.append(state.row(tenant, activity, visitor))
    if rows:
        conn.exec_driver_sql(sql["visitors"], rows)
    if daily:
        conn.exec_driver_sql(sql["daily"], list(daily_rows(daily)))
    if orders:
        conn.exec_driver_sql(sql["orders"], orders)
    if audiences.daily:
        conn.exec_driver_sql(sql["audience_daily"], list(audiences.rows()))
    if audiences.qualified:
        conn.exec_driver_sql(sql["audience_visitors"], audiences.qualified)


class ReportsConsumer:
    """Applies ``delivery`` records to ``report_visitors``, ``report_daily`` and
    ``report_orders``."""

    name = "reports"
    topics = frozenset({TOPIC})

    def apply(self, conn: Connection, records: Sequence[StoredRecord]) -> None:
        apply_events(conn, new_events(conn, records))


register(ReportsConsumer())
