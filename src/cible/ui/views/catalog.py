"""Mboxes seen by delivery, environments and properties: read-only lists over their services."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from cible.activities.environments import service as environments
from cible.activities.mboxes import service as mboxes
from cible.activities.properties import service as properties
from cible.ui._context import Ui, tenant_page
from cible.web.paging import Page

router = APIRouter()

BY_NAME = Page(offset=0, limit=1000, sort=(("name", False),))
BY_ID = Page(offset=0, limit=1000, sort=(("id", False),))


@router.get("/{tenant}/mboxes", include_in_schema=False)
def mbox_list(ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    with ui.session() as s:
        rows, total = mboxes.list_mboxes(s, ui.principal.tenant_id, BY_NAME)
        items = [
            {"mbox": m, "status": mboxes.status(m), "parameters": mboxes.parameter_names(m)}
            for m in rows
        ]
    return ui.render("catalog/mboxes.html", items=items, total=total)


@router.get("/{tenant}/environments", include_in_schema=False)
def environment_list(ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    with ui.session() as s:
        rows = environments.list_environments(s, ui.principal.tenant_id)
    return ui.render("catalog/environments.html", environments=rows)


@router.get("/{tenant}/properties", include_in_schema=False)
def property_list(ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    with ui.session() as s:
        rows, total = properties.list_properties(s, ui.principal, BY_ID, {})
        items = [
            {"property": p, "workspaces": [link.workspace_id for link in p.links]} for p in rows
        ]
    return ui.render("catalog/properties.html", items=items, total=total)
