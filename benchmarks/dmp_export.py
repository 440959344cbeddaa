"""Batch file export of a ``FILE`` destination (``cible.dmp.transfers.export``), full mode.

A fresh SQLite database (or ``--database-url``) with one tenant, ``--segments`` segments mapped
to one ``FILE`` destination writing to a local folder, and ``--profiles`` devices, each a member
of every segment with probability one half (seeded, so about ``profiles * segments / 2``
memberships). The seeding is not timed. Then, in a fresh process per engine (``--engine duckdb``
by default; ``--engine spark`` when the spark engine is installed), one ``run_export`` in full
mode: the Parquet snapshot, the engine's rows, the file writer (default content template, gzip,
files of 1,000,000 lines at most) and the ``.info`` manifest. Prints JSON: wall and CPU seconds
of the run and of its three steps, rows, files and bytes.

    .venv/bin/python benchmarks/dmp_export.py [--profiles 1000000] [--segments 20] \\
        [--engine duckdb] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from cible.config import Settings
from cible.dmp.tables import DataSource, Device, Folder, MembershipChange, Segment
from cible.dmp.transfers import export
from cible.dmp.transfers.export_engine import engine_named
from cible.dmp.transfers.tables import Destination, DestinationMapping
from cible.store import Database, upgrade
from cible.tenants.service import create_tenant

BATCH = 20_000


def seed(db: Database, out: Path, profiles: int, segments: int) -> int:
    with db.session() as s:
        tenant = create_tenant(s, "bench")
        s.flush()
        ds = DataSource(tenant_id=tenant.id, name="CRM")
        folder = Folder(tenant_id=tenant.id, kind="segments", name="s")
        s.add_all([ds, folder])
        s.flush()
        sids = []
        for n in range(segments):
            seg = Segment(tenant_id=tenant.id, name=f"s{n}", segment_rule="1T",
                          data_source_id=ds.id, folder_id=folder.id)  # fmt: skip
            s.add(seg)
            s.flush()
            sids.append(seg.id)
        config = {"location": {"url": f"file://{out}"}, "syncMode": "full",
                  "maxFileLines": 1_000_000}  # fmt: skip
        dest = Destination(tenant_id=tenant.id, name="bench", destination_type="FILE",
                           config=orjson.dumps(config).decode(),
                           create_time=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
        s.add(dest)
        s.flush()
        s.add_all(
            DestinationMapping(tenant_id=tenant.id, destination_id=dest.id, sid=sid) for sid in sids
        )
        tenant_id, dest_id = tenant.id, dest.id
    rng = random.Random(18)
    at = 1_767_225_600_000
    devices, changes = Device.__table__, MembershipChange.__table__
    with db.engine.begin() as conn:
        for start in range(0, profiles, BATCH):
            device_rows, change_rows = [], []
            for n in range(start, min(start + BATCH, profiles)):
                uuid = str(10**37 + n)
                member = {sid: at + n for sid in sids if rng.random() < 0.5}
                state = orjson.dumps({"r": {}, "s": {str(k): v for k, v in member.items()}})
                device_rows.append({"tenant_id": tenant_id, "uuid": uuid, "version": 1,
                                    "state": state.decode(), "last_seen_ms": at})  # fmt: skip
                change_rows += [{"tenant_id": tenant_id, "uuid": uuid, "segment_id": sid,
                                 "status": 1, "at_ms": t} for sid, t in member.items()]  # fmt: skip
            conn.execute(devices.insert(), device_rows)
            conn.execute(changes.insert(), change_rows)
    return int(dest_id)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(url: str, dest: int, out: Path, work: Path, engine: str) -> dict[str, Any]:
    """One full export in this process, timed as a whole and step by step."""
    settings = Settings(database_url=url, dmp_export_local_root=str(out),
                        dmp_export_work_dir=str(work), batch_engine=engine,
                        _env_file=None)  # type: ignore[call-arg]  # fmt: skip
    db = Database(url)
    chosen = engine_named(engine)
    steps: dict[str, list[float]] = {}
    original_snapshot = export.write_snapshot
    original_rows = chosen.compute_rows

    def timed_snapshot(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), _cpu()
        result = original_snapshot(*args, **kwargs)
        steps["snapshot"] = [time.perf_counter() - wall, _cpu() - cpu]
        return result

    def timed_rows(*args: Any, **kwargs: Any) -> Any:
        # The engine's time to its first row, then rows and writer interleave (a generator).
        wall, cpu = time.perf_counter(), _cpu()
        rows = original_rows(*args, **kwargs)
        first = next(rows, None)
        steps["engine_first_row"] = [time.perf_counter() - wall, _cpu() - cpu]
        if first is not None:
            yield first
        yield from rows

    export.write_snapshot = timed_snapshot  # type: ignore[assignment]
    chosen.compute_rows = timed_rows  # type: ignore[method-assign]
    wall, cpu = time.perf_counter(), _cpu()
    outcome = export.run_export(db, dest, 1_767_312_000_000, "full", settings=settings,
                                engine=chosen)  # fmt: skip
    total = [time.perf_counter() - wall, _cpu() - cpu]
    db.dispose()
    return {
        "engine": engine,
        "wall_s": round(total[0], 2),
        "cpu_s": round(total[1], 2),
        "snapshot_wall_s": round(steps["snapshot"][0], 2),
        "snapshot_cpu_s": round(steps["snapshot"][1], 2),
        "engine_first_row_wall_s": round(steps["engine_first_row"][0], 2),
        "rows": outcome.rows,
        "files": len(outcome.files),
        "bytes": sum(f["FileByteSize"] for f in outcome.files),
        "rows_per_s": round(outcome.rows / total[0]),
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--segments", type=int, default=20)
    parser.add_argument("--engine", action="append", help="duckdb (default), spark; repeatable")
    parser.add_argument("--keep", help="folder for the database and files (default: temporary)")
    parser.add_argument("--measure", nargs=5, metavar=("URL", "DEST", "OUT", "WORK", "ENGINE"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args()
    if args.measure:
        url, dest, out, work, engine = args.measure
        print(json.dumps(measure(url, int(dest), Path(out), Path(work), engine)))
        return
    base = Path(args.keep or tempfile.mkdtemp(prefix="cible-export-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{base / 'bench.db'}"
    upgrade(url)
    db = Database(url)
    started = time.perf_counter()
    dest = seed(db, base / "out", args.profiles, args.segments)
    seeded = time.perf_counter() - started
    db.dispose()
    results = []
    for engine in args.engine or ["duckdb"]:
        out, work = base / "out", base / f"work-{engine}"
        # Each engine in a fresh process, so neither inherits the other's caches or JVM.
        proc = subprocess.run(
            [sys.executable, __file__, "--measure", url, str(dest), str(out), str(work), engine],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            results.append({"engine": engine, "error": proc.stderr.strip().splitlines()[-1:]})
            continue
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        # The next engine writes a new run: forget this one (same slot, same destination).
        with Database(url).engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM dmp_export_runs")
    print(json.dumps({
        "benchmark": "dmp_export",
        "profiles": args.profiles,
        "segments": args.segments,
        "seed_s": round(seeded, 1),
        "results": results,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_avg": os.getloadavg()},
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
