"""Routes of designs, collections, exclusions and promotions (Adobe Recommendations API):
``GET``/``POST /{resource}``, ``GET``/``PUT``/``DELETE /{resource}/{id}``, and
``POST /designs/validate``. Parse, call the service, render."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from starlette.responses import Response

from cible.errors import BadRequest
from cible.recs import _named, designs
from cible.recs.access import require_read
from cible.recs.collections import COLLECTIONS
from cible.recs.exclusions import EXCLUSIONS
from cible.recs.merchandising_schemas import (
    CollectionIn,
    DesignIn,
    DesignValidateIn,
    ExclusionIn,
    PromotionIn,
)
from cible.recs.promotions import PROMOTIONS
from cible.web.admin import AdminCall, admin, admin_openapi

V1 = (1,)
router = APIRouter()


def _flag(call: AdminCall, name: str, default: bool) -> bool:
    raw = call.request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() not in ("true", "false"):
        raise BadRequest.fields([(name, "true or false")])
    return raw.lower() == "true"


def _show(kind: _named.Kind, call: AdminCall, row: Any, full: bool = True) -> dict[str, Any]:
    if kind is designs.DESIGNS:
        full = _flag(call, "includeScript", full)
    return kind.show(row, full)


@router.post(
    "/designs/validate",
    **admin_openapi(V1, body=DesignValidateIn, summary="Validate a design script"),
)
def validate_design(call: AdminCall = Depends(admin(V1, body=DesignValidateIn))) -> Response:
    require_read(call.principal)
    return call.render(designs.validate(call.body.script))


def _register(plural: str, kind: _named.Kind, model: type[BaseModel]) -> None:
    label = kind.label
    item = f"/{plural}/{{object_id}}"

    @router.get(f"/{plural}", **admin_openapi(V1, summary=f"List {plural}"))
    def list_all(call: AdminCall = Depends(admin(V1))) -> Response:
        params = call.request.query_params
        query = _named.ListQuery(
            page=call.page({"id": None}),
            orderby=_named.parse_orderby(params.get("orderby")),
            name=params.get("name") or None,
        )
        with call.db.session() as session:
            rows, total = _named.list_page(session, call.principal, kind, query)
            items: list[object] = [_show(kind, call, row, full=False) for row in rows]
            return call.render(query.page.envelope("list", items, total))

    @router.post(
        f"/{plural}", **admin_openapi(V1, body=model, status=201, summary=f"Create a {label}")
    )
    def create(call: AdminCall = Depends(admin(V1, body=model))) -> Response:
        with call.db.session() as session:
            row = _named.create(session, call.principal, kind, call.body, call.now)
            return call.render(_show(kind, call, row), status=201)

    @router.get(item, **admin_openapi(V1, summary=f"Get a {label}"))
    def read(object_id: int, call: AdminCall = Depends(admin(V1))) -> Response:
        with call.db.session() as session:
            return call.render(
                _show(kind, call, _named.get(session, call.principal, kind, object_id))
            )

    @router.put(item, **admin_openapi(V1, body=model, summary=f"Update a {label}"))
    def update(object_id: int, call: AdminCall = Depends(admin(V1, body=model))) -> Response:
        with call.db.session() as session:
            row = _named.update(session, call.principal, kind, object_id, call.body, call.now)
            return call.render(_show(kind, call, row))

    @router.delete(item, **admin_openapi(V1, summary=f"Delete a {label}"))
    def delete(object_id: int, call: AdminCall = Depends(admin(V1))) -> Response:
        with call.db.session() as session:
            shown = _show(kind, call, _named.delete(session, call.principal, kind, object_id))
            return call.render(shown)

    for fn in (list_all, create, read, update, delete):
        fn.__name__ = f"{fn.__name__}_{plural}"


_register("designs", designs.DESIGNS, DesignIn)
_register("collections", COLLECTIONS, CollectionIn)
_register("exclusions", EXCLUSIONS, ExclusionIn)
_register("promotions", PROMOTIONS, PromotionIn)
