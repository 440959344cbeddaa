"""Wire shapes of environments (Adobe Admin API ``Environment``, ``EnvironmentList``,
``EnvironmentDefaults``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from cible.activities.environments.tables import Environment
from cible.isotime import iso_millis

# The name becomes a path segment of /{client}/{environment}/v1/rules.json (lower-cased).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"


class EnvironmentIn(BaseModel):
    """POST and PUT body; ``id`` and ``lastModified`` are read-only but may be echoed."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: int | None = None
    name: StrictStr = Field(min_length=1, max_length=64, pattern=NAME_PATTERN)
    default: StrictBool | None = None
    serve_inactive_activities: StrictBool | None = Field(
        default=None, alias="serveInactiveActivities"
    )
    last_modified: StrictStr | None = Field(default=None, alias="lastModified")


class DefaultsIn(BaseModel):
    """PUT ``/environments/defaults`` (Adobe ``EnvironmentDefaults``); a field left out stays."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    reporting_environment_id: int | None = Field(default=None, alias="reportingEnvironmentId")
    new_host_environment_id: int | None = Field(default=None, alias="newHostEnvironmentId")


def environment_json(env: Environment) -> dict[str, Any]:
    return {
        "id": env.id,
        "name": env.name,
        "default": env.is_default,
        "serveInactiveActivities": env.serve_inactive_activities,
        "lastModified": iso_millis(env.modified_at),
    }
