"""An activity's performance report: Adobe's counts and Cible's statistics, per experience.

Read through ``cible.reports.service.performance_report``, the function behind the Admin API's
``/activities/{type}/{id}/report/performance`` (docs/reports.md), with the same query parameters.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from cible.activities.abxt import service as activities
from cible.activities.abxt._render import definition
from cible.errors import BadRequest
from cible.reports import service
from cible.reports.service import COUNTING
from cible.ui import _forms
from cible.ui._context import Ui, tenant_page

router = APIRouter()


@router.get("/{tenant}/activities/{activity_id}/report", include_in_schema=False)
def activity_report(activity_id: int, ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    params = {k: v for k, v in ui.request.query_params.items() if v}
    errors: list[str] = []
    with ui.session() as s:
        activity = activities.get_activity(s, ui.principal, activity_id)
        try:
            query = service.parse_query(params)
            report = service.performance_report(s, ui.principal, activity_id, None, query)
        except BadRequest as exc:
            errors = _forms.messages(exc)
            report = None
    names = {
        e["experienceLocalId"]: e.get("name") or f"Experience {e['experienceLocalId']}"
        for e in definition(activity).get("experiences", [])
        if "experienceLocalId" in e
    }
    return ui.render(
        "activities/report.html",
        activity=activity,
        report=report,
        errors=errors,
        names=names,
        counting=params.get("countingMethod", "visitor"),
        countings=COUNTING,
    )
