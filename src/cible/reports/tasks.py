"""Report jobs: the hourly reallocation of auto-allocate activities (docs/reports.md)."""

from __future__ import annotations

from typing import Any

from cible.activities.abxt.tables import Activity
from cible.jobs.registry import task
from cible.reports.allocation import auto_allocate_activities, reallocate
from cible.store import Database
from cible.store.base import utcnow

REALLOCATE = "reports.reallocate"


@task(REALLOCATE)
def reallocate_all(db: Database, payload: dict[str, Any]) -> None:
    """One round for every approved auto-allocate activity (of ``tenantId`` when given).

    Each activity commits on its own, so one that fails does not hold back the others' rounds;
    a retried job runs a round again, which only records the same weights once more.
    """
    tenant = payload.get("tenantId")
    with db.session() as session:
        ids = [a.id for a in auto_allocate_activities(session, tenant)]
    now = utcnow()
    for activity_id in ids:
        with db.session() as session:
            activity = session.get(Activity, activity_id)
            if activity is not None and activity.state == "approved":
                reallocate(session, activity, now)
