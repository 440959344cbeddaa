"""The ``events.compact`` job: retention of the event log (docs/events.md, "Retention")."""

from __future__ import annotations

from typing import Any

from cible.config import get_settings
from cible.events._consumers import load_consumers
from cible.events._log import now_ms
from cible.events._retention import compact
from cible.jobs.registry import task
from cible.store import Database


@task("events.compact")
def compact_event_log(database: Database, payload: dict[str, Any]) -> None:
    """Deletes applied records older than ``retention_hours`` (payload) or the setting."""
    hours = float(payload.get("retention_hours", get_settings().event_retention_hours))
    compact(database, now_ms() - int(hours * 3_600_000), consumers=load_consumers().values())
