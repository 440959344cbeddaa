"""A visitor's recommendations behaviour in ``cible privacy export|delete`` (docs/security.md,
"Privacy"): his views and purchases and the keys folded from them.

Registered with ``cible.privacy``'s handler registry, the extension point every kind of visitor
data uses; ``cible.privacy.service`` imports this module so the handler is always present.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cible.privacy.service import Handler, Visitor, register
from cible.recs.tables import RecsBehaviour, RecsModel, RecsVisitor

__all__ = ["RECS_BEHAVIOUR"]


def _export(session: Session, visitor: Visitor) -> dict[str, Any]:
    names = sorted(visitor.values)
    events = session.scalars(
        select(RecsBehaviour)
        .where(RecsBehaviour.tenant_id == visitor.tenant_id, RecsBehaviour.visitor.in_(names))
        .order_by(RecsBehaviour.id)
    )
    keys = session.scalars(
        select(RecsVisitor).where(
            RecsVisitor.tenant_id == visitor.tenant_id, RecsVisitor.visitor.in_(names)
        )
    )
    return {
        "events": [
            {
                "kind": e.kind,
                "entityId": e.entity_id,
                "sessionId": e.session_id,
                "occurredMs": e.occurred_ms,
            }
            for e in events
        ],
        "keys": [
            {
                "lastViewed": k.last_viewed,
                "lastPurchased": k.last_purchased,
                **orjson.loads(k.state),
            }
            for k in keys
        ],
    }


def _delete(session: Session, visitor: Visitor) -> int:
    names = sorted(visitor.values)
    removed = 0
    for table in (RecsBehaviour, RecsVisitor):
        result = session.execute(
            delete(table).where(table.tenant_id == visitor.tenant_id, table.visitor.in_(names))
        )
        removed += int(getattr(result, "rowcount", 0) or 0)
    if removed:
        # Stored co-occurrence counts include the deleted behaviour: the next training of each
        # item-based criteria starts over from what remains (cible.recs.training).
        session.execute(delete(RecsModel).where(RecsModel.tenant_id == visitor.tenant_id))
    return removed


RECS_BEHAVIOUR = Handler("recommendations", _export, _delete)
register(RECS_BEHAVIOUR)
