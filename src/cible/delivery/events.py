"""Durable delivery events, each stored once however often its sender retries.

Kinds and their keys (``events.event_key``, unique per tenant; docs/delivery.md):

- ``impression``: an executed decision (execute mbox or pageLoad) —
  ``imp:<impressionId>:<activity>:<experience>`` when the request carries an ``impressionId``
  (Adobe: a repeated impression id is not a new impression), else
  ``exe:<requestId>:<mbox>:<activity>:<experience>``;
- ``display``: a display notification — ``imp:<impressionId>:…`` as above when it has one, else
  ``ntf:<notification id>:<activity>:<experience>``;
- ``click``: a click notification — ``clk:<notification id>:<activity>:<experience>``;
- ``conversion``: an mbox reached (executed or displayed) by a visitor already in an activity
  that does not show content there — ``cnv:<visitor>:<activity>:<mbox>:<impression/request id>``;
  reports keep the ones that match an activity's conversion metric;
- ``order``: an ``order`` with an ``id`` seen while the visitor is in an activity —
  ``ord:<activity>:<order id>``, so one order's revenue counts once per activity.

Event tokens are decoded with ``cible.artifacts.decode_event_token``; a token that does not
decode (forged, corrupted, from elsewhere) or that names an experience absent from the served
artifact rejects its notification, alone, without failing the request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from cible.artifacts import decode_event_token
from cible.delivery.tables import Event

__all__ = ["EventBatch", "decode_tokens", "store_events"]

MAX_KEY = 400  # events.event_key


def decode_tokens(
    tokens: Iterable[Any], known: frozenset[tuple[int, int]], secret: bytes | None = None
) -> list[tuple[int, int]]:
    """The (activity, experience) pairs of the tokens that decode to a served experience."""
    pairs: list[tuple[int, int]] = []
    for token in tokens:
        if not isinstance(token, str):
            continue
        ref = decode_event_token(token, secret=secret)
        if ref is None:
            continue
        pair = (ref.activity_id, ref.experience_local_id)
        if pair in known and pair not in pairs:
            pairs.append(pair)
    return pairs


@dataclass
class EventBatch:
    """The events of one delivery call, written together with ``store_events``."""

    tenant_id: int
    visitor: str
    session_id: str | None
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(
        self,
        key: str,
        kind: str,
        at: datetime,
        *,
        activity: int | None = None,
        experience: int | None = None,
        mbox: str | None = None,
        order_id: str | None = None,
        revenue: float | None = None,
    ) -> None:
        if len(key) > MAX_KEY:
            # Long ids: a digest keeps the key unique and within the column.
            key = f"h:{hashlib.sha256(key.encode()).hexdigest()}"
        self.rows.setdefault(
            key,
            {
                "tenant_id": self.tenant_id,
                "event_key": key,
                "kind": kind,
                "activity_id": activity,
                "experience_id": experience,
                "mbox": mbox[:250] if mbox else None,
                "visitor": self.visitor[:128],
                "session_id": self.session_id,
                "order_id": order_id,
                "revenue": revenue,
                "occurred_at": at,
                "created_at": datetime.now(UTC),
            },
        )

    def add_order(
        self, order: Any, activities: Mapping[int, int], at: datetime, mbox: str | None
    ) -> None:
        if not isinstance(order, Mapping) or not isinstance(order.get("id"), str):
            return
        total = order.get("total")
        revenue = float(total) if isinstance(total, int | float) else None
        for activity, experience in activities.items():
            self.add(
                f"ord:{activity}:{order['id']}",
                "order",
                at,
                activity=activity,
                experience=experience,
                mbox=mbox,
                order_id=order["id"],
                revenue=revenue,
            )


def store_events(session: Session, batch: EventBatch) -> int:
    """Insert the batch's events, skipping keys already stored; the number of rows offered."""
    rows = list(batch.rows.values())
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    # One statement executed for many rows: compiled once and cached, unlike a multi-VALUES insert.
    if dialect == "postgresql":
        session.execute(pg_insert(Event).on_conflict_do_nothing(), rows)
    elif dialect == "sqlite":
        session.execute(sqlite_insert(Event).on_conflict_do_nothing(), rows)
    else:  # pragma: no cover - Cible supports SQLite and PostgreSQL only
        session.execute(insert(Event), rows)
    return len(rows)
