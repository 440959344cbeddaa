"""Durable delivery events, each stored once however often its sender retries.

A delivery call appends its events to the event log (``cible.events``, topic ``delivery``) in the
same group commit as the visitor's state; the ``delivery.events`` consumer
(``cible.delivery.consumers``) materialises them into the ``events`` table, where the key below
makes a replayed or re-sent event a no-op.

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

Events of a QA call (``qaMode``, ``cible.delivery.qa``) carry ``"qa": true`` and their keys start
with ``qa:``, so a QA event never takes the key of a real one; reports leave them out
(docs/qa-and-trace.md).

Event tokens are the served artifact's own, or decode with ``cible.artifacts.decode_event_token``
under one of the tenant's keys (``cible.tenants.event_keys``); a token that does neither (forged,
corrupted, another tenant's) or that names an experience absent from the served artifact rejects
its notification, alone, without failing the request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Table, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cible.artifacts import decode_event_token
from cible.delivery.tables import Event
from cible.events import Record

__all__ = ["TOPIC", "EventBatch", "decode_tokens", "store_events"]

MAX_KEY = 400  # events.event_key
TOPIC = "delivery"
_events: Table = Event.__table__  # type: ignore[assignment]
_INSERT = {
    "postgresql": pg_insert(_events).on_conflict_do_nothing(),
    "sqlite": sqlite_insert(_events).on_conflict_do_nothing(),
}


_DECODED: dict[tuple[str, bytes | None], tuple[int, int] | None] = {}
_DECODED_MAX = 8192  # tokens are few per artifact; a flood of made-up ones only clears this


def _decoded(token: str, secret: bytes | None) -> tuple[int, int] | None:
    key = (token, secret)
    if key in _DECODED:
        return _DECODED[key]
    ref = decode_event_token(token, secret=secret)
    pair = None if ref is None else (ref.activity_id, ref.experience_local_id)
    if len(_DECODED) >= _DECODED_MAX:
        _DECODED.clear()
    _DECODED[key] = pair
    return pair


def decode_tokens(
    tokens: Iterable[Any],
    known: frozenset[tuple[int, int]],
    secrets: Iterable[bytes | None] = (None,),
    published: Mapping[str, tuple[int, int]] | None = None,
) -> list[tuple[int, int]]:
    """The (activity, experience) pairs of the tokens that name a served experience.

    A token counts when it is one the served artifact publishes (``published``), or when it
    decodes with one of the tenant's ``secrets`` (keys a rotation retired still verify tokens of
    artifacts served before it, docs/security.md) to an experience the artifact serves
    (``known``). Decoded tokens are remembered (an HMAC per token per notification would cost
    more than the rest of recording it).
    """
    pairs: list[tuple[int, int]] = []
    for token in tokens:
        if not isinstance(token, str):
            continue
        pair = published.get(token) if published is not None else None
        if pair is None:
            for secret in secrets:
                pair = _decoded(token, secret)
                if pair is not None:
                    break
        if pair is not None and pair in known and pair not in pairs:
            pairs.append(pair)
    return pairs


@dataclass
class EventBatch:
    """The events of one delivery call, written together with ``store_events``."""

    tenant_id: int
    visitor: str
    session_id: str | None
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    qa: bool = False

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
        if self.qa:
            key = f"qa:{key}"
        if len(key) > MAX_KEY:
            # Long ids: a digest keeps the key unique and within the column.
            key = f"h:{hashlib.sha256(key.encode()).hexdigest()}"
        row = self.rows.setdefault(
            key,
            {
                "event_key": key,
                "kind": kind,
                "activity_id": activity,
                "experience_id": experience,
                "mbox": mbox[:250] if mbox else None,
                "visitor": self.visitor[:128],
                "session_id": self.session_id,
                "order_id": order_id,
                "revenue": revenue,
                "occurred_ms": int(at.timestamp() * 1000),
            },
        )
        if self.qa:
            row["qa"] = True

    def records(self) -> list[Record]:
        """The batch as event-log records (JSON payloads keyed by ``event_key``)."""
        return [
            Record(TOPIC, self.tenant_id, key, orjson.dumps(row)) for key, row in self.rows.items()
        ]

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


def _json_list(value: Any) -> str | None:
    return orjson.dumps(value).decode() if isinstance(value, list) and value else None


def store_events(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """Insert event rows, skipping keys already stored; the number of rows offered.

    Each row is an ``EventBatch`` row (its JSON payload in the log) plus ``tenant_id`` and
    ``created_ms``, the time the log accepted it.
    """
    if not rows:
        return 0
    values = [
        {
            **{k: v for k, v in row.items() if k not in ("occurred_ms", "created_ms")},
            "occurred_at": datetime.fromtimestamp(row["occurred_ms"] / 1000, UTC),
            "created_at": datetime.fromtimestamp(row["created_ms"] / 1000, UTC),
            "qa": row.get("qa") is True,
            # The reporting audiences qualified for (cible.delivery.reporting), as JSON text.
            "reporting_audiences": _json_list(row.get("reporting_audiences")),
        }
        for row in rows
    ]
    statement = _INSERT.get(conn.dialect.name, insert(_events))
    # One statement executed for many rows: compiled once and cached, unlike a multi-VALUES insert.
    conn.execute(statement, values)
    return len(values)
