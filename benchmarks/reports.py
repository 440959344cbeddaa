"""Report figures: aggregation rate from the event log, and report time over many events.

Three measurements on a fresh SQLite database (or ``--database-url``), printed as JSON, each
with wall-clock seconds and, where the work is in this process, CPU seconds (on a shared machine
the CPU figure is the one that does not depend on the neighbours' load):

1. ``consumer``: ``--consumer-events`` synthetic delivery events (impressions, displays, clicks,
   conversions, orders of ``--consumer-events``/8 visitors over 30 days) appended to the event
   log, then the ``reports`` consumer draining them alone: events per second.
2. ``rebuild``: ``--events`` synthetic events written to Parquet with pyarrow, then DuckDB
   computing the report tables from them with the rebuild's own SQL
   (``cible.reports.backfill``): seconds to compute, and seconds to write the daily and order
   rows into the database.
3. ``report``: the performance report (``cible.reports.service.performance_report``, statistics
   included) of an A/B activity whose aggregates are those ``--events`` events: median seconds
   over ``--repeat`` calls.

    .venv/bin/python benchmarks/reports.py --events 10000000 --consumer-events 300000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import insert

from cible.activities.abxt import service as activities
from cible.activities.abxt.schemas import ActivityIn
from cible.activities.offers import service as offers
from cible.activities.offers.schemas import ContentOfferIn
from cible.events import Record, append_records, drain
from cible.reports import backfill
from cible.reports.consumers import ReportsConsumer
from cible.reports.service import ReportQuery, performance_report
from cible.reports.tables import report_daily, report_orders
from cible.store import Database, upgrade
from cible.store.base import utcnow
from cible.tenants import service as tenants
from cible.tenants.principal import Principal
from cible.tenants.roles import Role

START_MS = 1_767_225_600_000
SPAN_MS = 30 * 86_400_000
KINDS = np.array(["impression", "display", "click", "conversion", "order"])
SHARES = [0.70, 0.15, 0.05, 0.07, 0.03]


def synthetic(n: int, seed: int = 1) -> dict[str, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    visitors = max(n // 8, 1)
    v = rng.integers(0, visitors, n)
    kind = rng.choice(len(KINDS), n, p=SHARES)
    return {
        "id": np.arange(1, n + 1, dtype=np.int64),
        "visitor": v,
        "experience": (v % 2).astype(np.int64),
        "session": v * 4 + rng.integers(0, 3, n),
        "kind": kind,
        "revenue": np.where(kind == 4, np.round(rng.lognormal(3.5, 0.8, n), 2), np.nan),
        "occurred_ms": START_MS + np.sort(rng.integers(0, SPAN_MS, n)),
    }


def _mbox(kind: int) -> str | None:
    return "orderConfirmPage" if kind in (3, 4) else "hero"


def consumer_rate(db: Database, tenant_id: int, activity: int, n: int) -> dict[str, Any]:
    data = synthetic(n, seed=2)
    records = []
    for i in range(n):
        k = int(data["kind"][i])
        revenue = None if np.isnan(data["revenue"][i]) else float(data["revenue"][i])
        payload = {
            "event_key": f"e{i}",
            "kind": str(KINDS[k]),
            "activity_id": activity,
            "experience_id": int(data["experience"][i]),
            "mbox": _mbox(k),
            "visitor": f"v{data['visitor'][i]}",
            "session_id": f"s{data['session'][i]}",
            "order_id": f"o{i}" if k == 4 else None,
            "revenue": revenue,
            "occurred_ms": int(data["occurred_ms"][i]),
        }
        records.append(Record("delivery", tenant_id, f"e{i}", orjson.dumps(payload)))
    with db.engine.begin() as conn:
        for i in range(0, n, 20_000):
            append_records(conn, records[i : i + 20_000])
    started, cpu = time.perf_counter(), time.process_time()
    drain(db, 3600, consumers=[ReportsConsumer()], batch_size=5000)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "events": n,
        "seconds": round(seconds, 2),
        "cpuSeconds": round(cpu, 2),
        "eventsPerSecond": round(n / seconds),
        "eventsPerCpuSecond": round(n / cpu),
    }


def write_parquet(n: int, activity: int, tenant_id: int, path: Path) -> None:
    data = synthetic(n)
    kinds = pa.array(KINDS[data["kind"]])
    mbox = pc.if_else(
        pc.less(pa.array(data["kind"]), 2), pa.scalar("hero"), pa.scalar("orderConfirmPage")
    )
    ids = pa.array(data["id"])
    order = pc.equal(kinds, pa.scalar("order"))
    table = pa.table(
        {
            "id": ids,
            "tenant_id": pa.array(np.full(n, tenant_id, dtype=np.int64)),
            "event_key": pc.cast(ids, pa.string()),
            "kind": kinds,
            "activity_id": pa.array(np.full(n, activity, dtype=np.int64)),
            "experience_id": pa.array(data["experience"]),
            "mbox": mbox,
            "visitor": pc.cast(pa.array(data["visitor"]), pa.string()),
            "session_id": pc.cast(pa.array(data["session"]), pa.string()),
            "order_id": pc.if_else(order, pc.cast(ids, pa.string()), pa.scalar(None, pa.string())),
            "revenue": pa.array(data["revenue"], from_pandas=True),
            "occurred_ms": pa.array(data["occurred_ms"]),
            # No reporting audiences and no reset: the common case.
            "reporting_audiences": pa.nulls(n, pa.list_(pa.int64())),
            "counted": pa.array(np.ones(n, dtype=bool)),
        }
    )
    pq.write_table(table, path)


def rebuild_time(db: Database, path: Path) -> dict[str, Any]:
    duck = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    params = {"path": str(path)}
    started, cpu = time.perf_counter(), time.process_time()
    duck.execute(backfill._PREPARED, params)
    duck.execute(backfill._QUALIFIED)
    duck.execute(backfill._AUDIENCE_PREPARED)
    duck.execute(
        f"CREATE TEMP TABLE v AS {backfill._VISITORS}",
        {**params, "pre_ms": backfill.PRE_PERIOD_DAYS * 86_400_000},
    )
    duck.execute(f"CREATE TEMP TABLE d AS {backfill._DAILY}")
    duck.execute(f"CREATE TEMP TABLE o AS {backfill._ORDERS}")
    compute, cpu = time.perf_counter() - started, time.process_time() - cpu
    counts = {t: duck.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in "vdo"}  # type: ignore[index]
    started = time.perf_counter()
    with db.engine.begin() as conn:
        for table, name in ((report_daily, "d"), (report_orders, "o")):
            cursor = duck.execute(f"SELECT * FROM {name}")
            names = [c[0] for c in cursor.description or []]
            while chunk := cursor.fetchmany(10_000):
                conn.execute(insert(table), [dict(zip(names, r, strict=True)) for r in chunk])
    write = time.perf_counter() - started
    duck.close()
    return {
        "computeSeconds": round(compute, 2),
        "computeCpuSeconds": round(cpu, 2),
        "writeDailyAndOrdersSeconds": round(write, 2),
        "visitorRows": counts["v"],
        "dailyRows": counts["d"],
        "orders": counts["o"],
    }


def setup(db: Database) -> tuple[Principal, int, int, int]:
    with db.session() as s:
        tenant = tenants.create_tenant(s, "bench")
        client = tenants.create_client(s, tenant_code="bench", role="approver", name="bench")
        principal = Principal(
            client_id=client.client_id,
            client_pk=client.client.id,
            tenant_id=tenant.id,
            tenant_code="bench",
            grants={None: frozenset({Role.APPROVER})},
        )
        ids = [
            offers.create_offer(
                s,
                principal,
                "content",
                ContentOfferIn.model_validate({"name": f"o{i}", "content": f"<p>{i}</p>"}),
                utcnow(),
            ).id
            for i in range(2)
        ]
        activity_ids = []
        for name in ("bulk", "live"):
            body = ActivityIn.model_validate(
                {
                    "name": name,
                    "options": [{"optionLocalId": i, "offerId": o} for i, o in enumerate(ids)],
                    "locations": {"mboxes": [{"locationLocalId": 0, "name": "hero"}]},
                    "experiences": [
                        {
                            "experienceLocalId": i,
                            "name": f"E{i}",
                            "visitorPercentage": 50,
                            "optionLocations": [{"locationLocalId": 0, "optionLocalId": i}],
                        }
                        for i in range(2)
                    ],
                    "metrics": [
                        {
                            "metricLocalId": 32767,
                            "name": "Order",
                            "conversion": True,
                            "mboxes": [{"name": "orderConfirmPage", "successEvent": "mbox_shown"}],
                        }
                    ],
                }
            )
            activity_ids.append(activities.create_activity(s, principal, "ab", body, utcnow()).id)
        return principal, tenant.id, activity_ids[0], activity_ids[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--consumer-events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        db = Database(url)
        principal, tenant_id, bulk, live = setup(db)
        out: dict[str, Any] = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
            "database": db.engine.dialect.name,
        }
        out["consumer"] = consumer_rate(db, tenant_id, live, args.consumer_events)
        path = Path(tmp) / "events.parquet"
        started = time.perf_counter()
        write_parquet(args.events, bulk, tenant_id, path)
        out["rebuild"] = {
            "events": args.events,
            "parquetSeconds": round(time.perf_counter() - started, 2),
            **rebuild_time(db, path),
        }
        timings = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            with db.session() as s:
                report = performance_report(s, principal, bulk, "ab", ReportQuery())
            timings.append(time.perf_counter() - started)
        visitors = report["report"]["statistics"]["totals"]["visitor"]["totals"]["entries"]
        out["report"] = {
            "events": args.events,
            "visitors": visitors,
            "medianSeconds": round(statistics.median(timings), 4),
        }
        db.dispose()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
