"""How delivery events become report rows: the one definition of visitors, visits and metrics.

The consumer (``cible.reports.consumers``) runs it on each batch of the event log; the DuckDB
backfill (``cible.reports.backfill``) computes the same numbers in SQL, and a test holds the two
to equal counts. Definitions (docs/reports.md, "Counting"):

- a visitor enters an activity with its first event there that names an experience, and stays in
  that experience (assignment is sticky);
- a visit starts with the visitor's first event and whenever the event's session id differs from
  the last one seen (events without a session continue the current visit);
- impressions are ``impression`` and ``display`` events;
- a metric is ``mbox:<name>`` (a ``conversion`` event at that mbox), ``click:<mbox>`` (a click
  notification) or ``order`` (an order, with its revenue). A visitor counts once per metric for
  the ``visitor`` method, once per visit for ``visit``, and each event for ``impression``;
- QA traffic (``"qa": true`` in the payload) is left out, and so are ``rejected`` events
  (notifications of an experience the visitor was not given), which reports count apart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

__all__ = [
    "DAILY_COLUMNS",
    "DAY_MS",
    "ENTRY",
    "ORDER",
    "REJECTED",
    "VISITOR_COLUMNS",
    "DailyKey",
    "DailyTotals",
    "Event",
    "VisitorState",
    "apply_event",
    "daily_rows",
    "key_hash",
    "metric_of",
    "parse_event",
]

DAY_MS = 86_400_000
ENTRY = "entry"
ORDER = "order"
IMPRESSION_KINDS = frozenset({"impression", "display"})
REJECTED = "rejected"  # a notification the delivery API did not count: reported apart


class Event(msgspec.Struct, gc=False):
    """One countable delivery event (a Struct: built once per event, it must be cheap)."""

    tenant_id: int
    key: str
    kind: str
    activity_id: int
    experience_id: int | None
    mbox: str | None
    visitor: str
    session_id: str | None
    order_id: str | None
    revenue: float | None
    occurred_ms: int
    environment_id: int


class _Payload(msgspec.Struct, gc=False):
    """The fields of a ``delivery`` payload that reports read (others are skipped)."""

    kind: str | None = None
    activity_id: int | None = None
    visitor: str | None = None
    event_key: str | None = None
    experience_id: int | None = None
    mbox: str | None = None
    session_id: str | None = None
    order_id: str | None = None
    revenue: float | None = None
    occurred_ms: int | None = None
    environment_id: int | None = None
    qa: bool | None = None


_DECODE = msgspec.json.Decoder(_Payload).decode


def parse_event(tenant_id: int, key: str, payload: bytes) -> Event | None:
    """The report's view of one ``delivery`` record; None when it does not count."""
    try:
        p = _DECODE(payload)
    except msgspec.MsgspecError:
        return _parse_loosely(tenant_id, key, payload)
    if p.qa or p.activity_id is None or p.visitor is None or p.kind in (None, REJECTED):
        return None
    return Event(
        tenant_id=tenant_id,
        key=p.event_key or key,
        kind=p.kind,
        activity_id=p.activity_id,
        experience_id=p.experience_id,
        mbox=p.mbox or None,
        visitor=p.visitor[:128],
        session_id=p.session_id or None,
        order_id=p.order_id or None,
        revenue=p.revenue,
        occurred_ms=p.occurred_ms or 0,
        environment_id=p.environment_id or 0,
    )


def _parse_loosely(tenant_id: int, key: str, payload: bytes) -> Event | None:
    """A payload whose fields do not all have the expected types: what can be read of it."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("qa"):
        return None
    activity, visitor, kind = data.get("activity_id"), data.get("visitor"), data.get("kind")
    if not isinstance(activity, int) or not isinstance(visitor, str) or not isinstance(kind, str):
        return None
    if kind == REJECTED:
        return None
    occurred = data.get("occurred_ms")
    experience = data.get("experience_id")
    revenue = data.get("revenue")
    environment = data.get("environment_id")
    return Event(
        tenant_id=tenant_id,
        key=str(data.get("event_key") or key),
        kind=kind,
        activity_id=activity,
        experience_id=experience if isinstance(experience, int) else None,
        mbox=_text(data.get("mbox")),
        visitor=visitor[:128],
        session_id=_text(data.get("session_id")),
        order_id=_text(data.get("order_id")),
        revenue=float(revenue) if isinstance(revenue, int | float) else None,
        occurred_ms=occurred if isinstance(occurred, int) else 0,
        environment_id=environment if isinstance(environment, int) else 0,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def key_hash(key: str) -> int:
    """``report_keys.key_hash`` of an event key: the low 64 bits of its MD5 (little-endian, as
    DuckDB's ``md5_number_lower``), shifted to a signed BIGINT."""
    digest = hashlib.md5(key.encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[8:], "little") - 2**63


def metric_of(kind: str, mbox: str | None) -> str | None:
    """The metric an event converts, if any."""
    if kind == "conversion" and mbox:
        return f"mbox:{mbox}"[:260]
    if kind == "click" and mbox:
        return f"click:{mbox}"[:260]
    if kind == "order":
        return ORDER
    return None


@dataclass(slots=True)
class VisitorState:
    """One ``report_visitors`` row while a batch is applied."""

    experience_id: int
    environment_id: int
    first_ms: int
    last_ms: int
    session_id: str | None
    visits: int = 0
    impressions: int = 0
    orders: int = 0
    revenue: float = 0.0
    pre_value: float | None = None
    # metric -> [conversions, visit number of the last one]; decoded from ``stored`` only when
    # a conversion needs it (most events are impressions, which leave it as it was).
    loaded: dict[str, list[int]] | None = None
    stored: str = "{}"

    @property
    def conversions(self) -> dict[str, list[int]]:
        if self.loaded is None:
            self.loaded = orjson.loads(self.stored)
        return self.loaded

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> VisitorState:
        """From a ``report_visitors`` row without its key, ``VISITOR_COLUMNS[3:]`` order."""
        return cls(
            experience_id=row[0],
            environment_id=row[1],
            first_ms=row[2],
            last_ms=row[3],
            session_id=row[4],
            visits=row[5],
            impressions=row[6],
            orders=row[7],
            revenue=row[8],
            pre_value=row[9],
            stored=row[10],
        )

    def row(self, tenant_id: int, activity_id: int, visitor: str) -> tuple[Any, ...]:
        """The ``report_visitors`` row, in ``VISITOR_COLUMNS`` order."""
        return (
            tenant_id,
            activity_id,
            visitor,
            self.experience_id,
            self.environment_id,
            self.first_ms,
            self.last_ms,
            self.session_id,
            self.visits,
            self.impressions,
            self.orders,
            self.revenue,
            self.pre_value,
            self.stored if self.loaded is None else orjson.dumps(self.loaded).decode(),
        )


VISITOR_COLUMNS = (
    "tenant_id",
    "activity_id",
    "visitor",
    "experience_id",
    "environment_id",
    "first_ms",
    "last_ms",
    "session_id",
    "visits",
    "impressions",
    "orders",
    "revenue",
    "pre_value",
    "conversions",
)


# (tenant, activity, environment, experience, metric, day)
DailyKey = tuple[int, int, int, int, str, int]


@dataclass(slots=True)
class DailyTotals:
    visitors: int = 0
    visits: int = 0
    impressions: int = 0
    value_sum: float = 0.0
    value_sq_sum: float = 0.0


def apply_event(
    state: VisitorState | None, event: Event, daily: dict[DailyKey, DailyTotals]
) -> VisitorState | None:
    """Applies one event to its visitor's state, adding what it changes to ``daily``."""
    day = event.occurred_ms // DAY_MS
    if state is None:
        if event.experience_id is None:
            return None
        state = VisitorState(
            experience_id=event.experience_id,
            environment_id=event.environment_id,
            first_ms=event.occurred_ms,
            last_ms=event.occurred_ms,
            session_id=None,
        )
        _totals(daily, event, state, ENTRY, day).visitors += 1
    if state.visits == 0 or (event.session_id is not None and event.session_id != state.session_id):
        state.visits += 1
        _totals(daily, event, state, ENTRY, day).visits += 1
    if event.session_id is not None:
        state.session_id = event.session_id
    state.last_ms = max(state.last_ms, event.occurred_ms)
    if event.kind in IMPRESSION_KINDS:
        state.impressions += 1
        _totals(daily, event, state, ENTRY, day).impressions += 1
    metric = metric_of(event.kind, event.mbox)
    if metric is None:
        return state
    totals = _totals(daily, event, state, metric, day)
    seen = state.conversions.get(metric)
    if seen is None:
        seen = state.conversions[metric] = [0, 0]
        totals.visitors += 1
    if seen[1] != state.visits:
        totals.visits += 1
    seen[0] += 1
    seen[1] = state.visits
    totals.impressions += 1
    if metric == ORDER:
        state.orders += 1
        amount = event.revenue or 0.0
        before = state.revenue
        state.revenue = before + amount
        totals.value_sum += amount
        # The visitor's squared total changes by this much: sums of these stay exact over days.
        totals.value_sq_sum += state.revenue * state.revenue - before * before
    return state


def _totals(
    daily: dict[DailyKey, DailyTotals], event: Event, state: VisitorState, metric: str, day: int
) -> DailyTotals:
    key = (
        event.tenant_id,
        event.activity_id,
        state.environment_id,
        state.experience_id,
        metric,
        day,
    )
    totals = daily.get(key)
    if totals is None:
        totals = daily[key] = DailyTotals()
    return totals


DAILY_COLUMNS = (
    "tenant_id",
    "activity_id",
    "environment_id",
    "experience_id",
    "metric",
    "day",
    "visitors",
    "visits",
    "impressions",
    "value_sum",
    "value_sq_sum",
)


def daily_rows(daily: Mapping[DailyKey, DailyTotals]) -> Iterable[tuple[Any, ...]]:
    """``report_daily`` rows in ``DAILY_COLUMNS`` order."""
    for key, t in daily.items():
        yield (*key, t.visitors, t.visits, t.impressions, t.value_sum, t.value_sq_sum)
