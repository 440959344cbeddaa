"""Wire shapes of audiences (Adobe Admin API ``Audience``, ``AudienceList``, ``AudiencePatch``).

Bodies are closed (unknown fields are a 400) but accept the read-only fields a client got back
(``id``, ``origin``, ``type``, ``status``, ``createdAt``, ``modifiedAt``), so GET-modify-PUT works.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from cible.activities.audiences.tables import Audience
from cible.isotime import iso_millis

ORIGIN = "target"
"""``origin`` of audiences made through this API; the audience manager's segments are ``cloud``."""
TYPE = "reusable"


class _ReadOnly(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: int | None = None
    origin: StrictStr | None = None
    type: StrictStr | None = None
    status: StrictStr | None = None
    created_at: StrictStr | None = Field(default=None, alias="createdAt")
    modified_at: StrictStr | None = Field(default=None, alias="modifiedAt")
    # Adobe's combined audiences; Cible answers 400 (docs/catalog.md).
    audience_rule: Any = Field(default=None, alias="audienceRule")


class AudienceIn(_ReadOnly):
    """POST and PUT body: the whole audience."""

    name: StrictStr = Field(min_length=1, max_length=250)
    description: StrictStr = Field(default="", max_length=2000)
    target_rule: dict[str, Any] = Field(alias="targetRule")
    workspace: StrictStr | None = Field(default=None, max_length=250)


class AudiencePatch(_ReadOnly):
    """PATCH body: any of ``name``, ``description``, ``targetRule``, ``workspace``."""

    name: StrictStr | None = Field(default=None, min_length=1, max_length=250)
    description: StrictStr | None = Field(default=None, max_length=2000)
    target_rule: dict[str, Any] | None = Field(default=None, alias="targetRule")
    workspace: StrictStr | None = Field(default=None, max_length=250)


def audience_json(audience: Audience) -> dict[str, Any]:
    return {
        "id": audience.id,
        "name": audience.name,
        "description": audience.description,
        "origin": audience.origin,
        "type": TYPE,
        "status": "deleted" if audience.deleted_at is not None else "saved",
        "targetRule": orjson.loads(audience.target_rule),
        "workspace": str(audience.workspace_id),
        "createdAt": iso_millis(audience.created_at),
        "modifiedAt": iso_millis(audience.modified_at),
    }


def audience_list_item(audience: Audience) -> dict[str, Any]:
    return {
        "id": audience.id,
        "name": audience.name,
        "description": audience.description,
        "origin": audience.origin,
        "type": TYPE,
        "modifiedAt": iso_millis(audience.modified_at),
        "workspace": str(audience.workspace_id),
    }
