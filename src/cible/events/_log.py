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

import functools
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
# Rows per multi-row INSERT (5 parameters each: under the 999 of SQLite before 3.32 and
# PostgreSQL's 65,535 parameters per statement).
_MULTI_ROW = 190
_TOPIC_MAX = 32
_KEY_MAX = 400
# Set in Connection.info by the group committer: the rows its units append, inserted at once
# before the batch commits.
HELD_ROWS = "cible.events.held_rows"

Row = tuple[str, int, str, bytes, int]


@functools.cache
def _insert_sql(style: str, rows: int) -> str:
    mark = _MARKS[style]
    return _COLUMNS + ", ".join(["(" + ", ".join([mark] * 5) + ")"] * rows)


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
    Inside a :class:`~cible.events.GroupCommitter` unit the records are held until the batch
    commits and then inserted together, in the order the units appended them (one statement per
    batch rather than one round trip per request). Raises ``ValueError`` for a topic longer
    than 32 characters, a key longer than 400, a payload that is not bytes or a tenant id that
    is not an int.
    """
    if not records:
        return
    stamp = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    rows = []
    for r in records:
        # Checked here, where the unit that appended can fail alone, rather than when its
        # batch's rows are inserted together.
        if (
            len(r.topic) > _TOPIC_MAX
            or len(r.key) > _KEY_MAX
            or type(r.payload) is not bytes
            or type(r.tenant_id) is not int
        ):
            raise ValueError(
                f"invalid event record (topic {r.topic[:40]!r}, key {r.key[:40]!r}): topics have "
                f"at most {_TOPIC_MAX} characters, keys {_KEY_MAX}, tenant ids are int and "
                "payloads bytes"
            )
        rows.append((r.topic, r.tenant_id, r.key, r.payload, stamp))
    held: list[Row] | None = conn.info.get(HELD_ROWS)
    if held is not None:
        held += rows
        return
    take_log_lock(conn)
    insert_rows(conn, rows)


def insert_rows(conn: Connection, rows: Sequence[Row]) -> None:
    """Inserts rows ``(topic, tenant_id, key, payload, created_ms)`` in order."""
    style = conn.dialect.paramstyle
    # Straight to the driver, inside the transaction SQLAlchemy opened: this runs for every
    # request, and SQLAlchemy's per-statement bookkeeping cost more than the insert itself
    # (benchmarks/event_log.py).
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        for start in range(0, len(rows), _MULTI_ROW):
            chunk = rows[start : start + _MULTI_ROW]
            flat: list[object] = []
            for row in chunk:
                flat += row
            cursor.execute(_insert_sql(style, len(chunk)), flat)
    finally:
        cursor.close()
