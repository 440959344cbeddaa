"""Wire shapes of the catalog, criteria and feeds bodies (Adobe Recommendations API).

Only the envelope of a body is a pydantic model: each entity of ``POST /entities`` is checked on
its own (``cible.recs.entities``), because Adobe rejects bad entities one by one and saves the
rest, counting the causes, rather than refusing the whole call.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EntitiesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entities: list[Any] = Field(min_length=1)


class CatalogSearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    meta: dict[str, Any]
    query: dict[str, Any] | None = None
