"""The cost of one delivery call with a warm cache, step by step, and a profile of whole calls.

Builds the database of ``benchmarks/delivery.py`` (2 mboxes x 10 live A/B activities), warms
``--visitors`` returning visitors through the delivery service, then:

- times each step of a call on its own, ``--calls`` times: ``decode`` (orjson and Adobe's
  validation), ``visitor_state`` (cache read, session, profile parameter, what to write),
  ``decide`` (sticky view, session cache, ``cible.engine.decide``), ``record`` (impressions and
  the log records), ``log_append`` (the compare-and-set and the log insert, run in groups of
  ``--concurrency`` per transaction, commit included, as the group commit does), ``encode``
  (Adobe's response and ``orjson.dumps``);
- runs ``Delivery.deliver_async`` for ``--calls`` calls, ``--concurrency`` at a time, on one
  event loop (no HTTP), and prints its rate and, with ``--profile``, the top functions of a
  cProfile run by cumulative time.

Prints JSON (µs per call for each step).

    .venv/bin/python benchmarks/delivery_steps.py --calls 5000
    .venv/bin/python benchmarks/delivery_steps.py --calls 3000 --profile
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cible.delivery.events import EventBatch
from cible.delivery.recording import record_executed
from cible.delivery.response import build_response
from cible.delivery.service import Delivery, TenantRef, _profile_updates, _write
from cible.delivery.source import StoreArtifactSource
from cible.delivery.validate import check_request
from cible.profiles import service as profiles
from cible.store import Database
from delivery import bodies, setup_database


def timed(calls: int, step: Any) -> float:
    started = time.perf_counter()
    for n in range(calls):
        step(n)
    return (time.perf_counter() - started) / calls * 1e6


async def whole_calls(
    delivery: Delivery, tenant: TenantRef, payloads: list[bytes], calls: int, concurrency: int
) -> float:
    counter = iter(range(calls))

    async def lane() -> None:
        for n in counter:
            body = orjson.loads(payloads[n % len(payloads)].replace(b"__N__", str(n).encode()))
            check_request(body)
            response = await delivery.deliver_async(tenant, body, f"s{n % len(payloads)}", None)
            orjson.dumps(response)

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return calls / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--visitors", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='cible-steps-')) / 'cible.db'}"
    setup_database(url)
    db = Database(url)
    delivery = Delivery(db, StoreArtifactSource(db, refresh_seconds=3600))
    tenant = TenantRef(1, "bench")
    payloads = bodies(args)
    asyncio.run(whole_calls(delivery, tenant, payloads, args.visitors, args.concurrency))

    raw = [payloads[n % len(payloads)].replace(b"__N__", str(n).encode()) for n in range(2000)]
    decoded = [orjson.loads(body) for body in raw]
    artifact = delivery._artifact(tenant, "")
    facts = delivery.facts(artifact)
    now = datetime.now(UTC)

    def decode(n: int) -> None:
        check_request(orjson.loads(raw[n % len(raw)]))

    def visit_of(n: int) -> profiles.Visit:
        request = decoded[n % len(decoded)]
        ids = profiles.VisitorIds.from_request(request["id"])
        loaded = delivery._cached(tenant.id, ids.keys())
        assert loaded is not None and loaded.snapshots, "the cache is not warm"
        visit = profiles.open_state(tenant.id, ids, loaded, f"s{n % len(raw)}", now, 1800)
        visit.set_attributes(_profile_updates(request), int(now.timestamp() * 1000))
        return visit

    def visitor_state(n: int) -> None:
        visit = visit_of(n)
        change = profiles.change_of(tenant.id, visit, now)
        assert change.row.id is not None
        snapshot = profiles.snapshot_after(visit, change.row.id, change.row.version)
        delivery.states.put(tenant.id, snapshot)

    visits = [visit_of(n) for n in range(len(decoded))]

    def decide(n: int) -> None:
        request = decoded[n % len(decoded)]
        delivery._decide(tenant, request, f"r{n}", f"s{n}", visits[n % len(visits)], facts, now)

    decisions = [
        delivery._decide(tenant, decoded[n], f"r{n}", f"s{n}", visits[n], facts, now)
        for n in range(len(decoded))
    ]

    def record(n: int) -> None:
        i = n % len(decoded)
        visit = visits[i]
        batch = EventBatch(tenant.id, profiles.tnt_key(visit.tnt_id), f"s{i}")
        record_executed(batch, decoded[i], decisions[i][1], visit, f"r{n}", now, "target-global")
        batch.records()

    def encode(n: int) -> None:
        i = n % len(decoded)
        decision, located = decisions[i]
        visit = visits[i]
        response = build_response(
            "bench",
            decoded[i],
            f"r{n}",
            visit.tnt_id,
            orjson.loads(orjson.dumps(decision)),
            located,
            visit.engine_profile(),
            artifact,
            [],
            [],
        )
        orjson.dumps(response)

    def log_append(calls: int) -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.thread_time()
        done = 0
        while done < calls:
            with db.engine.begin() as conn:
                for _ in range(args.concurrency):
                    i = done % len(decoded)
                    visit = visit_of(done)
                    change = profiles.change_of(tenant.id, visit, now)
                    batch = EventBatch(tenant.id, profiles.tnt_key(visit.tnt_id), "s")
                    record_executed(batch, decoded[i], decisions[i][1], visit, f"a{done}", now, "g")
                    profile_id, version = _write(change, batch.records(), now, conn)
                    delivery.states.put(
                        tenant.id, profiles.snapshot_after(visit, profile_id, version)
                    )
                    done += 1
        wall = (time.perf_counter() - started) / calls * 1e6
        return wall, (time.thread_time() - cpu) / calls * 1e6

    steps = {
        "decode": timed(args.calls, decode),
        "visitor_state": timed(args.calls, visitor_state),
        "decide": timed(args.calls, decide),
        "record": timed(args.calls, record),
        "encode": timed(args.calls, encode),
    }
    # log_append includes visitor_state and record again (the unit needs them): subtract
    # them. Its wall time also waits for the disk (one fsync per group of --concurrency units);
    # its CPU time does not.
    wall, cpu = log_append(args.calls)
    again = steps["visitor_state"] + steps["record"]
    steps["log_append"] = cpu - again
    steps["log_append_wall_with_fsync"] = wall - again
    rate = asyncio.run(whole_calls(delivery, tenant, payloads, args.calls, args.concurrency))
    result: dict[str, Any] = {
        "benchmark": "one delivery call, warm visitor cache, µs per step",
        "steps_us": {name: round(value, 1) for name, value in steps.items()},
        "sum_of_steps_us": round(
            sum(v for k, v in steps.items() if k != "log_append_wall_with_fsync"), 1
        ),
        "deliver_async_calls_per_second": round(rate, 1),
        "group_commit": {"commits": delivery.committer.commits, "units": delivery.committer.units},
        "date": datetime.now(UTC).isoformat(timespec="minutes"),
        "python": sys.version.split()[0],
    }
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        asyncio.run(whole_calls(delivery, tenant, payloads, args.calls, args.concurrency))
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        result["profile_top_tottime"] = out.getvalue().splitlines()[:60]
    delivery.close()
    db.dispose()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
