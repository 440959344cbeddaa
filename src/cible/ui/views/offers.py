"""Offers: list, create and edit HTML offers (with a sandboxed preview) and JSON offers.

Every write goes through ``cible.activities.offers.service`` with the body the Admin API takes.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends
from starlette.responses import HTMLResponse, Response

from cible.activities.offers import service
from cible.activities.offers.schemas import ContentOfferIn, JsonOfferIn
from cible.activities.offers.tables import Offer
from cible.activities.workspaces import service as workspaces
from cible.errors import BadRequest, CibleError, Conflict
from cible.ui import _forms
from cible.ui._context import Ui, tenant_page

router = APIRouter()

# The offer preview is its own document, framed only by the UI, with scripts off: an offer's
# HTML is shown as written without running anything (HTML Living Standard, "sandbox").
PREVIEW_CSP = (
    "sandbox; default-src 'none'; img-src * data:; style-src 'unsafe-inline' *; "
    "font-src * data:; frame-ancestors 'self'"
)


def _workspaces(ui: Ui) -> list[Any]:
    with ui.session() as s:
        assert ui.principal is not None
        rows, _ = workspaces.list_workspaces(s, ui.principal, _forms.ALL)
        return [(w.id, w.name) for w in rows if ui.can("write", w.id)]


def _form_data(offer: Offer | None, kind: str) -> dict[str, Any]:
    if offer is None:
        return {"name": "", "content": "" if kind == "content" else "{\n}", "workspace": ""}
    content = offer.content
    if kind == "json":
        content = _forms.pretty(orjson.loads(content))
    return {"name": offer.name, "content": content, "workspace": str(offer.workspace_id)}


def _body(ui: Ui, kind: str) -> ContentOfferIn | JsonOfferIn:
    data: dict[str, Any] = {"name": ui.field("name").strip()}
    if ui.field("workspace"):
        data["workspace"] = ui.field("workspace")
    text = ui.field("content")
    if kind == "json":
        data["content"] = _forms.json_field("content", text)
        return _forms.body(JsonOfferIn, data)
    data["content"] = text
    return _forms.body(ContentOfferIn, data)


@router.get("/{tenant}/offers", include_in_schema=False)
def offer_list(ui: Ui = Depends(tenant_page)) -> Response:
    with ui.session() as s:
        assert ui.principal is not None
        rows, total = service.list_offers(s, ui.principal, _forms.ALL, None)
    return ui.render("offers/list.html", offers=rows, total=total)


@router.get("/{tenant}/offers/new", include_in_schema=False)
def offer_new(ui: Ui = Depends(tenant_page)) -> Response:
    kind = "json" if ui.request.query_params.get("type") == "json" else "content"
    return ui.render(
        "offers/form.html",
        offer=None,
        kind=kind,
        data=_form_data(None, kind),
        workspaces=_workspaces(ui),
        errors=[],
    )


@router.post("/{tenant}/offers", include_in_schema=False)
def offer_create(ui: Ui = Depends(tenant_page)) -> Response:
    kind = "json" if ui.field("type") == "json" else "content"
    assert ui.principal is not None
    try:
        body = _body(ui, kind)
        with ui.session() as s:
            offer = service.create_offer(s, ui.principal, kind, body, ui.now)
            offer_id = offer.id
    except (BadRequest, Conflict) as exc:
        data = {k: ui.field(k) for k in ("name", "content", "workspace")}
        return ui.render(
            "offers/form.html",
            status=exc.status,
            offer=None,
            kind=kind,
            data=data,
            workspaces=_workspaces(ui),
            errors=_forms.messages(exc),
        )
    return ui.redirect(ui.url(f"/offers/{offer_id}"))


@router.get("/{tenant}/offers/{offer_id}", include_in_schema=False)
def offer_edit(offer_id: int, ui: Ui = Depends(tenant_page)) -> Response:
    with ui.session() as s:
        assert ui.principal is not None
        offer = service.get_offer(s, ui.principal, offer_id)
    return ui.render(
        "offers/form.html",
        offer=offer,
        kind=offer.type,
        data=_form_data(offer, offer.type),
        workspaces=_workspaces(ui),
        errors=[],
    )


@router.post("/{tenant}/offers/{offer_id}", include_in_schema=False)
def offer_update(offer_id: int, ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    with ui.session() as s:
        offer = service.get_offer(s, ui.principal, offer_id)
    try:
        body = _body(ui, offer.type)
        with ui.session() as s:
            service.update_offer(s, ui.principal, offer_id, offer.type, body, ui.now)
    except (BadRequest, Conflict) as exc:
        data = {k: ui.field(k) for k in ("name", "content", "workspace")}
        return ui.render(
            "offers/form.html",
            status=exc.status,
            offer=offer,
            kind=offer.type,
            data=data,
            workspaces=_workspaces(ui),
            errors=_forms.messages(exc),
        )
    return ui.redirect(ui.url(f"/offers/{offer_id}"))


@router.post("/{tenant}/offers/{offer_id}/delete", include_in_schema=False)
def offer_delete(offer_id: int, ui: Ui = Depends(tenant_page)) -> Response:
    assert ui.principal is not None
    try:
        with ui.session() as s:
            offer = service.get_offer(s, ui.principal, offer_id)
            service.delete_offer(s, ui.principal, offer_id, offer.type)
    except Conflict as exc:
        with ui.session() as s:
            offer = service.get_offer(s, ui.principal, offer_id)
        return ui.render(
            "offers/form.html",
            status=409,
            offer=offer,
            kind=offer.type,
            data=_form_data(offer, offer.type),
            workspaces=_workspaces(ui),
            errors=_forms.messages(exc),
        )
    return ui.redirect(ui.url("/offers"))


@router.get("/{tenant}/offers/{offer_id}/frame", include_in_schema=False)
def offer_frame(offer_id: int, ui: Ui = Depends(tenant_page)) -> Response:
    """An HTML offer's content as its own sandboxed document, for the preview iframe."""
    try:
        with ui.session() as s:
            assert ui.principal is not None
            offer = service.get_offer(s, ui.principal, offer_id, "content")
    except CibleError as exc:
        return HTMLResponse(
            "", status_code=exc.status, headers={"content-security-policy": PREVIEW_CSP}
        )
    return HTMLResponse(
        offer.content,
        headers={"content-security-policy": PREVIEW_CSP, "x-frame-options": "SAMEORIGIN"},
    )
