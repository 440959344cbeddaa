"""Report routes (Adobe Admin API, "Reports"): parse, call the service, render JSON or CSV.

Adobe's spec serves reports as v1 and its own client (``@adobe/aio-lib-target``) asks for v3:
both are served, with one shape. ``Accept: text/csv`` gets the same report as CSV.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from cible.reports import service
from cible.reports._csv import orders_csv, performance_csv
from cible.web.admin import AdminCall, admin, admin_openapi
from cible.web.versioning import _accepted

VERSIONS = (1, 2, 3)
KINDS = ("ab", "xt")
CSV = "text/csv"

router = APIRouter(prefix="/{tenant}/target", tags=["reports"])


def wants_csv(accept: str | None) -> bool:
    """True when ``Accept`` prefers ``text/csv`` to every JSON type it names."""
    if not accept:
        return False
    ranges = [(r, q) for r, q in _accepted(accept) if q > 0]
    csv_q = max((q for r, q in ranges if r == CSV), default=0.0)
    json_q = max((q for r, q in ranges if r != CSV and "json" in r), default=0.0)
    return csv_q > 0 and csv_q >= json_q


def _csv(body: str, name: str) -> Response:
    return Response(
        body,
        media_type=f"{CSV}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def register(kind: str, label: str) -> None:
    """The performance and orders reports of activities of ``kind`` (``ab``, ``xt``, ...)."""
    base = f"/activities/{kind}/{{activity_id}}/report"

    @router.get(
        f"{base}/performance",
        **admin_openapi(VERSIONS, summary=f"Performance report of an {label} activity"),
    )
    def performance(activity_id: int, call: AdminCall = Depends(admin(VERSIONS))) -> Response:
        query = service.parse_query(call.request.query_params)
        with call.db.session() as session:
            report = service.performance_report(session, call.principal, activity_id, kind, query)
        if wants_csv(call.request.headers.get("accept")):
            return _csv(performance_csv(report), f"activity-{activity_id}-performance")
        return call.render(report)

    @router.get(
        f"{base}/orders",
        **admin_openapi(VERSIONS, summary=f"Orders (audit) report of an {label} activity"),
    )
    def orders(activity_id: int, call: AdminCall = Depends(admin(VERSIONS))) -> Response:
        query = service.parse_query(call.request.query_params)
        with call.db.session() as session:
            report = service.orders_report(session, call.principal, activity_id, kind, query)
        if wants_csv(call.request.headers.get("accept")):
            return _csv(orders_csv(report), f"activity-{activity_id}-orders")
        return call.render(report)


register("ab", "A/B")
register("xt", "Experience Targeting")
