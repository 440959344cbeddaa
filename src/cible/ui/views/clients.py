"""API clients of the tenant: list, create (the secret is shown once), revoke.

Managing clients needs the write right on the whole tenant (as managing workspaces does,
``cible.activities.workspaces.service.require_tenant_write``), and a user can only hand out a
role whose rights he holds himself tenant-wide, so the UI is no way around his own role.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from cible.activities.workspaces.service import require_tenant_write
from cible.errors import BadRequest, CibleError, Forbidden, NotFound
from cible.tenants import service as tenants
from cible.tenants.roles import GRANTS, Role, parse_role
from cible.ui import _forms
from cible.ui._context import Ui, tenant_page

router = APIRouter()


def _page(
    ui: Ui, errors: list[str], created: tenants.NewClient | None = None, status: int = 200
) -> Response:
    assert ui.principal is not None
    with ui.session() as s:
        rows = tenants.list_clients(s, ui.tenant)
        items = [
            {
                "client": c,
                "roles": [
                    r.role + (f" (workspace {r.workspace_id})" if r.workspace_id else "")
                    for r in c.roles
                    if r.tenant_id == ui.principal.tenant_id
                ],
            }
            for c in rows
        ]
    return ui.render(
        "clients.html",
        status=status,
        items=items,
        errors=errors,
        created=created,
        roles=[r.value for r in Role],
        can_manage=ui.can_tenant_wide("write"),
    )


@router.get("/{tenant}/clients", include_in_schema=False)
def client_list(ui: Ui = Depends(tenant_page)) -> Response:
    return _page(ui, [])


@router.post("/{tenant}/clients", include_in_schema=False)
def client_create(ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    require_tenant_write(ui.principal)
    try:
        role = parse_role(ui.field("role"))
    except ValueError as exc:
        return _page(ui, [f"role: {exc}"], status=400)
    held = {c for r in ui.principal.grants.get(None, frozenset()) for c in GRANTS[r]}
    if not GRANTS[role] <= held:
        raise Forbidden(f"user {ui.principal.client_id} cannot grant the {role.value} role")
    try:
        with ui.session() as s:
            created = tenants.create_client(
                s, tenant_code=ui.tenant, role=role.value, name=ui.field("name").strip() or None
            )
    except BadRequest as exc:
        return _page(ui, _forms.messages(exc), status=400)
    return _page(ui, [], created=created, status=201)


@router.post("/{tenant}/clients/{client_id}/revoke", include_in_schema=False)
def client_revoke(client_id: str, ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    require_tenant_write(ui.principal)
    try:
        with ui.session() as s:
            client = tenants.get_client(s, client_id)
            tenant_ids = {r.tenant_id for r in client.roles}
            if ui.principal.tenant_id not in tenant_ids:
                raise NotFound(f"API client {client_id!r} does not exist")
            if tenant_ids != {ui.principal.tenant_id}:
                raise Forbidden(
                    f"API client {client_id} also holds roles on other tenants; "
                    "revoke it with `cible clients revoke`"
                )
            tenants.revoke_client(s, client_id, now=ui.now)
    except (NotFound, Forbidden):
        raise
    except CibleError as exc:
        return _page(ui, _forms.messages(exc), status=exc.status)
    return ui.redirect(ui.url("/clients"))
