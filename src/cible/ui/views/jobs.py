"""Jobs: the tenant's rows of the outbox and the recurring schedules, with a retry button.

A job belongs to a tenant when its payload names it (``tenantId``, as every domain's jobs do);
schedules that name no tenant are the server's own and are shown to every tenant. The schedules
are read through ``cible.jobs.scheduler`` when that module is present.
"""

from __future__ import annotations

import importlib
from typing import Any

import orjson
from fastapi import APIRouter, Depends
from sqlalchemy import select
from starlette.responses import Response

from cible.activities.workspaces.service import require_tenant_write
from cible.errors import Conflict, NotFound
from cible.jobs.tables import DEAD, PENDING, Job
from cible.ui._context import Ui, tenant_page

router = APIRouter()

RECENT = 500


def _tenant_of(payload: str) -> int | None:
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    value = data.get("tenantId", data.get("tenant_id"))
    return value if isinstance(value, int) else None


def _schedules(ui: Ui) -> list[dict[str, Any]]:
    try:
        scheduler = importlib.import_module("cible.jobs.scheduler")
    except ImportError:
        return []
    listing = getattr(scheduler, "list_schedules", None)
    if listing is None:
        return []
    assert ui.principal is not None
    found = []
    with ui.session() as s:
        for row, last in listing(s):
            owner = _tenant_of(getattr(row, "payload", "{}"))
            if owner is not None and owner != ui.principal.tenant_id:
                continue
            found.append({"schedule": row, "last": last})
    return found


@router.get("/{tenant}/jobs", include_in_schema=False)
def job_list(ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    with ui.session() as s:
        recent = s.scalars(select(Job).order_by(Job.id.desc()).limit(RECENT))
        jobs = [j for j in recent if _tenant_of(j.payload) == ui.principal.tenant_id]
    return ui.render(
        "jobs.html", jobs=jobs, schedules=_schedules(ui), can_retry=ui.can_tenant_wide("write")
    )


@router.post("/{tenant}/jobs/{job_id}/retry", include_in_schema=False)
def job_retry(job_id: int, ui: Ui = Depends(tenant_page)) -> Response:
    """A dead job back to pending with fresh attempts; the worker picks it up at once."""
    assert ui.principal is not None
    require_tenant_write(ui.principal)
    with ui.session() as s:
        job = s.get(Job, job_id)
        if job is None or _tenant_of(job.payload) != ui.principal.tenant_id:
            raise NotFound(f"job {job_id} does not exist")
        if job.state != DEAD:
            raise Conflict(f"job {job_id} is {job.state}; only dead jobs are retried")
        job.state, job.attempts, job.run_at = PENDING, 0, ui.now
        job.locked_until = job.finished_at = None
    return ui.redirect(ui.url("/jobs"))
