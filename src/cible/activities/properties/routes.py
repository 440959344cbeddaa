"""Property routes (Adobe Admin API ``/properties``, v1): parse, call the service, render."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from cible.activities.properties import service
from cible.activities.properties.schemas import PropertyIn, property_json
from cible.web.admin import AdminCall, admin, admin_openapi

VERSIONS = (1,)
FILTERS = ("name", "channel", "workspace")

router = APIRouter(prefix="/{tenant}/target", tags=["properties"])


@router.get("/properties", **admin_openapi(VERSIONS, summary="List properties"))
def list_properties(call: AdminCall = Depends(admin(VERSIONS))) -> Response:
    params = call.request.query_params
    page = call.page(service.SORTABLE)
    filters = {name: params.getlist(name) for name in FILTERS}
    with call.db.session() as session:
        rows, total = service.list_properties(session, call.principal, page, filters)
        return call.render(page.envelope("properties", [property_json(p) for p in rows], total))


@router.post(
    "/properties",
    **admin_openapi(VERSIONS, body=PropertyIn, status=201, summary="Create a property"),
)
def create_property(call: AdminCall = Depends(admin(VERSIONS, body=PropertyIn))) -> Response:
    with call.db.session() as session:
        prop = service.create_property(session, call.principal, call.body, call.now)
        return call.render(property_json(prop), status=201)


@router.get("/properties/{property_id}", **admin_openapi(VERSIONS, summary="Get a property"))
def read_property(property_id: int, call: AdminCall = Depends(admin(VERSIONS))) -> Response:
    with call.db.session() as session:
        return call.render(
            property_json(service.get_property(session, call.principal, property_id))
        )


@router.put(
    "/properties/{property_id}",
    **admin_openapi(VERSIONS, body=PropertyIn, summary="Replace a property"),
)
def update_property(
    property_id: int, call: AdminCall = Depends(admin(VERSIONS, body=PropertyIn))
) -> Response:
    with call.db.session() as session:
        prop = service.update_property(session, call.principal, property_id, call.body, call.now)
        return call.render(property_json(prop))


@router.delete("/properties/{property_id}", **admin_openapi(VERSIONS, summary="Delete a property"))
def delete_property(property_id: int, call: AdminCall = Depends(admin(VERSIONS))) -> Response:
    with call.db.session() as session:
        prop = service.delete_property(session, call.principal, property_id)
        body = property_json(prop)
        return call.render(body)
