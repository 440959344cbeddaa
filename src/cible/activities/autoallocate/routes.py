"""Auto-allocate routes (Adobe Admin API, ``/activities/autoallocate``, v1): parse, call, render.

The A/B service does the work; these routes only check that the activity allocates
automatically (404 otherwise, as for an activity of another type) and render Adobe's shape.
``GET .../allocations`` (Cible) lists the weights of every reallocation round.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session
from starlette.responses import Response

from cible.activities.abxt import qa_routes, reset_routes, service
from cible.activities.abxt._render import activity_json, definition
from cible.activities.abxt.tables import Activity
from cible.activities.autoallocate.schemas import AutoAllocateActivityIn, render, to_ab
from cible.errors import NotFound
from cible.reports import allocation
from cible.tenants.principal import Principal
from cible.tenants.roles import Capability
from cible.web.admin import AdminCall, admin, admin_openapi

V1 = (1,)
BASE = "/activities/autoallocate"
ITEM = BASE + "/{activity_id}"

router = APIRouter(prefix="/{tenant}/target", tags=["activities"])


def get(
    session: Session,
    principal: Principal,
    activity_id: int,
    capability: Capability = Capability.READ,
) -> Activity:
    """The auto-allocate activity, or 404 (A/B activities that do not allocate included)."""
    activity = service.get_activity(session, principal, activity_id, "ab", capability)
    auto = definition(activity).get("autoAllocate") or {}
    if not auto.get("enabled"):
        raise NotFound(f"autoallocate activity {activity_id} does not exist")
    return activity


def _render(call: AdminCall, activity: Activity, status: int = 200) -> Response:
    return call.render(render(activity_json(activity)), status)


@router.post(
    BASE,
    **admin_openapi(
        V1, body=AutoAllocateActivityIn, status=201, summary="Create an auto-allocate activity"
    ),
)
def create(call: AdminCall = Depends(admin(V1, body=AutoAllocateActivityIn))) -> Response:
    with call.db.session() as session:
        activity = service.create_activity(
            session, call.principal, "ab", to_ab(call.body), call.now
        )
        return _render(call, activity, 201)


@router.get(ITEM, **admin_openapi(V1, summary="Get an auto-allocate activity"))
def read(activity_id: int, call: AdminCall = Depends(admin(V1))) -> Response:
    with call.db.session() as session:
        return _render(call, get(session, call.principal, activity_id))


@router.put(
    ITEM,
    **admin_openapi(V1, body=AutoAllocateActivityIn, summary="Replace an auto-allocate activity"),
)
def update(
    activity_id: int, call: AdminCall = Depends(admin(V1, body=AutoAllocateActivityIn))
) -> Response:
    with call.db.session() as session:
        get(session, call.principal, activity_id, Capability.WRITE)
        activity = service.update_activity(
            session, call.principal, activity_id, "ab", to_ab(call.body), call.now
        )
        return _render(call, activity)


@router.delete(ITEM, **admin_openapi(V1, summary="Delete an auto-allocate activity"))
def remove(activity_id: int, call: AdminCall = Depends(admin(V1))) -> Response:
    with call.db.session() as session:
        get(session, call.principal, activity_id, Capability.WRITE)
        activity = service.delete_activity(session, call.principal, activity_id, "ab", call.now)
        return _render(call, activity)


@router.get(
    ITEM + "/allocations",
    **admin_openapi(V1, summary="Weight history of an auto-allocate activity"),
)
def allocations(activity_id: int, call: AdminCall = Depends(admin(V1))) -> Response:
    page = call.page({"computedAt": None})
    with call.db.session() as session:
        activity = get(session, call.principal, activity_id)
        rounds, total = allocation.history(session, activity, page.offset, page.limit)
        return call.render(page.envelope("allocations", rounds, total))


# Adobe's spec: POST /activities/autoallocate/{id}/qamode, v1.
qa_routes.register(router, BASE, V1, get)
reset_routes.register(router, BASE, V1, get)
