"""File-transfer reports: inbound files per data source and outbound transfers per destination.

AAM reports its file transfers in the Onboarding Status and Outbound History reports (Adobe
Audience Manager, "Onboarding status report", "Outbound history report"), and the REST API lists
them at ``GET /v1/datasources/{id}/history/inbound`` and ``GET /v1/destinations/{id}/history/
outbound``. This page shows the same records: for each inbound file its receive and processing
times, rows, errors (with their samples) and md5; for each destination its real-time messages
and batch file runs with their files' rows and md5.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from cible.dmp import service as dmp
from cible.dmp.transfers import export, receipts, s2s, service
from cible.ui._context import Ui, tenant_page
from cible.ui.views.destinations import ALL, when

router = APIRouter()

LATEST = 200  # the newest transfers of each kind a page shows
ERRORS = ("formatErrors", "invalidIds", "noMatchingIds")


def _chosen(ui: Ui, name: str) -> int | None:
    raw = ui.request.query_params.get(name, "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None


def _inbound(row: dict[str, Any], source: str) -> dict[str, Any]:
    return row | {
        "dataSource": source,
        "received": when(row.get("startTime")),
        "processed": when(row.get("endTime")),
        "errors": sum(int(row.get(k) or 0) for k in ERRORS),
        "kind": "ID sync" if row["fileName"].startswith("adobe_id_") else "data",
    }


@router.get("/{tenant}/transfers", include_in_schema=False)
def transfer_report(ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    source, destination = _chosen(ui, "source"), _chosen(ui, "destination")
    inbound: list[dict[str, Any]] = []
    outbound: list[dict[str, Any]] = []
    with ui.session() as s:
        sources, _ = dmp.list_data_sources(s, ui.principal, ALL)
        dests, _ = service.list_destinations(s, ui.principal, ALL)
        for ds in sources:
            if source is None or ds.id == source:
                inbound += [_inbound(r, ds.name) for r in receipts.history(s, ds.id)]
        for dest in dests:
            if destination is not None and dest.id != destination:
                continue
            for m in s2s.messages(s, dest.id, limit=100_000)[-LATEST:]:
                outbound.append(
                    {
                        "destination": dest.name,
                        "destinationId": dest.id,
                        "kind": "real-time message",
                        "name": f"message {m.id} ({m.users} users)",
                        "started": when(m.created_ms),
                        "finished": when(m.delivered_ms),
                        "sort": m.created_ms,
                        "state": m.state,
                        "rows": m.users,
                        "error": m.last_error or "",
                        "attempts": m.attempts,
                        "files": [],
                    }
                )
            for run in export.runs(s, dest.id, None, None)[-LATEST:]:
                shown = export.run_json(run)
                outbound.append(
                    {
                        "destination": dest.name,
                        "destinationId": dest.id,
                        "kind": f"batch file ({shown['syncMode']})",
                        "name": f"run {run.id}, scheduled {when(run.scheduled_ms)}",
                        "started": when(run.started_ms),
                        "finished": when(run.finished_ms),
                        "sort": run.started_ms or run.scheduled_ms,
                        "state": run.state,
                        "rows": shown["rows"],
                        "error": shown["error"] or "",
                        "attempts": shown["attempts"],
                        "files": shown["files"],
                    }
                )
    inbound.sort(key=lambda r: (r.get("startTime") or 0, r["fileName"]), reverse=True)
    outbound.sort(key=lambda r: r["sort"] or 0, reverse=True)
    return ui.render(
        "transfers/report.html",
        sources=[(d.id, d.name) for d in sources],
        destinations=[(d.id, d.name) for d in dests],
        source=source,
        destination=destination,
        inbound=inbound[:LATEST],
        outbound=outbound[:LATEST],
    )
