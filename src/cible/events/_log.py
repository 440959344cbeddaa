"""Appending records to the event log, in commit order.

A consumer reads the log by offset and remembers the last offset it applied, so an offset must
never become visible after a larger one: otherwise a record that commits late would sit below a
consumer's stored offset and be skipped forever. SQLite has one writer at a time, so offsets are
assigned and committed in the same order. PostgreSQL hands out sequence values at insert time,
so two transactions can commit in the opposite order of their offsets; every appending
transaction therefore takes one transaction-scoped advisory lock before its first insert and
holds it to COMMIT, which makes log-appending transactions commit one after another across every
process and host on the database (docs/events.md, "Commit order").
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import msgspec
from sqlalchemy import Connection, text

# A fixed key for pg_advisory_xact_lock; any 64-bit value no other part of Cible uses.
LOG_LOCK_KEY = 0x43_69_62_6C_65_4C_6F_67  # "CibleLog"
# Set in Connection.info while the current transaction already holds the log lock (the group
# committer takes it once per batch, outside the units' savepoints).
LOCK_HELD = "cible.events.log_lock_held"

_LOCK = text(f"SELECT pg_advisory_xact_lock({LOG_LOCK_KEY})")
_COLUMNS = 'INSERT INTO event_log (topic, tenant_id, "key", payload, created_ms) VALUES '
_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}  # sqlite3, psycopg
# Up to this many records go in one multi-row INSERT (one statement, one round trip); more are
# sent with executemany.
_MULTI_ROW = 8
_INSERT_SQL = {
    (style, rows): _COLUMNS + ", ".join(["(" + ", ".join([mark] * 5) + ")"] * rows)
    for style, mark in _MARKS.items()
    for rows in range(1, _MULTI_ROW + 1)
}


class Record(msgspec.Struct, frozen=True, gc=False):
    """One record to append: ``payload`` is JSON bytes; ``key`` lets consumers dedupe replays.

    >>> Record("delivery", 1, "req-1/0", b'{"kind": "impression"}')
    Record(topic='delivery', tenant_id=1, key='req-1/0', payload=b'{"kind": "impression"}')
    """

    topic: str
    tenant_id: int
    key: str
    payload: bytes


class StoredRecord(msgspec.Struct, frozen=True, gc=False):
    """A record read back from the log with its offset and append time (epoch milliseconds)."""

    offset: int
    topic: str
    tenant_id: int
    key: str
    payload: bytes
    created_ms: int


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def take_log_lock(conn: Connection) -> None:
    """Takes the log's commit-order lock for the rest of ``conn``'s transaction (PostgreSQL).

    ``append_records`` takes it; a transaction that also updates rows the group committer's
    units update (visitor state) must take it FIRST, before those rows: the committer holds it
    while its units wait for row locks, so the opposite order deadlocks. Nothing to do on
    SQLite, whose single writer already orders commits.
    """
    if conn.dialect.name == "postgresql" and not conn.info.get(LOCK_HELD):
        conn.execute(_LOCK)


def append_records(conn: Connection, records: Sequence[Record], now_ms: int | None = None) -> None:
    """Inserts ``records`` inside the caller's transaction; they are durable when it commits.

    ``now_ms`` stamps ``created_ms`` (the retention clock); the current time when omitted.
    """
    if not records:
        return
    stamp = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    take_log_lock(conn)
    style = conn.dialect.paramstyle
    # Straight to the driver, inside the transaction SQLAlchemy opened: this runs for every
    # request, and SQLAlchemy's per-statement bookkeeping cost more than the insert itself
    # (benchmarks/event_log.py). The SQL is rendered once per paramstyle, at import.
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if len(records) <= _MULTI_ROW:
            flat: list[object] = []
            for r in records:
                flat += (r.topic, r.tenant_id, r.key, r.payload, stamp)
            cursor.execute(_INSERT_SQL[style, len(records)], flat)
        else:
            rows = [(r.topic, r.tenant_id, r.key, r.payload, stamp) for r in records]
            cursor.executemany(_INSERT_SQL[style, 1], rows)
    finally:
        cursor.close()
