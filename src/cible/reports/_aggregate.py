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
  (notifications of an experience the visitor was not given), which reports count apart;
- reporting audiences: an event names the activity's reporting audiences the visitor qualified
  for in its call (``reporting_audiences``). A visitor stays in a reporting audience once he
  qualified. At the event where he first qualifies, what he counted so far (entry, visits,
  impressions, conversions, revenue) is added to that audience's counts on the event's day, and
  every later event counts there too: an audience's report counts its visitors' whole activity.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

__all__ = [
    "AUDIENCE_COLUMNS",
    "DAILY_COLUMNS",
    "DAY_MS",
    "ENTRY",
    "ORDER",
    "REJECTED",
    "VISITOR_COLUMNS",
    "Audiences",
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
    """One countable delivery event, decoded straight from its payload (a Struct built by the
    decoder, once per event: the consumer's per-event cost is mostly here and in
    ``apply_event``). ``tenant_id`` is the log record's, set after decoding (under a name no
    delivery payload uses)."""

    kind: str | None = None
    activity_id: int | None = None
    visitor: str | None = None
    event_key: str | None = None
    experience_id: int | None = None
    mbox: str | None = None
    session_id: str | None = None
    order_id: str | None = None
    revenue: float | None = None
    occurred_ms: int = 0
    environment_id: int = 0
    qa: bool | None = None
    reporting_audiences: list[int] | None = None
    tenant_id: int = msgspec.field(default=0, name="/tenant")
    # The time the event log accepted the record (epoch ms), set after decoding: activity
    # resets cut on it (docs/reports.md, "Activity reset").
    logged_ms: int = msgspec.field(default=0, name="/logged")


_DECODE = msgspec.json.Decoder(Event).decode


def parse_event(tenant_id: int, key: str, payload: bytes) -> Event | None:
    """The report's view of one ``delivery`` record; None when it does not count."""
    try:
        e = _DECODE(payload)
    except msgspec.MsgspecError:
        return _parse_loosely(tenant_id, key, payload)
    if e.qa or e.activity_id is None or e.visitor is None or e.kind in (None, REJECTED):
        return None
    e.tenant_id = tenant_id
    if not e.event_key:
        e.event_key = key
    if len(e.visitor) > 128:
        e.visitor = e.visitor[:128]
    # Empty strings mean "none", as absent fields do.
    if e.mbox == "":
        e.mbox = None
    if e.session_id == "":
        e.session_id = None
    if e.order_id == "":
        e.order_id = None
    return e


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
    audiences = data.get("reporting_audiences")
    return Event(
        tenant_id=tenant_id,
        event_key=str(data.get("event_key") or key),
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
        reporting_audiences=[a for a in audiences if type(a) is int]
        if isinstance(audiences, list)
        else None,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


_LOW_64 = struct.Struct("<8xQ").unpack  # the digest's last 8 bytes, little-endian, unsigned
_MD5 = hashlib.md5


def key_hash(key: str) -> int:
    """``report_keys.key_hash`` of an event key: the low 64 bits of its MD5 (little-endian, as
    DuckDB's ``md5_number_lower``), shifted to a signed BIGINT."""
    return int(_LOW_64(_MD5(key.encode(), usedforsecurity=False).digest())[0]) - 2**63


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
    """One ``report_visitors`` row while a batch is applied. The fields up to ``stored`` are
    ``VISITOR_COLUMNS[3:]`` in order, so a row read from the table is ``VisitorState(*row)``."""

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
    stored: str = "{}"
    # The reporting audiences qualified for, a sorted JSON list; None for none.
    reporting: str | None = None
    # metric -> [conversions, visit number of the last one, visits with one]; decoded from
    # ``stored`` only when a conversion needs it (most events are impressions, which leave it).
    loaded: dict[str, list[int]] | None = None

    @property
    def conversions(self) -> dict[str, list[int]]:
        if self.loaded is None:
            self.loaded = orjson.loads(self.stored)
        return self.loaded

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
            self.reporting,
        )

    def audiences(self) -> list[int]:
        return [] if self.reporting is None else list(orjson.loads(self.reporting))


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
    "reporting_audiences",
)


# (tenant, activity, environment, experience, metric, day)
DailyKey = tuple[int, int, int, int, str, int]
# [visitors, visits, impressions, value_sum, value_sq_sum]: a list, not an object, because the
# consumer adds to a few of these per event.
DailyTotals = list[float]


def _totals(daily: dict[DailyKey, DailyTotals], key: DailyKey) -> DailyTotals:
    totals = daily.get(key)
    if totals is None:
        totals = daily[key] = [0, 0, 0, 0.0, 0.0]
    return totals


@dataclass(slots=True)
class Audiences:
    """What a batch adds for reporting audiences: ``report_audience_daily`` totals keyed
    ``(tenant, activity, audience, environment, experience, metric, day)`` and the visitors
    who qualified, ``(tenant, activity, audience, visitor, qualified_ms)``."""

    daily: dict[tuple[int, int, int, int, int, str, int], DailyTotals]
    qualified: list[tuple[int, int, int, str, int]]

    def rows(self) -> Iterable[tuple[Any, ...]]:
        """``report_audience_daily`` rows in ``AUDIENCE_COLUMNS`` order."""
        for key, t in self.daily.items():
            yield (*key, *t)


def apply_event(
    state: VisitorState | None,
    event: Event,
    daily: dict[DailyKey, DailyTotals],
    audiences: Audiences | None = None,
) -> VisitorState | None:
    """Applies one event to its visitor's state, adding what it changes to ``daily`` and, for
    the reporting audiences the visitor is in, to ``audiences``."""
    if audiences is None or not (
        event.reporting_audiences or (state is not None and state.reporting is not None)
    ):
        return _apply(state, event, daily)
    if state is None and event.experience_id is None:
        return None
    held = state.audiences() if state is not None else []
    new = sorted({a for a in event.reporting_audiences or () if a not in held})
    tenant, activity, day = event.tenant_id, event.activity_id, event.occurred_ms // DAY_MS
    assert activity is not None
    if state is not None and new:
        _carry(state, new, (tenant, activity), day, audiences)
    mine: dict[DailyKey, DailyTotals] = {}
    state = _apply(state, event, mine)
    assert state is not None
    members = sorted({*held, *new})
    for key, totals in mine.items():
        into = _totals(daily, key)
        for i, value in enumerate(totals):
            into[i] += value
        for audience in members:
            into = _audience_totals(audiences, key, audience)
            for i, value in enumerate(totals):
                into[i] += value
    if new:
        state.reporting = orjson.dumps(members).decode()
        visitor = event.visitor or ""
        audiences.qualified.extend((tenant, activity, a, visitor, event.occurred_ms) for a in new)
    return state


def _audience_totals(audiences: Audiences, key: DailyKey, audience: int) -> DailyTotals:
    tenant, activity, environment, experience, metric, day = key
    full = (tenant, activity, audience, environment, experience, metric, day)
    totals = audiences.daily.get(full)
    if totals is None:
        totals = audiences.daily[full] = [0, 0, 0, 0.0, 0.0]
    return totals


def _carry(
    state: VisitorState,
    new: list[int],
    where: tuple[int, int],
    day: int,
    audiences: Audiences,
) -> None:
    """What the visitor counted before qualifying, added to each new audience on ``day``."""
    tenant, activity = where
    base = (tenant, activity, state.environment_id, state.experience_id)
    for audience in new:
        entry = _audience_totals(audiences, (*base, ENTRY, day), audience)
        entry[0] += 1
        entry[1] += state.visits
        entry[2] += state.impressions
        for metric, seen in state.conversions.items():
            totals = _audience_totals(audiences, (*base, metric, day), audience)
            totals[0] += 1
            totals[1] += seen[2] if len(seen) > 2 else 1
            totals[2] += seen[0]
            if metric == ORDER:
                totals[3] += state.revenue
                totals[4] += state.revenue * state.revenue


def _apply(
    state: VisitorState | None, event: Event, daily: dict[DailyKey, DailyTotals]
) -> VisitorState | None:
    at = event.occurred_ms
    day = at // DAY_MS
    entered = state is None
    if state is None:
        if event.experience_id is None:
            return None
        state = VisitorState(event.experience_id, event.environment_id, at, at, None)
    tenant, activity = event.tenant_id, event.activity_id
    assert activity is not None  # parse_event keeps only events with an activity
    session = event.session_id
    new_visit = state.visits == 0 or (session is not None and session != state.session_id)
    kind = event.kind
    impression = kind in IMPRESSION_KINDS
    environment, experience = state.environment_id, state.experience_id
    if entered or new_visit or impression:
        entry = _totals(daily, (tenant, activity, environment, experience, ENTRY, day))
        if entered:
            entry[0] += 1
        if new_visit:
            state.visits += 1
            entry[1] += 1
        if impression:
            state.impressions += 1
            entry[2] += 1
    if session is not None:
        state.session_id = session
    state.last_ms = max(state.last_ms, at)
    metric = metric_of(kind, event.mbox) if kind in _CONVERTING else None
    if metric is None:
        return state
    totals = _totals(daily, (tenant, activity, environment, experience, metric, day))
    conversions = state.conversions
    seen = conversions.get(metric)
    if seen is None:
        seen = conversions[metric] = [0, 0, 0]
        totals[0] += 1
    elif len(seen) < 3:
        seen.append(1)  # a row from before visits were kept: at least the last visit had one
    if seen[1] != state.visits:
        totals[1] += 1
        seen[2] += 1
    seen[0] += 1
    seen[1] = state.visits
    totals[2] += 1
    if metric == ORDER:
        state.orders += 1
        amount = event.revenue or 0.0
        before = state.revenue
        state.revenue = before + amount
        totals[3] += amount
        # The visitor's squared total changes by this much: sums of these stay exact over days.
        totals[4] += state.revenue * state.revenue - before * before
    return state


_CONVERTING = frozenset({"conversion", "click", ORDER})

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
# report_audience_daily: report_daily's columns with the reporting audience after the activity.
AUDIENCE_COLUMNS = (*DAILY_COLUMNS[:2], "reporting_audience", *DAILY_COLUMNS[2:])


def daily_rows(daily: Mapping[DailyKey, DailyTotals]) -> Iterable[tuple[Any, ...]]:
    """``report_daily`` rows in ``DAILY_COLUMNS`` order."""
    for key, t in daily.items():
        yield (*key, *t)
