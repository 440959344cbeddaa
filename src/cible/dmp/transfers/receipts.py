"""Inbound file receipts as ``GET /v1/datasources/{id}/history/inbound`` lists them (the watched
location that imports dropped files is ``cible.dmp.transfers.watch``), and their redaction when a
user's data is deleted.

A receipt's error samples quote the file's lines, and an import record keeps the devices and
user ids it counted: a privacy deletion must leave none of the user's ids there (docs/security.md,
"Privacy"). The counters stay as they were: they describe the file, not the user.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import orjson
from sqlalchemy import Connection, or_, select, update
from sqlalchemy.orm import Session

from cible.dmp.transfers.tables import InboundFile


def history(
    session: Session,
    data_source_id: int,
    *,
    name: str | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> list[dict[str, Any]]:
    query = select(InboundFile).where(InboundFile.data_source_id == data_source_id)
    if name is not None:
        query = query.where(InboundFile.file_name == name)
    if start_ms is not None:
        query = query.where(InboundFile.started_ms >= start_ms)
    if end_ms is not None:
        query = query.where(InboundFile.started_ms <= end_ms)
    return [
        {
            "fileName": row.file_name,
            "dataSourceId": row.data_source_id,
            "md5": row.md5,
            "bytes": row.bytes,
            "state": row.state,
            "linesDone": row.lines_done,
            **orjson.loads(row.receipt),
        }
        for row in session.scalars(query.order_by(InboundFile.id))
    ]


def redact(conn: Connection, tenant_id: int, ids: Collection[str]) -> int:
    """Takes user ids ``ids`` (AAM UUIDs, declared ids, ECIDs) out of the tenant's inbound file
    records: error samples whose line holds one, and the devices and failed users counted;
    returns how many records changed."""
    wanted = {i for i in ids if i}
    if not wanted:
        return 0
    columns = (InboundFile.receipt, InboundFile.devices, InboundFile.failed_users)
    found = conn.execute(
        select(InboundFile.id, *columns).where(
            InboundFile.tenant_id == tenant_id,
            or_(*(c.contains(i, autoescape=True) for c in columns for i in wanted)),
        )
    ).all()
    changed = 0
    for file_id, raw_receipt, raw_devices, raw_failed in found:
        receipt = orjson.loads(raw_receipt)
        samples = {
            kind: [s for s in taken if not any(i in s.get("text", "") for i in wanted)]
            for kind, taken in (receipt.get("samples") or {}).items()
        }
        values = {
            "receipt": orjson.dumps({**receipt, "samples": samples}).decode(),
            "devices": _without(raw_devices, wanted),
            "failed_users": _without(raw_failed, wanted),
        }
        if (values["receipt"], values["devices"], values["failed_users"]) != (
            raw_receipt,
            raw_devices,
            raw_failed,
        ):
            conn.execute(update(InboundFile).where(InboundFile.id == file_id).values(**values))
            changed += 1
    return changed


def _without(raw: str | None, wanted: set[str]) -> str:
    return orjson.dumps([i for i in orjson.loads(raw or "[]") if i not in wanted]).decode()
