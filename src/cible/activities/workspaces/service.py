"""Workspaces: list, create, rename and delete, within one tenant.

Reading needs a role on the workspace (a client limited to one workspace sees only that one);
creating, renaming and deleting need the write right on the whole tenant, since a workspace is
the boundary of other clients' roles. A workspace still holding objects cannot be deleted: every
table with a foreign key to ``workspaces`` is counted (client roles excepted, they go with it), so
a domain added later is covered without a change here. Soft-deleted rows (``deleted_at`` set) do
not count and are purged with the workspace.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, func, select
from sqlalchemy.orm import Session

from cible.activities.workspaces.schemas import WorkspaceIn
from cible.activities.workspaces.tables import Workspace
from cible.errors import BadRequest, Conflict, Forbidden, NotFound
from cible.store.models import metadata
from cible.store.paging import Page, fetch_page
from cible.tenants.principal import Principal
from cible.tenants.roles import GRANTS, Capability

SORTABLE: dict[str, Any] = {"id": Workspace.id, "name": Workspace.name}
_NOT_CONTENT = frozenset({"client_roles"})


def require_tenant_write(principal: Principal) -> None:
    tenant_wide = {c for role in principal.grants.get(None, frozenset()) for c in GRANTS[role]}
    if Capability.WRITE not in tenant_wide:
        raise Forbidden(
            f"API client {principal.client_id} needs the write right on the whole tenant "
            "to manage workspaces"
        )


def get_workspace(
    session: Session, principal: Principal, workspace_id: int, manage: bool = False
) -> Workspace:
    """The workspace, or 404 when it is another tenant's or one the client cannot read."""
    ws = session.get(Workspace, workspace_id)
    if (
        ws is None
        or ws.tenant_id != principal.tenant_id
        or not principal.can(Capability.READ, ws.id)
    ):
        raise NotFound(f"workspace {workspace_id} does not exist")
    if manage:
        require_tenant_write(principal)
    return ws


def list_workspaces(
    session: Session, principal: Principal, page: Page
) -> tuple[list[Workspace], int]:
    where = [Workspace.tenant_id == principal.tenant_id]
    readable = principal.readable_workspaces()
    if readable is not None:
        where.append(Workspace.id.in_(readable))
    order = [SORTABLE[f].desc() if desc else SORTABLE[f].asc() for f, desc in page.sort]
    return fetch_page(session, select(Workspace).where(*where), page, [*order, Workspace.id])


def _check_body(body: WorkspaceIn, ws: Workspace | None) -> None:
    problems = []
    # A digits-only name would read as an id wherever a body names a workspace.
    if body.name.strip().isdigit():
        problems.append(("name", "cannot be only digits (it would read as a workspace id)"))
    if body.id is not None and (ws is None or body.id != str(ws.id)):
        problems.append(("id", "is read-only"))
    if body.default is not None and body.default != (ws is not None and ws.is_default):
        problems.append(("default", "is read-only: the tenant's first workspace is the default"))
    if problems:
        raise BadRequest.fields(problems)


def _check_name_free(session: Session, tenant_id: int, name: str, own: int | None) -> None:
    existing = session.scalar(
        select(Workspace.id).where(Workspace.tenant_id == tenant_id, Workspace.name == name)
    )
    if existing is not None and existing != own:
        raise Conflict(f"a workspace named {name!r} already exists (id {existing})")


def create_workspace(
    session: Session, principal: Principal, body: WorkspaceIn, now: datetime
) -> Workspace:
    require_tenant_write(principal)
    _check_body(body, None)
    _check_name_free(session, principal.tenant_id, body.name, None)
    ws = Workspace(tenant_id=principal.tenant_id, name=body.name, is_default=False, created_at=now)
    session.add(ws)
    session.flush()
    return ws


def rename_workspace(
    session: Session, principal: Principal, workspace_id: int, body: WorkspaceIn
) -> Workspace:
    ws = get_workspace(session, principal, workspace_id, manage=True)
    _check_body(body, ws)
    _check_name_free(session, principal.tenant_id, body.name, ws.id)
    ws.name = body.name
    session.flush()
    return ws


def _content_tables() -> list[tuple[Table, str]]:
    """Every table (other than client roles) with a column referencing ``workspaces.id``."""
    found = []
    for table in metadata.sorted_tables:
        if table.name in _NOT_CONTENT:
            continue
        for fk in table.foreign_keys:
            if fk.column.table.name == "workspaces":
                found.append((table, fk.parent.name))
    return found


def workspace_in_use(session: Session, workspace_id: int) -> dict[str, int]:
    """How many live rows of each table still point at the workspace (empty when none)."""
    counts: dict[str, int] = {}
    for table, column in _content_tables():
        query = select(func.count()).select_from(table).where(table.c[column] == workspace_id)
        if "deleted_at" in table.c:
            query = query.where(table.c.deleted_at.is_(None))
        count = session.scalar(query) or 0
        if count:
            counts[table.name] = count
    return counts


def delete_workspace(session: Session, principal: Principal, workspace_id: int) -> Workspace:
    ws = get_workspace(session, principal, workspace_id, manage=True)
    if ws.is_default:
        raise Conflict(f"workspace {ws.id} is the tenant's default workspace")
    if used := workspace_in_use(session, ws.id):
        held = ", ".join(f"{n} {table}" for table, n in sorted(used.items()))
        raise Conflict(f"workspace {ws.id} still holds objects ({held}); move or delete them first")
    for table, column in _content_tables():
        if "deleted_at" in table.c:
            session.execute(delete(table).where(table.c[column] == ws.id))
    session.delete(ws)
    session.flush()
    return ws
