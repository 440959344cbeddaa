"""Audience routes (Adobe Admin API, section Audiences): parse, call the service, render."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from cible.activities.audiences import service
from cible.activities.audiences.schemas import (
    AudienceIn,
    AudiencePatch,
    audience_json,
    audience_list_item,
)
from cible.web.admin import AdminCall, admin, admin_openapi

# Adobe's current spec serves audiences as v3; v1 (what a client naming no version gets) is
# served with the same shape so that plain ``application/json`` clients work.
VERSIONS = (1, 3)
FILTERS = ("id", "name", "workspace", "origin", "modifiedAt", "createdAt")

router = APIRouter(prefix="/{tenant}/target", tags=["audiences"])


@router.get("/audiences", **admin_openapi(VERSIONS, summary="List audiences"))
def list_audiences(call: AdminCall = Depends(admin(VERSIONS))) -> Response:
    params = call.request.query_params
    page = call.page(service.SORTABLE)
    filters = {name: params.getlist(name) for name in FILTERS}
    with call.db.session() as session:
        rows, total = service.list_audiences(session, call.principal, page, filters)
        return call.render(page.envelope("audiences", [audience_list_item(a) for a in rows], total))


@router.post(
    "/audiences",
    **admin_openapi(VERSIONS, body=AudienceIn, status=201, summary="Create an audience"),
)
def create_audience(call: AdminCall = Depends(admin(VERSIONS, body=AudienceIn))) -> Response:
    with call.db.session() as session:
        audience = service.create_audience(session, call.principal, call.body, call.now)
        return call.render(audience_json(audience), status=201)


@router.get("/audiences/{audience_id}", **admin_openapi(VERSIONS, summary="Get an audience"))
def read_audience(audience_id: int, call: AdminCall = Depends(admin(VERSIONS))) -> Response:
    with call.db.session() as session:
        return call.render(
            audience_json(service.get_audience(session, call.principal, audience_id))
        )


@router.put(
    "/audiences/{audience_id}",
    **admin_openapi(VERSIONS, body=AudienceIn, summary="Replace an audience"),
)
def update_audience(
    audience_id: int, call: AdminCall = Depends(admin(VERSIONS, body=AudienceIn))
) -> Response:
    with call.db.session() as session:
        audience = service.update_audience(
            session, call.principal, audience_id, call.body, call.now
        )
        return call.render(audience_json(audience))


@router.patch(
    "/audiences/{audience_id}",
    **admin_openapi(VERSIONS, body=AudiencePatch, summary="Change some fields of an audience"),
)
def patch_audience(
    audience_id: int, call: AdminCall = Depends(admin(VERSIONS, body=AudiencePatch))
) -> Response:
    with call.db.session() as session:
        audience = service.patch_audience(session, call.principal, audience_id, call.body, call.now)
        return call.render(audience_json(audience))


@router.delete("/audiences/{audience_id}", **admin_openapi(VERSIONS, summary="Delete an audience"))
def delete_audience(audience_id: int, call: AdminCall = Depends(admin(VERSIONS))) -> Response:
    with call.db.session() as session:
        audience = service.delete_audience(session, call.principal, audience_id, call.now)
        return call.render(audience_json(audience))
