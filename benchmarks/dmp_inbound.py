"""Inbound onboarding file rows applied per second (``cible.dmp.transfers.inbound``), in process.

A fresh SQLite database (or ``--database-url``) with one tenant, one data source and two
onboarded traits (``ic == "55"`` and ``plan == "gold"``) in a segment; a ``.sync`` file of
``--rows`` lines over ``--devices`` AAM UUIDs, every line realizing a trait (half by ``ic``, half
by a key-value pair), 1 % malformed. Times ``Importer.run`` (parse, resolve, qualify, write by
compare-and-set in chunks of 5,000 lines, receipt) and prints JSON.

    .venv/bin/python benchmarks/dmp_inbound.py [--rows 100000] [--devices 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from cible.dmp.tables import DataSource, Folder, Segment, Trait
from cible.dmp.transfers.inbound import Importer
from cible.store import Database, upgrade
from cible.tenants.service import create_tenant


def setup(db: Database) -> int:
    with db.session() as s:
        tenant = create_tenant(s, "bench")
        s.flush()
        ds = DataSource(tenant_id=tenant.id, name="CRM")
        s.add(ds)
        s.flush()
        folder = Folder(tenant_id=tenant.id, kind="traits", name="t")
        seg_folder = Folder(tenant_id=tenant.id, kind="segments", name="s")
        s.add_all([folder, seg_folder])
        s.flush()
        sids = []
        for rule in ('ic == "55"', 'plan == "gold"'):
            trait = Trait(
                tenant_id=tenant.id,
                name=rule,
                trait_type="ON_BOARDED_TRAIT",
                trait_rule=rule,
                data_source_id=ds.id,
                folder_id=folder.id,
            )
            s.add(trait)
            s.flush()
            sids.append(trait.id)
        s.add(
            Segment(
                tenant_id=tenant.id,
                name="either",
                segment_rule=f"{sids[0]}T OR {sids[1]}T",
                data_source_id=ds.id,
                folder_id=seg_folder.id,
            )
        )
        return int(ds.id)


def data(rows: int, devices: int) -> bytes:
    lines = []
    for n in range(rows):
        uuid = str(10**37 + n % devices)
        if n % 100 == 99:
            lines.append(f"{uuid} broken")
        elif n % 2:
            lines.append(f"{uuid}\t55")
        else:
            lines.append(f'{uuid}\t"plan"="gold",age=40')
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        db = Database(url)
        dpid = setup(db)
        payload = data(args.rows, args.devices)
        started = time.perf_counter()
        cpu = time.process_time()
        receipt = Importer(db, f"ftp_dpm_{dpid}_1700000000.sync", payload).run()
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu
        db.dispose()
    print(
        json.dumps(
            {
                "benchmark": "dmp_inbound",
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "python": platform.python_version(),
                "database": "sqlite" if not args.database_url else args.database_url.split(":")[0],
                "rows": args.rows,
                "devices": args.devices,
                "bytes": len(payload),
                "seconds": round(seconds, 2),
                "cpu_seconds": round(cpu_seconds, 2),
                "rows_per_second": round(args.rows / seconds),
                "stored_records": receipt["storedRecords"],
                "format_errors": receipt["formatErrors"],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
