"""Offers: create, read, list, update and delete, scoped to a tenant and its workspaces."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from cible.activities.offers.schemas import ContentOfferIn, JsonOfferIn, RecsOfferIn
from cible.activities.offers.tables import Offer
from cible.errors import BadRequest, Conflict, NotFound
from cible.recs.offer_links import check_links
from cible.store.paging import Page, fetch_page
from cible.tenants.principal import Principal
from cible.tenants.roles import Capability
from cible.tenants.service import workspace_for

OFFER_TYPES = ("content", "json", "recs")
OfferIn = ContentOfferIn | JsonOfferIn | RecsOfferIn
SORTABLE: dict[str, Any] = {
    "id": Offer.id,
    "name": Offer.name,
    "modifiedAt": Offer.modified_at,
    "type": Offer.type,
    "workspace": Offer.workspace_id,
}

# Checks run before an offer is deleted; each raises ``Conflict`` when the offer is in use.
# Domains that reference offers (activities) register theirs here.
DELETE_GUARDS: list[Callable[[Session, Offer], None]] = []
# Called after an offer was updated or deleted, in the same transaction (publishing).
ON_CHANGE: list[Callable[[Session, Offer], None]] = []


def _content(session: Session, tenant_id: int, offer_type: str, body: OfferIn) -> str:
    if isinstance(body, RecsOfferIn):
        config = body.config()
        check_links(session, tenant_id, config)
        return orjson.dumps(config).decode()
    if offer_type == "json":
        return orjson.dumps(body.content).decode()
    assert isinstance(body.content, str)
    return body.content


def _check_name_free(
    session: Session, tenant_id: int, ws_id: int, name: str, own: int | None
) -> None:
    query = select(Offer.id).where(
        Offer.tenant_id == tenant_id, Offer.workspace_id == ws_id, Offer.name == name
    )
    existing = session.scalar(query)
    if existing is not None and existing != own:
        raise Conflict(f"an offer named {name!r} already exists in this workspace (id {existing})")


def create_offer(
    session: Session,
    principal: Principal,
    offer_type: str,
    body: OfferIn,
    now: datetime,
) -> Offer:
    ws_id = workspace_for(session, principal, body.workspace, Capability.WRITE)
    _check_name_free(session, principal.tenant_id, ws_id, body.name, None)
    offer = Offer(
        tenant_id=principal.tenant_id,
        workspace_id=ws_id,
        type=offer_type,
        name=body.name,
        content=_content(session, principal.tenant_id, offer_type, body),
        created_at=now,
        modified_at=now,
        modified_by=principal.client_id,
    )
    session.add(offer)
    session.flush()
    return offer


def get_offer(
    session: Session,
    principal: Principal,
    offer_id: int,
    offer_type: str | None = None,
    capability: Capability = Capability.READ,
) -> Offer:
    """The offer, or 404 when it is another tenant's, of another type, or in a workspace the
    client cannot see (not 403, so ids of hidden offers are not revealed)."""
    offer = session.get(Offer, offer_id)
    hidden = (
        offer is None
        or offer.tenant_id != principal.tenant_id
        or (offer_type is not None and offer.type != offer_type)
        or not principal.can(Capability.READ, offer.workspace_id)
    )
    if hidden or offer is None:
        kind = f"{offer_type} offer" if offer_type else "offer"
        raise NotFound(f"{kind} {offer_id} does not exist")
    principal.require(capability, offer.workspace_id)
    return offer


def update_offer(
    session: Session,
    principal: Principal,
    offer_id: int,
    offer_type: str,
    body: OfferIn,
    now: datetime,
) -> Offer:
    if body.id is not None and body.id != offer_id:
        raise BadRequest.fields([("id", f"does not match the offer id {offer_id} in the path")])
    offer = get_offer(session, principal, offer_id, offer_type, Capability.WRITE)
    ws_id = offer.workspace_id
    if body.workspace is not None:
        ws_id = workspace_for(session, principal, body.workspace, Capability.WRITE)
    _check_name_free(session, principal.tenant_id, ws_id, body.name, offer.id)
    offer.workspace_id = ws_id
    offer.name = body.name
    offer.content = _content(session, principal.tenant_id, offer_type, body)
    offer.modified_at = now
    offer.modified_by = principal.client_id
    session.flush()
    for hook in ON_CHANGE:
        hook(session, offer)
    return offer


def delete_offer(session: Session, principal: Principal, offer_id: int, offer_type: str) -> Offer:
    offer = get_offer(session, principal, offer_id, offer_type, Capability.WRITE)
    for guard in DELETE_GUARDS:
        guard(session, offer)
    session.delete(offer)
    session.flush()
    for hook in ON_CHANGE:
        hook(session, offer)
    return offer


def list_offers(
    session: Session, principal: Principal, page: Page, offer_type: str | None
) -> tuple[list[Offer], int]:
    if offer_type is not None and offer_type not in OFFER_TYPES:
        raise BadRequest.fields([("type", f"must be one of {', '.join(OFFER_TYPES)}")])
    where: list[ColumnElement[bool]] = [Offer.tenant_id == principal.tenant_id]
    if offer_type is not None:
        where.append(Offer.type == offer_type)
    readable = principal.readable_workspaces()
    if readable is not None:
        where.append(Offer.workspace_id.in_(readable))
    order = [SORTABLE[f].desc() if desc else SORTABLE[f].asc() for f, desc in page.sort]
    return fetch_page(session, select(Offer).where(*where), page, [*order, Offer.id])
