"""Wire shapes of workspaces (Cible addition; ids are strings like Adobe's ``workspace`` fields)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from cible.activities.workspaces.tables import Workspace
from cible.isotime import iso_millis


class WorkspaceIn(BaseModel):
    """POST and PUT body; read-only ``id``, ``default`` and ``createdAt`` may be echoed."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: StrictStr | None = None
    name: StrictStr = Field(min_length=1, max_length=250)
    default: StrictBool | None = None
    created_at: StrictStr | None = Field(default=None, alias="createdAt")


def workspace_json(ws: Workspace) -> dict[str, Any]:
    return {
        "id": str(ws.id),
        "name": ws.name,
        "default": ws.is_default,
        "createdAt": iso_millis(ws.created_at),
    }
