"""``/{tenant}/target/privacy/visitor``: export (GET) or delete (DELETE) one visitor's data.

Cible additions (Adobe handles such requests through its Privacy Service, outside the Target
Admin API). The visitor is named by ``id`` and ``kind`` query parameters, as in
``cible privacy export --tenant T --id ID --kind tntId`` (docs/security.md, "Privacy").
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from cible.errors import BadRequest, Forbidden
from cible.privacy import service
from cible.tenants.principal import Principal
from cible.tenants.roles import GRANTS, Capability
from cible.web.admin import AdminCall, admin, admin_openapi

VERSIONS = (1,)
PARAMETERS = [
    {
        "name": "id",
        "in": "query",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 256},
        "description": "One of the visitor's ids.",
    },
    {
        "name": "kind",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "default": "tntId"},
        "description": "tntId, thirdPartyId, marketingCloudVisitorId or customerId:<code>.",
    },
]

router = APIRouter(prefix="/{tenant}/target", tags=["privacy"])


def _tenant_wide(principal: Principal, capability: Capability) -> None:
    # Profiles belong to the tenant, not to a workspace: only tenant-wide roles reach them.
    held = {c for role in principal.grants.get(None, frozenset()) for c in GRANTS[role]}
    if capability not in held:
        raise Forbidden(
            f"API client {principal.client_id} needs the {capability} right on the whole tenant"
        )


def _visitor(call: AdminCall) -> tuple[str, str]:
    params = call.request.query_params
    if len(params.getlist("id")) != 1 or len(params.getlist("kind")) > 1:
        raise BadRequest.fields([("id", "give exactly one id (and at most one kind)")])
    return params.get("kind") or "tntId", params["id"]


def _openapi(summary: str) -> dict[str, Any]:
    kwargs = admin_openapi(VERSIONS, summary=summary)
    kwargs["openapi_extra"]["parameters"] = PARAMETERS
    return kwargs


@router.get("/privacy/visitor", **_openapi("Export everything held about one visitor"))
def export_visitor(call: AdminCall = Depends(admin(VERSIONS))) -> Response:
    _tenant_wide(call.principal, Capability.READ)
    kind, value = _visitor(call)
    with call.db.session() as session:
        return call.render(service.export_visitor(session, call.principal.tenant_id, kind, value))


@router.delete("/privacy/visitor", **_openapi("Delete everything held about one visitor"))
def delete_visitor(call: AdminCall = Depends(admin(VERSIONS))) -> Response:
    _tenant_wide(call.principal, Capability.WRITE)
    kind, value = _visitor(call)
    with call.db.session() as session:
        removed = service.delete_visitor(session, call.principal.tenant_id, kind, value)
        return call.render({"deleted": removed})
