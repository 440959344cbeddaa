"""Every segment as a read-only audience in Target's audience list.

Adobe's integration lists every Audience Manager segment in Target's audience list, with the
source "Experience Cloud" and modified by the integration user (Adobe Audience Manager,
"Audience Manager and Target integration"). Cible keeps one ``audiences`` row per segment
(``origin`` ``cloud``, ``segment_id``) in the tenant's default workspace, written in the
transaction that creates, renames or deletes the segment, so activities reference it by id like
any audience. Its ``targetRule`` is ``{"segments": "ids", "contains": ["<sid>"]}``: a rule on
``segments.*``, which the artifact compiler marks remote, so it is decided by the delivery API
from the visitor's segments resolved server-side (cible.dmp.targeting).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from cible.activities import publish
from cible.activities.abxt.tables import Activity, ActivityRef
from cible.activities.audiences.tables import Audience
from cible.dmp.tables import Segment
from cible.errors import Conflict
from cible.tenants.service import default_workspace

__all__ = ["MODIFIED_BY", "ORIGIN", "audience_rule", "segment_deleted", "segment_saved"]

ORIGIN = "cloud"
"""Adobe Admin API ``Audience.origin`` for audiences that come from the Experience Cloud."""
MODIFIED_BY = "aam-integration"


def audience_rule(segment_id: int) -> dict[str, Any]:
    """The ``targetRule`` of a segment's audience."""
    return {"segments": "ids", "contains": [str(segment_id)]}


def _audience_of(session: Session, segment: Segment) -> Audience | None:
    return session.scalar(
        select(Audience).where(
            Audience.tenant_id == segment.tenant_id, Audience.segment_id == segment.id
        )
    )


def segment_saved(session: Session, segment: Segment, now: datetime) -> Audience:
    """Creates or renames the segment's audience (call after the segment is flushed)."""
    audience = _audience_of(session, segment)
    if audience is None:
        audience = Audience(
            tenant_id=segment.tenant_id,
            workspace_id=default_workspace(session, segment.tenant_id).id,
            origin=ORIGIN,
            segment_id=segment.id,
            created_at=now,
        )
        session.add(audience)
    audience.name = segment.name[:250]
    audience.description = segment.description
    audience.target_rule = orjson.dumps(audience_rule(segment.id)).decode()
    audience.modified_at = now
    audience.modified_by = MODIFIED_BY
    audience.deleted_at = None
    session.flush()
    return audience


def segment_deleted(session: Session, segment: Segment, now: datetime) -> None:
    """Marks the segment's audience deleted; 409 while an approved activity targets it."""
    audience = _audience_of(session, segment)
    if audience is None or audience.deleted_at is not None:
        return
    used = session.execute(
        select(Activity.id, Activity.name)
        .join(ActivityRef, ActivityRef.activity_id == Activity.id)
        .where(
            ActivityRef.tenant_id == segment.tenant_id,
            ActivityRef.kind == "audience",
            ActivityRef.ref_id == audience.id,
            Activity.state == "approved",
        )
        .order_by(Activity.id)
        .limit(1)
    ).first()
    if used is not None:
        raise Conflict(
            f"segment {segment.id} is the audience {audience.id} of approved activity "
            f"{used.id} ({used.name!r}); deactivate the activity or remove the audience first"
        )
    audience.deleted_at = now
    audience.modified_at = now
    audience.segment_id = None  # a later segment may reuse nothing of it
    session.flush()
    publish.audience_changed(session, segment.tenant_id, audience.id)
