"""The event log and its consumers' offsets, as SQLAlchemy Core tables (see docs/events.md).

Core rather than ORM: every statement on these tables runs on the request path or in a consumer
loop, where an ORM session's bookkeeping would cost more than the SQL.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, String, Table

from cible.store.base import Base

# On SQLite the offset is the table's rowid (INTEGER PRIMARY KEY) and AUTOINCREMENT keeps SQLite
# from reusing the offsets of compacted records (https://sqlite.org/autoinc.html).
OFFSET_TYPE = BigInteger().with_variant(Integer, "sqlite")

event_log = Table(
    "event_log",
    Base.metadata,
    Column("offset", OFFSET_TYPE, primary_key=True, autoincrement=True),
    Column("topic", String(32), nullable=False),
    Column("tenant_id", Integer, nullable=False),
    Column("key", String(400), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_event_log_created_ms", "created_ms"),
    sqlite_autoincrement=True,
)

event_consumers = Table(
    "event_consumers",
    Base.metadata,
    Column("name", String(100), primary_key=True),
    Column("offset", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)
