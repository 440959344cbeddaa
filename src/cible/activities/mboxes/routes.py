"""Mbox routes (Adobe Admin API, "Mboxes", v1): ``GET /mboxes`` and ``GET /mbox/{name}``."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from cible.activities.mboxes import service
from cible.isotime import iso_millis
from cible.tenants.roles import Capability
from cible.web.admin import AdminCall, admin, admin_openapi

VERSIONS = (1,)

router = APIRouter(prefix="/{tenant}/target", tags=["mboxes"])


@router.get("/mboxes", **admin_openapi(VERSIONS, summary="List mboxes"))
def list_mboxes(call: AdminCall = Depends(admin(VERSIONS))) -> Response:
    call.principal.require(Capability.READ)
    page = call.page(service.SORTABLE, default_sort="name")
    with call.db.session() as session:
        rows, total = service.list_mboxes(session, call.principal.tenant_id, page)
        items = [
            {
                "name": m.name,
                "status": service.status(m),
                "lastRequestedAt": iso_millis(m.last_requested_at) if m.last_requested_at else None,
            }
            for m in rows
        ]
        return call.render(page.envelope("mboxes", list(items), total))


@router.get("/mbox/{name}", **admin_openapi(VERSIONS, summary="Get an mbox and its parameters"))
def read_mbox(name: str, call: AdminCall = Depends(admin(VERSIONS))) -> Response:
    call.principal.require(Capability.READ)
    with call.db.session() as session:
        mbox = service.get_mbox(session, call.principal.tenant_id, name)
        params = [{"name": p, "parameterType": "MBOX"} for p in service.parameter_names(mbox)]
        return call.render({"name": mbox.name, "mboxParameters": params})
