"""Workspace routes (Cible addition, v1): parse, call the service, render."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from cible.activities.workspaces import service
from cible.activities.workspaces.schemas import WorkspaceIn, workspace_json
from cible.web.admin import AdminCall, admin, admin_openapi

VERSIONS = (1,)

router = APIRouter(prefix="/{tenant}/target", tags=["workspaces"])


@router.get("/workspaces", **admin_openapi(VERSIONS, summary="List workspaces (Cible addition)"))
def list_workspaces(call: AdminCall = Depends(admin(VERSIONS))) -> Response:
    page = call.page(service.SORTABLE)
    with call.db.session() as session:
        rows, total = service.list_workspaces(session, call.principal, page)
        return call.render(page.envelope("workspaces", [workspace_json(w) for w in rows], total))


@router.post(
    "/workspaces",
    **admin_openapi(
        VERSIONS, body=WorkspaceIn, status=201, summary="Create a workspace (Cible addition)"
    ),
)
def create_workspace(call: AdminCall = Depends(admin(VERSIONS, body=WorkspaceIn))) -> Response:
    with call.db.session() as session:
        ws = service.create_workspace(session, call.principal, call.body, call.now)
        return call.render(workspace_json(ws), status=201)


@router.get(
    "/workspaces/{workspace_id}",
    **admin_openapi(VERSIONS, summary="Get a workspace (Cible addition)"),
)
def read_workspace(workspace_id: int, call: AdminCall = Depends(admin(VERSIONS))) -> Response:
    with call.db.session() as session:
        ws = service.get_workspace(session, call.principal, workspace_id)
        return call.render(workspace_json(ws))


@router.put(
    "/workspaces/{workspace_id}",
    **admin_openapi(VERSIONS, body=WorkspaceIn, summary="Rename a workspace (Cible addition)"),
)
def rename_workspace(
    workspace_id: int, call: AdminCall = Depends(admin(VERSIONS, body=WorkspaceIn))
) -> Response:
    with call.db.session() as session:
        ws = service.rename_workspace(session, call.principal, workspace_id, call.body)
        return call.render(workspace_json(ws))


@router.delete(
    "/workspaces/{workspace_id}",
    **admin_openapi(VERSIONS, summary="Delete an empty workspace (Cible addition)"),
)
def delete_workspace(workspace_id: int, call: AdminCall = Depends(admin(VERSIONS))) -> Response:
    with call.db.session() as session:
        body = workspace_json(service.get_workspace(session, call.principal, workspace_id))
        service.delete_workspace(session, call.principal, workspace_id)
        return call.render(body)
