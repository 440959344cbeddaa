"""How activities render on the wire: ``ABActivity``, ``ActivityDescription``, list items.

Kept apart from the service so that publishing and the artifact job can render an activity
without importing the service (which imports them).
"""

from __future__ import annotations

from typing import Any

import orjson

from cible.activities.abxt.tables import Activity
from cible.isotime import iso_millis


def definition(activity: Activity) -> dict[str, Any]:
    value: dict[str, Any] = orjson.loads(activity.definition)
    return value


def description(activity: Activity) -> dict[str, Any]:
    """Adobe's ``ActivityDescription``: the scalar fields, as sub-resources answer."""
    out: dict[str, Any] = {"id": activity.id}
    if activity.third_party_id is not None:
        out["thirdPartyId"] = activity.third_party_id
    out["name"] = activity.name
    out["state"] = activity.state
    if activity.starts_at is not None:
        out["startsAt"] = iso_millis(activity.starts_at)
    if activity.ends_at is not None:
        out["endsAt"] = iso_millis(activity.ends_at)
    out["priority"] = activity.priority
    out["createdAt"] = iso_millis(activity.created_at)
    out["modifiedAt"] = iso_millis(activity.modified_at)
    return out


def list_item(activity: Activity) -> dict[str, Any]:
    """Adobe's ``ActivityListDescription``."""
    out = description(activity)
    out["type"] = activity.type
    out["workspace"] = str(activity.workspace_id)
    out["propertyIds"] = definition(activity).get("propertyIds", [])
    out["modifiedByName"] = activity.modified_by
    return out


def activity_json(activity: Activity) -> dict[str, Any]:
    """The v3 ``ABActivity`` with its read-only fields."""
    out = description(activity)
    out["type"] = activity.type
    out["workspace"] = str(activity.workspace_id)
    out.update(definition(activity))
    out["modifiedByName"] = activity.modified_by
    return out


def snapshot(activity: Activity) -> dict[str, Any]:
    """What the changelog compares: every client-visible field but the read-only ones."""
    out = {k: v for k, v in description(activity).items() if k not in READ_ONLY}
    out["workspace"] = str(activity.workspace_id)
    out.update(definition(activity))
    return out


READ_ONLY = ("id", "createdAt", "modifiedAt")
