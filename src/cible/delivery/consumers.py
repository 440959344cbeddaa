"""The ``delivery.events`` consumer: delivery events from the event log into the ``events`` table.

Replaying any stretch of the log again inserts nothing new: each event's key is unique per tenant
in ``events`` (``cible.delivery.events``), and the consumer's offset moves in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Connection

from cible.delivery.events import TOPIC, store_events
from cible.events import StoredRecord, register

__all__ = ["EventsTable"]


class EventsTable:
    """Materialises ``delivery`` records as rows of ``events``."""

    name = "delivery.events"
    topics = frozenset({TOPIC})

    def apply(self, conn: Connection, records: Sequence[StoredRecord]) -> None:
        rows: list[dict[str, Any]] = []
        for record in records:
            row = orjson.loads(record.payload)
            row["tenant_id"] = record.tenant_id
            row["created_ms"] = record.created_ms
            rows.append(row)
        store_events(conn, rows)


register(EventsTable())
