"""Catalog routes (Adobe Recommendations API, "Entities" and "Catalog search"): parse, call, render.

Entity ids are strings, so the path parameter is ``{entity}``, not ``{..._id}`` (numeric path ids
are range-checked as integers by the Admin layer).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from cible.errors import BadRequest
from cible.recs import catalog, catalogsearch
from cible.recs.schemas import CatalogSearchIn, EntitiesIn
from cible.web.admin import AdminCall, admin, admin_openapi

V1 = (1,)
router = APIRouter()


def _int_param(call: AdminCall, *names: str) -> int | None:
    for name in names:
        raw = call.request.query_params.get(name)
        if raw is None or raw == "":
            continue
        try:
            return int(raw)
        except ValueError:
            raise BadRequest.fields([(name, "must be an integer")]) from None
    return None


@router.post("/entities", **admin_openapi(V1, body=EntitiesIn, summary="Save entities"))
def save_entities(call: AdminCall = Depends(admin(V1, body=EntitiesIn))) -> Response:
    with call.db.session() as session:
        result = catalog.save_entities(session, call.principal, call.body.entities, call.now)
        return call.render(result)


@router.get("/entities/{entity}", **admin_openapi(V1, summary="Get an entity"))
def get_entity(entity: str, call: AdminCall = Depends(admin(V1))) -> Response:
    environment = _int_param(call, "environmentId", "environment")
    with call.db.session() as session:
        return call.render(catalog.read_entity(session, call.principal, entity, environment))


@router.delete("/entities", **admin_openapi(V1, summary="Delete entities"))
def delete_entities(call: AdminCall = Depends(admin(V1))) -> Response:
    raw = call.request.query_params.get("ids")
    ids = None if raw is None else [i.strip() for i in raw.split(",") if i.strip()]
    environment = _int_param(call, "environment", "environmentId")
    with call.db.session() as session:
        return call.render(catalog.delete_entities(session, call.principal, ids, environment))


@router.delete("/entities/{entity}", **admin_openapi(V1, summary="Delete an entity"))
def delete_entity(entity: str, call: AdminCall = Depends(admin(V1))) -> Response:
    environment = _int_param(call, "environmentId", "environment")
    with call.db.session() as session:
        catalog.read_entity(session, call.principal, entity, environment)  # 404 when absent
        return call.render(catalog.delete_entities(session, call.principal, [entity], environment))


@router.post(
    "/catalogsearch", **admin_openapi(V1, body=CatalogSearchIn, summary="Search the catalog")
)
def search_catalog(call: AdminCall = Depends(admin(V1, body=CatalogSearchIn))) -> Response:
    with call.db.session() as session:
        body = call.body.model_dump(exclude_none=True)
        return call.render(catalogsearch.search(session, call.principal, body))
