"""Wire shapes of properties (Adobe Admin API ``Property``, ``PropertyList``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from cible.activities.properties.tables import Property
from cible.isotime import iso_millis

Channel = Literal["web", "mobile", "email", "other"]


class PropertyIn(BaseModel):
    """POST and PUT body; ``token``, ``id`` and the timestamps are read-only but may be echoed."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: int | None = None
    name: StrictStr = Field(min_length=1, max_length=250)
    description: StrictStr = Field(default="", max_length=2000)
    channel: Channel
    workspaces: list[StrictStr] | None = Field(default=None, max_length=100)
    token: StrictStr | None = None
    created_at: StrictStr | None = Field(default=None, alias="createdAt")
    modified_at: StrictStr | None = Field(default=None, alias="modifiedAt")


def property_json(prop: Property) -> dict[str, Any]:
    return {
        "id": prop.id,
        "name": prop.name,
        "description": prop.description,
        "channel": prop.channel,
        "token": prop.token,
        "workspaces": [str(ws) for ws in prop.workspace_ids],
        "createdAt": iso_millis(prop.created_at),
        "modifiedAt": iso_millis(prop.modified_at),
    }
