"""Criteria routes (Adobe Recommendations API, ``/criteria`` and ``/criteria/{group}``).

``GET /criteria/{ref}`` serves two of Adobe's paths: ``/criteria/{group}`` (a group's criteria)
when ``ref`` names a group, ``/criteria/{id}`` (one criteria, minimal form) when it is a number.
Lists take Adobe's ``offset``, ``limit``, ``orderby`` (``id``, ``name``, ``lastModified``, with an
optional ``+``/``-``) and ``name`` (contains), besides Cible's ``sortBy``.
"""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, Depends
from starlette.responses import Response

from cible.errors import BadRequest, NotFound
from cible.recs import criteria as service
from cible.recs.schemas import CriteriaIn
from cible.store.paging import Page
from cible.web.admin import AdminCall, admin, admin_openapi

V1 = (1,)
router = APIRouter()


def _page(call: AdminCall) -> Page:
    page = call.page(service.SORTABLE)
    raw = call.request.query_params.get("orderby")
    if not raw:
        return page
    field = raw.strip().lstrip("+-")
    if field not in service.SORTABLE:
        allowed = ", ".join(service.SORTABLE)
        raise BadRequest.fields([("orderby", f"must be one of {allowed}, with + or -")])
    return replace(page, sort=((field, raw.strip().startswith("-")),))


def _list(call: AdminCall, group: str | None, full: bool) -> Response:
    page = _page(call)
    name = call.request.query_params.get("name")
    with call.db.session() as session:
        rows, total = service.list_criteria(session, call.principal, page, group, name)
        render = service.criteria_json if full else service.criteria_min
        return call.render(page.envelope("list", [render(r) for r in rows], total))


@router.get("/criteria", **admin_openapi(V1, summary="List criteria of every group"))
def list_all(call: AdminCall = Depends(admin(V1))) -> Response:
    return _list(call, None, full=False)


@router.get(
    "/criteria/{ref}", **admin_openapi(V1, summary="List a group's criteria, or get one by id")
)
def list_group_or_get(ref: str, call: AdminCall = Depends(admin(V1))) -> Response:
    if ref in service.GROUPS:
        return _list(call, ref, full=True)
    if not ref.isdigit() or len(ref) > 18:
        raise NotFound(f"criteria group or id {ref!r} does not exist")
    with call.db.session() as session:
        row = service.get_criteria(session, call.principal, int(ref))
        return call.render(service.criteria_min(row))


@router.post(
    "/criteria/{group}",
    **admin_openapi(V1, body=CriteriaIn, status=201, summary="Create a criteria"),
)
def create(group: str, call: AdminCall = Depends(admin(V1, body=CriteriaIn))) -> Response:
    with call.db.session() as session:
        row = service.create_criteria(session, call.principal, group, call.body, call.now)
        return call.render(service.criteria_json(row), status=201)


@router.get("/criteria/{group}/{criteria_id}", **admin_openapi(V1, summary="Get a criteria"))
def read(group: str, criteria_id: int, call: AdminCall = Depends(admin(V1))) -> Response:
    with call.db.session() as session:
        row = service.get_criteria(session, call.principal, criteria_id, group)
        return call.render(service.criteria_json(row))


@router.put(
    "/criteria/{group}/{criteria_id}",
    **admin_openapi(V1, body=CriteriaIn, summary="Update a criteria"),
)
def update(
    group: str, criteria_id: int, call: AdminCall = Depends(admin(V1, body=CriteriaIn))
) -> Response:
    with call.db.session() as session:
        row = service.update_criteria(
            session, call.principal, group, criteria_id, call.body, call.now
        )
        return call.render(service.criteria_json(row))


@router.delete("/criteria/{group}/{criteria_id}", **admin_openapi(V1, summary="Delete a criteria"))
def delete(group: str, criteria_id: int, call: AdminCall = Depends(admin(V1))) -> Response:
    with call.db.session() as session:
        row = service.delete_criteria(session, call.principal, group, criteria_id)
        return call.render(service.criteria_json(row))


@router.post(
    "/criteria/{group}/{criteria_id}/train",
    **admin_openapi(V1, status=202, summary="Train a criteria now (Cible)", optional_body=True),
)
def train(group: str, criteria_id: int, call: AdminCall = Depends(admin(V1))) -> Response:
    with call.db.session() as session:
        row = service.queue_training(session, call.principal, group, criteria_id)
        return call.render(service.criteria_json(row), status=202)
