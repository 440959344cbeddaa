"""Wire shapes of offers (Adobe Admin API ``ContentOffer``, ``JsonOffer``, ``RecsOffer``,
``OfferList``).

Bodies are closed (unknown fields are a 400), but the read-only fields a client gets back
(``id``, ``type``, ``modifiedAt``) may be echoed in a PUT, as clients that GET-modify-PUT do.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

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


class PromotionSlot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: StrictInt
    configuration: dict[str, StrictInt] = Field(default_factory=dict)

    @field_validator("configuration")
    @classmethod
    def _max_slots(cls, value: dict[str, int]) -> dict[str, int]:
        # Adobe, "Add promotions": a front or back promotion takes up to 20 slots.
        if set(value) - {"maxSlots"} or not 1 <= value.get("maxSlots", 1) <= 20:
            raise ValueError("configuration is {maxSlots: 1..20}")
        return value


class RecsPromotions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    front: list[PromotionSlot] = Field(default_factory=list, max_length=20)
    back: list[PromotionSlot] = Field(default_factory=list, max_length=20)
    internal: list[PromotionSlot] = Field(default_factory=list, max_length=20)


class RecsOfferIn(_OfferBody):
    """A recommendations offer: a criteria and a design, optionally a collection and
    promotions (Adobe Admin API ``/offers/recs``)."""

    criteria_id: StrictInt = Field(alias="criteriaId")
    design_id: StrictInt = Field(alias="designId")
    collection_id: StrictInt | None = Field(default=None, alias="collectionId")
    promotions: RecsPromotions | None = None

    def config(self) -> dict[str, Any]:
        """What the offer stores and the artifact carries."""
        return self.model_dump(
            by_alias=True,
            exclude_none=True,
            include={"criteria_id", "design_id", "collection_id", "promotions"},
        )


def offer_json(offer: Offer) -> dict[str, Any]:
    if offer.type == "recs":
        return {
            "id": offer.id,
            "name": offer.name,
            "type": offer.type,
            **orjson.loads(offer.content),
            "workspace": str(offer.workspace_id),
            "modifiedAt": iso_millis(offer.modified_at),
        }
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
