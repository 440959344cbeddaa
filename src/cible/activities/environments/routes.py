"""Environment routes (Adobe Admin API ``/environments``, v1): parse, call the service, render."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from cible.activities.environments import service
from cible.activities.environments.schemas import DefaultsIn, EnvironmentIn, environment_json
from cible.web.admin import AdminCall, admin, admin_openapi

VERSIONS = (1,)

router = APIRouter(prefix="/{tenant}/target", tags=["environments"])


@router.get("/environments", **admin_openapi(VERSIONS, summary="List environments"))
def list_environments(call: AdminCall = Depends(admin(VERSIONS))) -> Response:
    page = call.page(service.SORTABLE)
    with call.db.session() as session:
        rows, total = service.page_environments(session, call.principal, page)
        items: list[object] = [environment_json(e) for e in rows]
        return call.render(page.envelope("environments", items, total))


@router.post(
    "/environments",
    **admin_openapi(VERSIONS, body=EnvironmentIn, status=201, summary="Create an environment"),
)
def create_environment(call: AdminCall = Depends(admin(VERSIONS, body=EnvironmentIn))) -> Response:
    with call.db.session() as session:
        env = service.create_environment(session, call.principal, call.body, call.now)
        return call.render(environment_json(env), status=201)


# Declared before /environments/{environment_id}, which would otherwise take "defaults" as an id.
@router.get(
    "/environments/defaults",
    **admin_openapi(VERSIONS, summary="Get the default environments for reporting and new hosts"),
)
def read_defaults(call: AdminCall = Depends(admin(VERSIONS))) -> Response:
    with call.db.session() as session:
        return call.render(service.get_defaults(session, call.principal))


@router.put(
    "/environments/defaults",
    **admin_openapi(
        VERSIONS,
        body=DefaultsIn,
        summary="Set the default environments for reporting and new hosts",
    ),
)
def update_defaults(call: AdminCall = Depends(admin(VERSIONS, body=DefaultsIn))) -> Response:
    with call.db.session() as session:
        return call.render(service.set_defaults(session, call.principal, call.body, call.now))


@router.get(
    "/environments/{environment_id}", **admin_openapi(VERSIONS, summary="Get an environment")
)
def read_environment(environment_id: int, call: AdminCall = Depends(admin(VERSIONS))) -> Response:
    with call.db.session() as session:
        env = service.get_environment(session, call.principal, environment_id)
        return call.render(environment_json(env))


@router.put(
    "/environments/{environment_id}",
    **admin_openapi(VERSIONS, body=EnvironmentIn, summary="Update an environment"),
)
def update_environment(
    environment_id: int, call: AdminCall = Depends(admin(VERSIONS, body=EnvironmentIn))
) -> Response:
    with call.db.session() as session:
        env = service.update_environment(
            session, call.principal, environment_id, call.body, call.now
        )
        return call.render(environment_json(env))


@router.delete(
    "/environments/{environment_id}", **admin_openapi(VERSIONS, summary="Delete an environment")
)
def delete_environment(environment_id: int, call: AdminCall = Depends(admin(VERSIONS))) -> Response:
    with call.db.session() as session:
        env = service.delete_environment(session, call.principal, environment_id)
        return call.render(environment_json(env))
