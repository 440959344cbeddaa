"""Audience manager pages: traits and segments, read through ``cible.dmp.service``."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from cible.dmp import service
from cible.ui._context import Ui, tenant_page

router = APIRouter()

ALL = service.ListQuery(page=0, page_size=1000, filters={})


@router.get("/{tenant}/traits", include_in_schema=False)
def trait_list(ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    with ui.session() as s:
        rows, total = service.list_traits(s, ui.principal, ALL)
    return ui.render("audience_manager/traits.html", traits=rows, total=total)


@router.get("/{tenant}/segments", include_in_schema=False)
def segment_list(ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    with ui.session() as s:
        rows, total = service.list_segments(s, ui.principal, ALL)
    return ui.render("audience_manager/segments.html", segments=rows, total=total)
