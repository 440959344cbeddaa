"""Activity reset (a Cible extension): the activity's report data and its visitors' assignments.

Adobe Target can reset an activity from its UI: the report starts again from zero and every
visitor is allocated anew; the activity's changelog then has an entry with ``reportDataReset:
true`` (Admin API, ``ActivityChangelog``). Adobe's Admin API documents no endpoint for it, so
``POST /{tenant}/target/activities/{ab|xt|autoallocate}/{id}/reset`` is Cible's own, documented as
such in docs/activities.md ("Activity reset"). One transaction:

- ``cible.reports.reset.reset_reports`` deletes the report rows and stores the reset time, so
  events accepted before it never count again (a lagging consumer, a later rebuild);
- ``cible.profiles.service.reset_activity`` deletes the stored assignments and moves the
  visitors' versions, so no cached state of theirs decides again: each is allocated afresh on his
  next call, under the activity's current weights;
- a changelog entry with ``reportDataReset: true``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from cible.activities.abxt import changelog
from cible.activities.abxt.tables import Activity
from cible.isotime import iso_millis
from cible.profiles import service as profiles
from cible.reports.reset import reset_reports
from cible.tenants.principal import Principal

__all__ = ["ResetIn", "reset_activity"]


class ResetIn(BaseModel):
    """The optional body: ``{}`` (Adobe's clients send one with every write)."""

    model_config = ConfigDict(extra="forbid")


def reset_activity(
    session: Session, principal: Principal, activity: Activity, now: datetime
) -> dict[str, Any]:
    """Resets ``activity`` (found, and the caller's right checked, by the route); the answer."""
    reset_ms = reset_reports(session.connection(), activity.tenant_id, activity.id)
    visitors = profiles.reset_activity(session, activity.tenant_id, activity.id)
    changelog.record_reset(session, activity.id, principal.client_id, now)
    session.flush()
    return {
        "id": activity.id,
        "reportDataReset": True,
        "modifiedAt": iso_millis(now),
        "resetAt": iso_millis(datetime.fromtimestamp(reset_ms / 1000, UTC)),
        "assignmentsReset": visitors,
    }
