"""Inbound file receipts as ``GET /v1/datasources/{id}/history/inbound`` lists them (the watched
location that imports dropped files is ``cible.dmp.transfers.watch``)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select
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
