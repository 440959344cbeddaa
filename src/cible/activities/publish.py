"""Publishing: changes that alter what an SDK should decide enqueue a rebuild of the artifact.

A rebuild is an ``artifacts.rebuild`` job row written in the caller's transaction (so nothing is
enqueued for a change that rolled back), deduplicated per tenant: ten edits before the worker
runs give one pending job, and the response never waits for it. The job
(``cible.artifacts.tasks``) recompiles every environment's ``rules.json`` from the tenant's
approved activities.

The offers and audiences services call ``offer_changed`` / ``audience_changed`` after an edit or a
delete; a rebuild is enqueued only when an approved activity references that offer or audience.
The activities service calls ``request_rebuild`` itself for changes to activities that are (or
were) approved.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cible.activities.abxt.tables import Activity, ActivityRef
from cible.jobs import enqueue

REBUILD_KIND = "artifacts.rebuild"


def rebuild_key(tenant_id: int) -> str:
    """The dedupe key of a tenant's pending rebuild job."""
    return f"artifacts:{tenant_id}"


def request_rebuild(session: Session, tenant_id: int) -> None:
    """Enqueue one rebuild of ``tenant_id``'s artifacts (no-op when one is already pending)."""
    enqueue(session, REBUILD_KIND, {"tenantId": tenant_id}, dedupe_key=rebuild_key(tenant_id))


def _used_by_approved(session: Session, tenant_id: int, kind: str, ref_id: int) -> bool:
    query = (
        select(ActivityRef.id)
        .join(Activity, Activity.id == ActivityRef.activity_id)
        .where(
            ActivityRef.tenant_id == tenant_id,
            ActivityRef.kind == kind,
            ActivityRef.ref_id == ref_id,
            Activity.state == "approved",
        )
        .limit(1)
    )
    return session.scalar(query) is not None


def offer_changed(session: Session, tenant_id: int, offer_id: int) -> None:
    """Call after an offer was edited or deleted, in the same transaction."""
    if _used_by_approved(session, tenant_id, "offer", offer_id):
        request_rebuild(session, tenant_id)


def audience_changed(session: Session, tenant_id: int, audience_id: int) -> None:
    """Call after an audience was edited or deleted, in the same transaction."""
    if _used_by_approved(session, tenant_id, "audience", audience_id):
        request_rebuild(session, tenant_id)
