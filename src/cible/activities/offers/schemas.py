"""Wire shapes of offers (Adobe Admin API ``ContentOffer``, ``JsonOffer``, ``OfferList``).

Bodies are closed (unknown fields are a 400), but the read-only fields a client gets back
(``id``, ``type``, ``modifiedAt``) may be echoed in a PUT, as clients that GET-modify-PUT do.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from cible.activities.offers.tables import Offer
from cible.isotime import iso_millis


class _OfferBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: int | None = None
    name: StrictStr = Field(min_length=1, max_length=250)
    workspace: StrictStr | None = Field(default=None, max_length=250)
    modified_at: StrictStr | None = Field(default=None, alias="modifiedAt")
    type: StrictStr | None = None


class ContentOfferIn(_OfferBody):
    content: StrictStr = Field(max_length=262_144)


class JsonOfferIn(_OfferBody):
    content: dict[str, Any] | list[Any]


def offer_json(offer: Offer) -> dict[str, Any]:
    content: Any = orjson.loads(offer.content) if offer.type == "json" else offer.content
    return {
        "id": offer.id,
        "name": offer.name,
        "type": offer.type,
        "content": content,
        "workspace": str(offer.workspace_id),
        "modifiedAt": iso_millis(offer.modified_at),
    }


def offer_list_item(offer: Offer) -> dict[str, Any]:
    return {
        "id": offer.id,
        "name": offer.name,
        "type": offer.type,
        "modifiedAt": iso_millis(offer.modified_at),
        "workspace": str(offer.workspace_id),
    }
