"""The reports consumer: counts from the event log equal counts recomputed from raw events,
after re-sent events, a replay of the whole log, and a crash mid-aggregation."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import Connection, func, select

from cible.events import StoredRecord, drain, reset, run_once
from cible.reports.consumers import ReportsConsumer, apply_events, new_events
from cible.reports.tables import report_daily, report_orders, report_visitors
from cible.store import Database
from cible.tenants import service as tenants
from tests.conftest import BACKENDS
from tests.reports._events import DAY_MS, START_MS, append, payload, recount, simulate

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)
ACTIVITY = 4242
REPORTS = ReportsConsumer()


def _tenant(database: Database, code: str = "acme") -> int:
    with database.session() as s:
        return tenants.create_tenant(s, code).id


def _counts(database: Database, tenant: int) -> dict[int, dict[str, float]]:
    d = report_daily.c
    out: dict[int, dict[str, float]] = {}
    with database.engine.connect() as conn:
        for exp, metric, visitors, visits, imps, value in conn.execute(
            select(
                d.experience_id,
                d.metric,
                func.sum(d.visitors),
                func.sum(d.visits),
                func.sum(d.impressions),
                func.sum(d.value_sum),
            )
            .where(d.tenant_id == tenant, d.activity_id == ACTIVITY)
            .group_by(d.experience_id, d.metric)
        ):
            row = out.setdefault(exp, {})
            if metric == "entry":
                row.update(visitors=visitors, visits=visits, impressions=imps)
            elif metric.startswith("mbox:"):
                row["converted"] = visitors
            elif metric == "order":
                row.update(orders=imps, revenue=value)
    return out


def _same(ours: dict[int, dict[str, float]], theirs: dict[int, dict[str, float]]) -> None:
    assert set(ours) == set(theirs)
    for exp, row in theirs.items():
        for name, value in row.items():
            assert ours[exp].get(name, 0) == pytest.approx(value, rel=1e-9), (exp, name)


def test_counts_equal_a_recount_of_raw_events(database: Database) -> None:
    tenant = _tenant(database)
    events = simulate(ACTIVITY, 300, {0: 0.1, 1: 0.2})
    append(database, tenant, events[:700])
    drain(database, consumers=[REPORTS], batch_size=97)
    append(database, tenant, events[700:])
    drain(database, consumers=[REPORTS], batch_size=97)
    expected = recount(events)
    _same(_counts(database, tenant), expected)
    with database.engine.connect() as conn:
        visitors = conn.execute(select(func.count()).select_from(report_visitors)).scalar()
        orders = conn.execute(select(func.count()).select_from(report_orders)).scalar()
        revenue = conn.execute(select(func.sum(report_visitors.c.revenue))).scalar()
    assert visitors == 300
    assert orders == sum(r.get("orders", 0) for r in expected.values())
    assert revenue == pytest.approx(sum(r.get("revenue", 0) for r in expected.values()))


def test_replaying_the_log_changes_nothing(database: Database) -> None:
    tenant = _tenant(database)
    events = simulate(ACTIVITY, 120, {0: 0.2, 1: 0.3, 2: 0.1}, seed=4)
    append(database, tenant, events)
    drain(database, consumers=[REPORTS])
    before = _counts(database, tenant)
    reset(database, REPORTS.name, 0)
    drain(database, consumers=[REPORTS], batch_size=50)
    assert _counts(database, tenant) == before
    _same(before, recount(events))


class _Crashing:
    """The reports consumer, dying in the middle of its third batch (after writing part of it)."""

    name = REPORTS.name
    topics = REPORTS.topics

    def __init__(self) -> None:
        self.batches = 0

    def apply(self, conn: Connection, records: Sequence[StoredRecord]) -> None:
        self.batches += 1
        events = new_events(conn, records)
        apply_events(conn, events[: len(events) // 2])
        if self.batches == 3:
            raise RuntimeError("killed mid-aggregation")
        apply_events(conn, events[len(events) // 2 :])


def test_a_crash_mid_aggregation_loses_and_doubles_nothing(database: Database) -> None:
    tenant = _tenant(database)
    events = simulate(ACTIVITY, 200, {0: 0.15, 1: 0.25}, seed=9)
    append(database, tenant, events)
    crashing = _Crashing()
    with pytest.raises(RuntimeError, match="killed"):
        for _ in range(10):
            run_once(database, crashing, batch_size=60)
    drain(database, consumers=[REPORTS], batch_size=60)
    _same(_counts(database, tenant), recount(events))


def test_visits_metrics_qa_and_tenants(database: Database) -> None:
    acme, other = _tenant(database, "acme"), _tenant(database, "other")
    t = START_MS
    events = [
        payload("impression", "i1", ACTIVITY, 1, "v", session="s1", at_ms=t),
        payload("display", "i2", ACTIVITY, 1, "v", session="s1", at_ms=t + 1),
        payload("click", "c1", ACTIVITY, 1, "v", session=None, mbox="hero", at_ms=t + 2),
        payload("conversion", "k1", ACTIVITY, 1, "v", session="s2", mbox="buy", at_ms=t + DAY_MS),
        payload("conversion", "k2", ACTIVITY, 1, "v", session="s2", mbox="buy", at_ms=t + DAY_MS),
        payload("conversion", "k3", ACTIVITY, 1, "v", session="s1", mbox="buy", at_ms=t + DAY_MS),
        # No experience: the visitor was never seen in the activity, nothing to count.
        payload("conversion", "k4", ACTIVITY, None, "w", session="s9", mbox="buy", at_ms=t),
        {**payload("impression", "q1", ACTIVITY, 0, "qa-visitor", at_ms=t), "qa": True},
    ]
    append(database, acme, events)
    append(database, other, [payload("impression", "i1", ACTIVITY, 0, "x", at_ms=t)])
    drain(database, consumers=[REPORTS])
    d = report_daily.c
    with database.engine.connect() as conn:
        rows = conn.execute(
            select(
                d.tenant_id, d.experience_id, d.metric, d.day, d.visitors, d.visits, d.impressions
            ).order_by(d.tenant_id, d.metric, d.day)
        ).all()
    day = START_MS // DAY_MS
    assert [tuple(r) for r in rows] == [
        (acme, 1, "click:hero", day, 1, 1, 1),
        (acme, 1, "entry", day, 1, 1, 2),
        (acme, 1, "entry", day + 1, 0, 2, 0),  # s2, then s1 again: two more visits
        (acme, 1, "mbox:buy", day + 1, 1, 2, 3),
        (other, 0, "entry", day, 1, 1, 1),
    ]
