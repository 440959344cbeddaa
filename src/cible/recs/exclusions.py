"""Global exclusions: items never recommended, by any activity, in any environment, backups
included (Adobe Recommendations API, "Exclusions"; Adobe Target, "Exclusions"). An exclusion
is one rule ``{attribute: {operator: values}}`` (``cible.recs.matchers``); an item it matches
is left out at delivery."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from cible.isotime import iso_millis
from cible.recs import _named
from cible.recs.merchandising_schemas import ExclusionIn
from cible.recs.merchandising_tables import RecsExclusion

__all__ = ["EXCLUSIONS", "exclusion_rules"]


def _apply(_session: Session, row: RecsExclusion, body: ExclusionIn) -> None:
    row.description = body.description
    row.rule = orjson.dumps(body.rule).decode()


def _show(row: RecsExclusion, full: bool) -> dict[str, Any]:
    shown: dict[str, Any] = {"id": row.id, "name": row.name, "description": row.description}
    shown["rule"] = orjson.loads(row.rule)
    shown["lastModified"] = iso_millis(row.modified_at)
    return shown


EXCLUSIONS = _named.Kind("exclusion", RecsExclusion, _apply, _show)


def exclusion_rules(session: Session, tenant_id: int) -> list[dict[str, Any]]:
    """Every global exclusion rule of the tenant."""
    rows = session.scalars(select(RecsExclusion.rule).where(RecsExclusion.tenant_id == tenant_id))
    return [orjson.loads(rule) for rule in rows]
