"""Inbound file receipts as ``GET /v1/datasources/{id}/history/inbound`` lists them, and the
watched folder that imports the files dropped in it (``CIBLE_DMP_INBOUND_DIR``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from cible.dmp.transfers.inbound import Importer, parse_name
from cible.dmp.transfers.tables import InboundFile
from cible.store import Database

log = logging.getLogger("cible.dmp")


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


def scan(db: Database, folder: str) -> int:
    """Imports every inbound file of ``folder`` not imported yet; returns how many it applied.

    A file is known by name and md5, so one dropped again unchanged is skipped, and one still
    being written (its md5 changes) is imported again in full once complete: drop files under a
    temporary name and rename them, as for AAM's S3 uploads.
    """
    done = 0
    for path in sorted(Path(folder).iterdir()):
        if not path.is_file() or parse_name(path.name) is None:
            continue
        try:
            receipt = Importer(db, path.name, path.read_bytes()).run()
        except Exception:
            log.exception("inbound file failed", extra={"file": path.name})
            continue
        done += receipt.get("recordsReceived", 0) > 0
    return done
