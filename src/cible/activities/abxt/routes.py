"""Activity routes (Adobe Admin API, "Activities"): parse, call the service, render.

``/activities/ab`` and ``/activities/xt`` serve v3 (the current ``ABActivity``) and v1 (Adobe's
2017 shape, converted to and from v3 by ``schemas.legacy_to_v3`` / ``v3_to_legacy``). The
sub-resources (``state``, ``priority``, ``schedule``, ``name``) and the changelog are v1 only, as
in Adobe's spec; the list serves v1 and v3 with the same shape.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from starlette.responses import Response

from cible.activities.abxt import _render as render
from cible.activities.abxt import qa_routes, reset_routes, service
from cible.activities.abxt.schemas import (
    ActivityIn,
    LegacyActivityIn,
    NameIn,
    PriorityIn,
    ScheduleIn,
    StateIn,
    legacy_to_v3,
    v3_to_legacy,
)
from cible.activities.abxt.tables import Activity
from cible.web.admin import AdminCall, admin, admin_openapi

VERSIONS = (1, 3)
BODIES: dict[int, type[BaseModel]] = {1: LegacyActivityIn, 3: ActivityIn}
V1 = (1,)

router = APIRouter(prefix="/{tenant}/target", tags=["activities"])


def _v3(call: AdminCall) -> tuple[ActivityIn, dict[int, str] | None]:
    if isinstance(call.body, LegacyActivityIn):
        return legacy_to_v3(call.body)
    assert isinstance(call.body, ActivityIn)
    return call.body, None


def _render(call: AdminCall, activity: Activity, status: int = 200) -> Response:
    body = render.activity_json(activity)
    return call.render(v3_to_legacy(body) if call.version == 1 else body, status)


@router.get("/activities", **admin_openapi(VERSIONS, summary="List activities"))
def list_activities(call: AdminCall = Depends(admin(VERSIONS))) -> Response:
    page = call.page(service.SORTABLE)
    params = call.request.query_params
    filters = {key: params.getlist(key) for key in params}
    with call.db.session() as session:
        rows, total = service.list_activities(session, call.principal, page, filters)
        items: list[object] = [render.list_item(a) for a in rows]
        return call.render(page.envelope("activities", items, total))


def _register_typed(kind: str) -> None:
    base = f"/activities/{kind}"

    @router.post(
        base,
        **admin_openapi(VERSIONS, body=BODIES, status=201, summary=f"Create an {kind} activity"),
    )
    def create(call: AdminCall = Depends(admin(VERSIONS, body=BODIES))) -> Response:
        body, paths = _v3(call)
        with call.db.session() as session:
            activity = service.create_activity(session, call.principal, kind, body, call.now, paths)
            return _render(call, activity, 201)

    @router.get(base + "/{activity_id}", **admin_openapi(VERSIONS, summary=f"Get an {kind}"))
    def read(activity_id: int, call: AdminCall = Depends(admin(VERSIONS))) -> Response:
        with call.db.session() as session:
            return _render(call, service.get_activity(session, call.principal, activity_id, kind))

    @router.put(
        base + "/{activity_id}",
        **admin_openapi(VERSIONS, body=BODIES, summary=f"Replace an {kind} activity"),
    )
    def update(
        activity_id: int, call: AdminCall = Depends(admin(VERSIONS, body=BODIES))
    ) -> Response:
        body, paths = _v3(call)
        with call.db.session() as session:
            activity = service.update_activity(
                session, call.principal, activity_id, kind, body, call.now, paths
            )
            return _render(call, activity)

    @router.delete(
        base + "/{activity_id}", **admin_openapi(VERSIONS, summary=f"Delete an {kind} activity")
    )
    def remove(activity_id: int, call: AdminCall = Depends(admin(VERSIONS))) -> Response:
        with call.db.session() as session:
            activity = service.delete_activity(session, call.principal, activity_id, kind, call.now)
            return _render(call, activity)

    for fn in (create, read, update, remove):
        fn.__name__ = f"{fn.__name__}_{kind}_activity"


def _register_parts(prefix: str, kind: str | None) -> None:
    """``PUT {prefix}/{id}/state|priority|schedule|name`` answering ``ActivityDescription``."""
    label = kind or "any"

    @router.put(
        prefix + "/{activity_id}/state",
        **admin_openapi(V1, body=StateIn, summary=f"Set an activity's state ({label} path)"),
    )
    def put_state(activity_id: int, call: AdminCall = Depends(admin(V1, body=StateIn))) -> Response:
        with call.db.session() as session:
            activity = service.set_state(
                session, call.principal, activity_id, kind, call.body.state, call.now
            )
            return call.render(render.description(activity))

    @router.put(
        prefix + "/{activity_id}/priority",
        **admin_openapi(V1, body=PriorityIn, summary=f"Set an activity's priority ({label} path)"),
    )
    def put_priority(
        activity_id: int, call: AdminCall = Depends(admin(V1, body=PriorityIn))
    ) -> Response:
        with call.db.session() as session:
            activity = service.set_priority(
                session, call.principal, activity_id, kind, call.body.priority, call.now
            )
            return call.render(render.description(activity))

    @router.put(
        prefix + "/{activity_id}/schedule",
        **admin_openapi(V1, body=ScheduleIn, summary=f"Set an activity's schedule ({label} path)"),
    )
    def put_schedule(
        activity_id: int, call: AdminCall = Depends(admin(V1, body=ScheduleIn))
    ) -> Response:
        with call.db.session() as session:
            activity = service.set_schedule(
                session,
                call.principal,
                activity_id,
                kind,
                call.body.starts_at,
                call.body.ends_at,
                call.now,
            )
            return call.render(render.description(activity))

    @router.put(
        prefix + "/{activity_id}/name",
        **admin_openapi(V1, body=NameIn, summary=f"Rename an activity ({label} path)"),
    )
    def put_name(activity_id: int, call: AdminCall = Depends(admin(V1, body=NameIn))) -> Response:
        with call.db.session() as session:
            activity = service.set_name(
                session, call.principal, activity_id, kind, call.body.name, call.now
            )
            return call.render(render.description(activity))

    for fn in (put_state, put_priority, put_schedule, put_name):
        fn.__name__ = f"{fn.__name__}_{label}_activity"


@router.get(
    "/activities/{activity_id}/changelog", **admin_openapi(V1, summary="An activity's changelog")
)
def changelog(activity_id: int, call: AdminCall = Depends(admin(V1))) -> Response:
    page = call.page({"modifiedAt": None})
    with call.db.session() as session:
        entries, total = service.changelog_of(session, call.principal, activity_id, page)
        return call.render(page.envelope("activityChangelogs", list(entries), total))


for _kind in service.TYPES:
    _register_typed(_kind)
    _register_parts(f"/activities/{_kind}", _kind)
    qa_routes.register(router, f"/activities/{_kind}", (3,), qa_routes.of_kind(_kind))
    reset_routes.register(router, f"/activities/{_kind}", VERSIONS, reset_routes.of_kind(_kind))
_register_parts("/activities", None)
