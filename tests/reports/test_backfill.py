"""The DuckDB rebuild computes exactly what the consumer computed, and fills CUPED's pre-period."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from cible.events import drain
from cible.reports.backfill import rebuild
from cible.reports.reset import reset_reports
from cible.reports.tables import (
    report_audience_daily,
    report_audience_visitors,
    report_daily,
    report_keys,
    report_orders,
    report_visitors,
)
from cible.store import Database
from cible.tenants import service as tenants
from tests.conftest import BACKENDS
from tests.reports._events import DAY_MS, START_MS, append, payload, simulate

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


def _snapshot(database: Database) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with database.engine.connect() as conn:
        tables = (
            report_keys,
            report_daily,
            report_orders,
            report_visitors,
            report_audience_daily,
            report_audience_visitors,
        )
        for table in tables:
            rows = []
            for row in conn.execute(select(table)).mappings():
                item = dict(row)
                if "conversions" in item:
                    item["conversions"] = orjson.dumps(
                        orjson.loads(item["conversions"]), option=orjson.OPT_SORT_KEYS
                    )
                    item.pop("pre_value")
                for name in ("value_sum", "value_sq_sum", "revenue", "total"):
                    if item.get(name) is not None:
                        item[name] = round(item[name], 6)
                rows.append(tuple(sorted(item.items())))
            out[table.name] = sorted(rows)
    return out


def test_rebuild_equals_the_consumer(database: Database, tmp_path: Any) -> None:
    with database.session() as s:
        acme, other = tenants.create_tenant(s, "acme").id, tenants.create_tenant(s, "other").id
    events = simulate(77, 250, {0: 0.2, 1: 0.3}, seed=12, days=4)
    # Sessions that come back, events without a session, an event before any experience.
    events += [
        payload(
            "conversion",
            "pre",
            77,
            None,
            "late",
            session="x",
            mbox="orderConfirmPage",
            at_ms=START_MS,
        ),
        payload("impression", "l1", 77, 1, "late", session="x", at_ms=START_MS + 1),
        payload("click", "l2", 77, 1, "late", session=None, mbox="hero", at_ms=START_MS + 2),
        payload("impression", "l3", 77, 1, "late", session="y", at_ms=START_MS + DAY_MS),
        payload(
            "order",
            "l4",
            77,
            1,
            "late",
            session="x",
            order_id="lo",
            revenue=12.5,
            at_ms=START_MS + DAY_MS + 5,
        ),
        payload(
            "order",
            "l5",
            77,
            1,
            "late",
            session="x",
            order_id="lo2",
            revenue=None,
            at_ms=START_MS + DAY_MS + 6,
        ),
    ]
    append(database, acme, events)
    append(database, other, simulate(78, 40, {0: 0.5, 1: 0.5}, seed=2))
    drain(database)
    consumed = _snapshot(database)
    assert consumed["report_visitors"] and consumed["report_orders"]
    result = rebuild(database, workdir=tmp_path)
    assert result.visitors == 251 + 40
    assert _snapshot(database) == consumed
    # A second rebuild of one tenant, then the consumer catching up, changes nothing either.
    rebuild(database, acme, workdir=tmp_path)
    drain(database)
    assert _snapshot(database) == consumed


def test_pre_period_revenue_for_cuped(database: Database, tmp_path: Any) -> None:
    with database.session() as s:
        acme = tenants.create_tenant(s, "acme").id
    day = DAY_MS
    append(
        database,
        acme,
        [
            # Bought 20 in another activity ten days before entering activity 9, 5 too early.
            payload("order", "o-old", 8, 0, "v", order_id="a", revenue=5.0, at_ms=START_MS),
            payload("order", "o1", 8, 0, "v", order_id="b", revenue=20.0, at_ms=START_MS + 6 * day),
            payload("impression", "i", 9, 1, "v", session="s", at_ms=START_MS + 16 * day),
            payload("impression", "j", 9, 0, "w", session="t", at_ms=START_MS + 16 * day),
        ],
    )
    drain(database)
    rebuild(database, workdir=tmp_path)
    v = report_visitors.c
    with database.engine.connect() as conn:
        pre = dict(conn.execute(select(v.visitor, v.pre_value).where(v.activity_id == 9)).all())
    assert pre == {"v": 20.0, "w": 0.0}


def test_cli_rebuild(
    database: Database, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import json

    from typer.testing import CliRunner

    from cible.cli import app
    from cible.config import get_settings

    with database.session() as s:
        acme = tenants.create_tenant(s, "acme").id
    append(database, acme, simulate(5, 30, {0: 0.5, 1: 0.5}, seed=1))
    drain(database)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CIBLE_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["reports", "rebuild", "--tenant", "acme", "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["visitors"] == 30
        result = CliRunner().invoke(app, ["reports", "rebuild", "--tenant", "nobody"])
        assert result.exit_code == 1 and "error:" in result.stderr
    finally:
        get_settings.cache_clear()


def test_rebuild_equals_the_consumer_by_reporting_audience_and_after_a_reset(
    database: Database, tmp_path: Any
) -> None:
    with database.session() as s:
        acme = tenants.create_tenant(s, "acme").id
    rng = random.Random(5)
    events = simulate(77, 300, {0: 0.3, 1: 0.4}, seed=8, days=5)
    # Visitors qualify on some of their events, for one reporting audience or two, often after
    # they converted: their earlier counts move to the day they qualify.
    for event in events:
        draw = rng.random()
        if draw < 0.04:
            event["reporting_audiences"] = [1]
        elif draw < 0.06:
            event["reporting_audiences"] = [2, 1]
        elif draw < 0.08:
            event["reporting_audiences"] = [2]
    append(database, acme, events[: len(events) // 2])
    drain(database)
    # A reset of activity 78 (another simulated activity) between the two halves: the events
    # the log accepted before it do not count, for the consumer as for the rebuild.
    other = simulate(78, 60, {0: 0.5, 1: 0.5}, seed=3)
    append(database, acme, other[:100])
    with database.engine.begin() as conn:
        reset_reports(conn, acme, 78)
    append(database, acme, events[len(events) // 2 :] + other[100:])
    drain(database)
    consumed = _snapshot(database)
    assert consumed["report_audience_daily"] and consumed["report_audience_visitors"]
    with database.engine.connect() as conn:
        rows = conn.execute(select(report_visitors.c.activity_id)).scalars().all()
    assert rows.count(78) < 60  # visitors seen only before the reset are gone
    rebuild(database, workdir=tmp_path)
    assert _snapshot(database) == consumed
