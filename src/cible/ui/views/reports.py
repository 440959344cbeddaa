"""An activity's performance report: Adobe's counts and Cible's statistics, per experience.

Read through ``cible.reports.service.performance_report``, the function behind the Admin API's
``/activities/{type}/{id}/report/performance`` (docs/reports.md), with the same query parameters:
``reportingAudienceLocalId`` narrows every number to the visitors who qualified for one of the
activity's reporting audiences, and the CSV download is the API's CSV of the same query (a
session cannot call the API, which wants a bearer token, so the UI serves it itself).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from sqlalchemy import select
from starlette.responses import Response

from cible.activities.abxt import service as activities
from cible.activities.abxt._render import definition
from cible.activities.abxt.tables import Activity, ActivityChange
from cible.activities.audiences.tables import Audience
from cible.errors import BadRequest
from cible.isotime import iso_millis
from cible.reports import service
from cible.reports._csv import performance_csv
from cible.reports.service import COUNTING
from cible.ui import _forms
from cible.ui._context import Ui, tenant_page

router = APIRouter()

AUDIENCE_PARAM = "reportingAudienceLocalId"
NOTICE_PARAM = "notice"


def _reporting_audiences(
    ui: Ui, activity: Activity, body: Mapping[str, Any]
) -> list[tuple[Any, str]]:
    """``(reportingAudienceLocalId, label)`` of the activity's reporting audiences."""
    assert ui.principal is not None
    listed = [
        r
        for r in body.get("reportingAudiences") or []
        if r.get("reportingAudienceLocalId") is not None
    ]
    ids = {r.get("audienceId") for r in listed if isinstance(r.get("audienceId"), int)}
    with ui.session() as s:
        rows = s.execute(
            select(Audience.id, Audience.name).where(
                Audience.tenant_id == activity.tenant_id, Audience.id.in_(ids)
            )
        )
        names = {audience_id: name for audience_id, name in rows}
    return [
        (
            r["reportingAudienceLocalId"],
            names.get(r.get("audienceId")) or f"Audience {r.get('audienceId')}",
        )
        for r in listed
    ]


def _report_page(ui: Ui, activity_id: int, params: dict[str, str], notices: list[str]) -> Response:
    """The report page for ``params`` (the query), with ``notices`` above it."""
    assert ui.principal is not None
    errors: list[str] = []
    with ui.session() as s:
        activity = activities.get_activity(s, ui.principal, activity_id)
        try:
            query = service.parse_query(params)
            report = service.performance_report(s, ui.principal, activity_id, None, query)
        except BadRequest as exc:
            errors = _forms.messages(exc)
            report = None
    body = definition(activity)
    names = {
        e["experienceLocalId"]: e.get("name") or f"Experience {e['experienceLocalId']}"
        for e in body.get("experiences", [])
        if "experienceLocalId" in e
    }
    query_string = urlencode(params)
    return ui.render(
        "activities/report.html",
        activity=activity,
        report=report,
        errors=errors,
        notices=notices,
        names=names,
        counting=params.get("countingMethod", "visitor"),
        countings=COUNTING,
        reporting=_reporting_audiences(ui, activity, body),
        audience=params.get(AUDIENCE_PARAM, ""),
        csv_url=ui.url(f"/activities/{activity.id}/report.csv")
        + (f"?{query_string}" if query_string else ""),
        can_reset=ui.can("activate", activity.workspace_id),
    )


def _reset_notice(ui: Ui, activity_id: int) -> list[str]:
    """The notice of the activity's last reset (its newest changelog entry with
    ``reportDataReset``), if it was ever reset."""
    assert ui.principal is not None
    with ui.session() as s:
        activities.get_activity(s, ui.principal, activity_id)
        last = s.scalars(
            select(ActivityChange)
            .where(
                ActivityChange.activity_id == activity_id,
                ActivityChange.report_data_reset.is_(True),
            )
            .order_by(ActivityChange.modified_at.desc(), ActivityChange.id.desc())
            .limit(1)
        ).first()
        if last is None:
            return []
        return [
            f"Report data reset at {iso_millis(last.modified_at)} by {last.modified_by}: the "
            "report starts again from zero, and every visitor is allocated anew on his next visit."
        ]


@router.get("/{tenant}/activities/{activity_id}/report", include_in_schema=False)
def activity_report(activity_id: int, ui: Ui = Depends(tenant_page)) -> Response:
    params = {k: v for k, v in ui.request.query_params.items() if v}
    # ``notice=reset`` is where a reset redirects to (``cible.ui.views.reset``).
    notices = _reset_notice(ui, activity_id) if params.pop(NOTICE_PARAM, "") == "reset" else []
    return _report_page(ui, activity_id, params, notices)


@router.get("/{tenant}/activities/{activity_id}/report.csv", include_in_schema=False)
def activity_report_csv(activity_id: int, ui: Ui = Depends(tenant_page)) -> Response:
    """The report as the Admin API's CSV (``Accept: text/csv``), for the same query."""
    assert ui.principal is not None
    params = {k: v for k, v in ui.request.query_params.items() if v}
    query = service.parse_query(params)
    with ui.session() as s:
        report = service.performance_report(s, ui.principal, activity_id, None, query)
    audience = query.reporting_audience
    suffix = "" if audience is None else f"-audience-{audience}"
    return Response(
        performance_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": (
                f'attachment; filename="activity-{activity_id}-performance{suffix}.csv"'
            )
        },
    )
