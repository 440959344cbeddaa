"""The activity changelog (Adobe Admin API ``ActivityChangelog``): one entry per change.

An entry names the client that made the change and, per parameter, its previous and new value.
An activity reset (a Cible extension, ``cible.activities.abxt.reset``) is an entry with
``reportDataReset: true`` and no parameters.
Adobe's examples key the name as ``activityName``; the other keys are the body's field names.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from cible.activities.abxt.tables import ActivityChange
from cible.isotime import iso_millis
from cible.store.paging import Page, fetch_page

Changes = dict[str, dict[str, Any]]


def diff(before: dict[str, Any], after: dict[str, Any]) -> Changes:
    """``{name: {previousValue, changedValue}}`` for every key whose value differs."""
    changes: Changes = {}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old != new:
            name = "activityName" if key == "name" else key
            changes[name] = {"previousValue": old, "changedValue": new}
    return changes


def record(
    session: Session, activity_id: int, client_id: str, now: datetime, changes: Changes
) -> None:
    """Add an entry, unless nothing changed."""
    if changes:
        session.add(
            ActivityChange(
                activity_id=activity_id,
                modified_at=now,
                modified_by=client_id,
                parameters=orjson.dumps(changes).decode(),
            )
        )


def record_reset(session: Session, activity_id: int, client_id: str, now: datetime) -> None:
    """Add the entry of an activity reset (``reportDataReset: true``, ``abxt.reset``)."""
    session.add(
        ActivityChange(
            activity_id=activity_id,
            modified_at=now,
            modified_by=client_id,
            parameters="{}",
            report_data_reset=True,
        )
    )


def entries(session: Session, activity_id: int, page: Page) -> tuple[list[dict[str, Any]], int]:
    """The activity's entries, oldest first."""
    query = select(ActivityChange).where(ActivityChange.activity_id == activity_id)
    order = [ActivityChange.modified_at, ActivityChange.id]
    rows, total = fetch_page(session, query, page, order)
    return [
        {
            "modifiedAt": iso_millis(row.modified_at),
            "modifiedBy": row.modified_by,
            "reportDataReset": row.report_data_reset,
            "activityParameters": orjson.loads(row.parameters),
        }
        for row in rows
    ], total
