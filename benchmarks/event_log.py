"""Event log throughput: units per second through the GroupCommitter, and consumer apply rate,
printed as JSON.

    .venv/bin/python benchmarks/event_log.py [--database-url URL] [--seconds 5] [--quick]

- `group_commit`: N submitters (threads blocking on ``submit(unit).result()``, or asyncio tasks
  awaiting ``run(unit)`` in one event loop, as the delivery route does) each submit units back to
  back for ``--seconds``. A unit mimics a delivery call's write: one compare-and-set style UPDATE
  of a visitor row (a random one of 2,000) and two appended log records of ~300 bytes. The last
  run repeats 64 tasks with a savepoint around every unit (``optimistic=False``) for comparison.
  Reported: units/s, commits/s, mean units per commit, and the p50/p99 time from submit to
  the durable result.
- `one_batch`: 2,000 such units queued behind a blocked writer, then released into one batch:
  wall and Python CPU time per unit, with savepoints only on failure (the default) and around
  every unit (best of three).
- `consumer`: 100,000 records are appended, then ``drain`` applies them with a consumer that
  upserts each record into a table keyed by its key (records/s), and with one that does nothing
  (the cost of reading the log and storing offsets).

SQLite runs on a fresh temporary database (WAL, ``synchronous=FULL`` for the committer). With
``--database-url postgresql+psycopg://...`` the scratch tables are created and dropped there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, text

from cible.events import (
    GroupCommitter,
    Record,
    StoredRecord,
    append_records,
    drain,
)
from cible.store import Database, upgrade

VISITORS = 2000
PAYLOAD = json.dumps(
    {
        "kind": "impression",
        "activity_id": 123456,
        "experience_id": 1,
        "mbox": "home-hero",
        "visitor": "0123456789abcdef0123456789abcdef.34_0",
        "session_id": "f0e1d2c3-b4a5-6789-0123-456789abcdef",
        "occurred_at": 1_796_000_000_000,
        "tokens": ["a" * 40, "b" * 40],
    }
).encode()

SCRATCH = [
    "CREATE TABLE bench_state (id INTEGER PRIMARY KEY, version BIGINT NOT NULL)",
    "CREATE TABLE bench_sink (key VARCHAR(400) PRIMARY KEY, body TEXT NOT NULL)",
]
CAS = text("UPDATE bench_state SET version = version + 1 WHERE id = :id AND version >= 0")
UPSERT = text(
    "INSERT INTO bench_sink (key, body) VALUES (:key, :body) "
    "ON CONFLICT (key) DO UPDATE SET body = excluded.body"
)


def setup(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in ("bench_state", "bench_sink"):
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        for ddl in SCRATCH:
            conn.execute(text(ddl))
        conn.execute(
            text("INSERT INTO bench_state (id, version) VALUES (:id, 0)"),
            [{"id": i} for i in range(VISITORS)],
        )
        conn.execute(text("DELETE FROM event_log"))
        conn.execute(text("DELETE FROM event_consumers"))


def make_unit(counter: list[int]) -> Callable[[Connection], None]:
    counter[0] += 1
    key = f"{threading.get_ident()}-{counter[0]}"
    visitor = random.randrange(VISITORS)

    def unit(conn: Connection) -> None:
        conn.execute(CAS, {"id": visitor})
        append_records(
            conn,
            [Record("bench", 1, key + "/0", PAYLOAD), Record("bench", 1, key + "/1", PAYLOAD)],
        )

    return unit


def summary(
    latencies: list[float], elapsed: float, committer: GroupCommitter, start: tuple[int, int]
) -> dict[str, Any]:
    commits = committer.commits - start[0]
    units = committer.units - start[1]
    latencies.sort()
    return {
        "units_per_second": round(units / elapsed),
        "commits_per_second": round(commits / elapsed),
        "units_per_commit": round(units / max(commits, 1), 1),
        "latency_ms_p50": round(latencies[len(latencies) // 2] * 1000, 2),
        "latency_ms_p99": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
    }


def run_threads(committer: GroupCommitter, threads: int, seconds: float) -> dict[str, Any]:
    stop = time.monotonic() + seconds
    latencies: list[list[float]] = [[] for _ in range(threads)]

    def client(n: int) -> None:
        counter = [0]
        mine = latencies[n]
        while time.monotonic() < stop:
            unit = make_unit(counter)
            began = time.perf_counter()
            committer.submit(unit).result()
            mine.append(time.perf_counter() - began)

    start = (committer.commits, committer.units)
    began = time.perf_counter()
    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    flat = [x for each in latencies for x in each]
    return {"submitters": f"{threads} threads", **summary(flat, elapsed, committer, start)}


def run_tasks(committer: GroupCommitter, tasks: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []

    async def client(stop: float) -> None:
        counter = [0]
        while time.monotonic() < stop:
            unit = make_unit(counter)
            began = time.perf_counter()
            await committer.run(unit)
            latencies.append(time.perf_counter() - began)

    async def main() -> float:
        stop = time.monotonic() + seconds
        began = time.perf_counter()
        await asyncio.gather(*(client(stop) for _ in range(tasks)))
        return time.perf_counter() - began

    start = (committer.commits, committer.units)
    elapsed = asyncio.run(main())
    return {"submitters": f"{tasks} asyncio tasks", **summary(latencies, elapsed, committer, start)}


class Sink:
    name = "bench.sink"
    topics = frozenset({"bench"})

    def apply(self, conn: Connection, records: Sequence[StoredRecord]) -> None:
        conn.execute(UPSERT, [{"key": r.key, "body": r.payload.decode()} for r in records])


class Nothing:
    name = "bench.nothing"
    topics = frozenset({"bench"})

    def apply(self, conn: Connection, records: Sequence[StoredRecord]) -> None:
        pass


def batch_cost(engine: Engine, units: int, optimistic: bool) -> dict[str, Any]:
    """Per-unit cost inside one batch: units queued behind a blocked writer, then released."""
    best: dict[str, Any] = {}
    with GroupCommitter(engine, max_batch=units, optimistic=optimistic) as committer:
        for _ in range(3):
            running, release = threading.Event(), threading.Event()

            def blocker(
                _conn: Connection,
                running: threading.Event = running,
                release: threading.Event = release,
            ) -> None:
                running.set()
                release.wait()

            committer.submit(blocker)
            running.wait()
            counter = [0]
            futures = [committer.submit(make_unit(counter)) for _ in range(units)]
            cpu, wall = time.process_time(), time.perf_counter()
            release.set()
            futures[-1].result()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if not best or wall < best["wall_us_per_unit"] * units / 1e6:
                best = {
                    "savepoints": "on failure" if optimistic else "every unit",
                    "units": units,
                    "wall_us_per_unit": round(wall / units * 1e6, 1),
                    "python_cpu_us_per_unit": round(cpu / units * 1e6, 1),
                }
    return best


def consumer_rate(engine: Engine, records: int) -> dict[str, Any]:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM event_log"))
        for chunk in range(0, records, 10_000):
            append_records(
                conn,
                [
                    Record("bench", 1, f"c{i}", PAYLOAD)
                    for i in range(chunk, min(records, chunk + 10_000))
                ],
            )
    result: dict[str, Any] = {"records": records}
    for consumer in (Sink(), Nothing()):
        began = time.perf_counter()
        drain(engine, timeout=600, consumers=[consumer])
        elapsed = time.perf_counter() - began
        result[f"{consumer.name}_records_per_second"] = round(records / elapsed)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="1 s runs, 20,000 records")
    args = parser.parse_args()
    seconds = 1.0 if args.quick else args.seconds
    records = 20_000 if args.quick else 100_000
    workdir = tempfile.mkdtemp(prefix="cible-bench-events-")
    url = args.database_url or f"sqlite:///{os.path.join(workdir, 'bench.db')}"
    if args.database_url is None:
        upgrade(url)
    database = Database(url)
    engine = database.engine
    setup(engine)
    runs = []
    with GroupCommitter(engine) as committer:
        run_threads(committer, 4, min(seconds, 1.0))  # warm-up
        for threads in (1, 8, 32, 64):
            runs.append(run_threads(committer, threads, seconds))
        for tasks in (64, 256):
            runs.append(run_tasks(committer, tasks, seconds))
    # For comparison: every unit in its own savepoint (GroupCommitter(optimistic=False)).
    with GroupCommitter(engine, optimistic=False) as committer:
        always = run_tasks(committer, 64, seconds)
        always["submitters"] += ", a savepoint per unit"
        runs.append(always)
    batches = [batch_cost(engine, 2000, optimistic) for optimistic in (True, False)]
    consumers = consumer_rate(engine, records)
    with engine.begin() as conn:
        for table in ("bench_state", "bench_sink"):
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
    database.dispose()
    print(
        json.dumps(
            {
                "benchmark": "event_log",
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                },
                "database": engine.dialect.name,
                "unit": "1 UPDATE of a visitor row + 2 appended records",
                "seconds_per_run": seconds,
                "group_commit": runs,
                "one_batch": batches,
                "consumer": consumers,
                "median_units_per_second": statistics.median(r["units_per_second"] for r in runs),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
