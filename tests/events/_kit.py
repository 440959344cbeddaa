"""A test consumer that copies records into a table of its own with idempotent upserts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, text

from cible.events import Record, StoredRecord, append_records

SINK_DDL = (
    "CREATE TABLE events_sink (key VARCHAR(400) PRIMARY KEY, tenant_id INTEGER NOT NULL, "
    "body TEXT NOT NULL, record_offset BIGINT NOT NULL)"
)
UPSERT = text(
    "INSERT INTO events_sink (key, tenant_id, body, record_offset) "
    "VALUES (:key, :tenant_id, :body, :record_offset) "
    "ON CONFLICT (key) DO UPDATE SET tenant_id = excluded.tenant_id, body = excluded.body, "
    "record_offset = excluded.record_offset"
)


def create_sink(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(SINK_DDL))


def sink(engine: Engine) -> dict[str, tuple[int, str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT key, tenant_id, body, record_offset FROM events_sink"))
        return {r[0]: (r[1], r[2], r[3]) for r in rows}


def log_keys(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text('SELECT key FROM event_log ORDER BY "offset"'))]


@dataclass
class SinkConsumer:
    name: str = "test.sink"
    topics: frozenset[str] = frozenset({"t"})
    batches: list[list[int]] = field(default_factory=list)
    fail: bool = False

    def apply(self, conn: Connection, records: Sequence[StoredRecord]) -> None:
        self.batches.append([r.offset for r in records])
        conn.execute(
            UPSERT,
            [
                {
                    "key": r.key,
                    "tenant_id": r.tenant_id,
                    "body": r.payload.decode(),
                    "record_offset": r.offset,
                }
                for r in records
            ],
        )
        if self.fail:
            raise RuntimeError("consumer failed on purpose")


def append(engine: Engine, *records: Record, now_ms: int | None = None) -> None:
    with engine.begin() as conn:
        append_records(conn, list(records), now_ms=now_ms)


def rec(key: str, body: str = "{}", topic: str = "t", tenant: int = 1) -> Record:
    return Record(topic, tenant, key, body.encode())
