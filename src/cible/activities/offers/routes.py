"""Offer routes (Adobe Admin API, section Offers): parse, call the service, render."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from cible.activities.offers import service
from cible.activities.offers.schemas import (
    ContentOfferIn,
    JsonOfferIn,
    RecsOfferIn,
    offer_json,
    offer_list_item,
)
from cible.web.admin import AdminCall, admin, admin_openapi

# Adobe's current spec serves offers as v2; v1 (the default when a client names no version)
# is served with the same shape so that plain ``application/json`` clients work.
VERSIONS = (1, 2)

router = APIRouter(prefix="/{tenant}/target", tags=["offers"])


@router.get("/offers", **admin_openapi(VERSIONS, summary="List offers"))
def list_offers(call: AdminCall = Depends(admin(VERSIONS))) -> Response:
    page = call.page(service.SORTABLE)
    with call.db.session() as session:
        offer_type = call.request.query_params.get("type")
        rows, total = service.list_offers(session, call.principal, page, offer_type)
        return call.render(page.envelope("offers", [offer_list_item(o) for o in rows], total))


def _register(kind: str, model: type[ContentOfferIn | JsonOfferIn | RecsOfferIn]) -> None:
    path = f"/offers/{kind}"

    @router.post(
        path, **admin_openapi(VERSIONS, body=model, status=201, summary=f"Create a {kind} offer")
    )
    def create(call: AdminCall = Depends(admin(VERSIONS, body=model))) -> Response:
        with call.db.session() as session:
            offer = service.create_offer(session, call.principal, kind, call.body, call.now)
            return call.render(offer_json(offer), status=201)

    @router.get(path + "/{offer_id}", **admin_openapi(VERSIONS, summary=f"Get a {kind} offer"))
    def read(offer_id: int, call: AdminCall = Depends(admin(VERSIONS))) -> Response:
        with call.db.session() as session:
            return call.render(
                offer_json(service.get_offer(session, call.principal, offer_id, kind))
            )

    @router.put(
        path + "/{offer_id}",
        **admin_openapi(VERSIONS, body=model, summary=f"Update a {kind} offer"),
    )
    def update(offer_id: int, call: AdminCall = Depends(admin(VERSIONS, body=model))) -> Response:
        with call.db.session() as session:
            offer = service.update_offer(
                session, call.principal, offer_id, kind, call.body, call.now
            )
            return call.render(offer_json(offer))

    @router.delete(
        path + "/{offer_id}", **admin_openapi(VERSIONS, summary=f"Delete a {kind} offer")
    )
    def delete(offer_id: int, call: AdminCall = Depends(admin(VERSIONS))) -> Response:
        with call.db.session() as session:
            offer = service.delete_offer(session, call.principal, offer_id, kind)
            return call.render(offer_json(offer))

    for fn in (create, read, update, delete):
        fn.__name__ = f"{fn.__name__}_{kind}_offer"


_register("content", ContentOfferIn)
_register("json", JsonOfferIn)
_register("recs", RecsOfferIn)
