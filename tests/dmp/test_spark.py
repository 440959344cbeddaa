"""The Spark engine gives DuckDB's rows, hence byte-identical files and manifests.

The only Spark test in CI: one SparkSession (``local[2]``, started offline), one snapshot of a
few thousand devices, both modes. Slow because a JVM starts.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import fsspec  # type: ignore[import-untyped]
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cible.dmp.transfers.export_engine import (
    CHANGES,
    IDS,
    MEMBERSHIPS,
    ExportSpec,
    engine_named,
)
from cible.dmp.transfers.export_snapshot import CHANGE_SCHEMA, ID_SCHEMA, MEMBERSHIP_SCHEMA
from cible.dmp.transfers.export_writer import FileFormat, FileWriter

# A JVM starts in seconds on an idle machine, minutes on a loaded one: a wide timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _uuid(n: int) -> str:
    return str(10**37 + n)


def _snapshot(folder: Path, devices: int = 3_000) -> Path:
    """Memberships, changes and declared ids with ties and unmapped segments and DPIDs."""
    rng = random.Random(18)
    members: dict[str, list[object]] = {"uuid": [], "sid": [], "since_ms": []}
    changes: dict[str, list[object]] = {"change_id": [], "uuid": [], "sid": [], "status": [],
                                        "at_ms": []}  # fmt: skip
    ids: dict[str, list[object]] = {"uuid": [], "dpid": [], "external_id": [], "updated_ms": []}
    change = 0
    for n in rng.sample(range(devices * 3), devices):
        uuid = _uuid(n)
        for sid in rng.sample(range(1, 12), rng.randint(0, 5)):
            members["uuid"].append(uuid)
            members["sid"].append(sid)
            members["since_ms"].append(rng.randint(1, 10**12))
        for _ in range(rng.randint(0, 4)):
            change += 1
            for key, value in (
                ("change_id", change),
                ("uuid", uuid),
                ("sid", rng.randint(1, 12)),
                ("status", rng.randint(0, 1)),
                ("at_ms", rng.randint(1, 10**12)),
            ):
                changes[key].append(value)  # fmt: skip
        for _ in range(rng.randint(0, 3)):
            ids["uuid"].append(uuid)
            ids["dpid"].append(rng.choice((21, 22, 23)))
            ids["external_id"].append(f"p{rng.randint(0, 50)}")
            ids["updated_ms"].append(rng.choice((5, 6, rng.randint(1, 10**12))))  # ties
    pq.write_table(pa.table(members, schema=MEMBERSHIP_SCHEMA), folder / MEMBERSHIPS)
    pq.write_table(pa.table(changes, schema=CHANGE_SCHEMA), folder / CHANGES)
    pq.write_table(pa.table(ids, schema=ID_SCHEMA), folder / IDS)
    return folder


@pytest.fixture(scope="module")
def spark_engine() -> Iterator[object]:
    from cible.dmp.transfers import export_spark

    try:
        yield export_spark.SparkEngine("local[2]")
    finally:
        export_spark.stop()


SPEC = ExportSpec(destination_id=7, sids=(1, 2, 3, 5, 8, 11), dpids=(21, 22))
SCALARS = {"SYNC_TYPE": "ftp", "ORDER_ID": "7", "TIMESTAMP": "1486140844000"}


def test_spark_rows_and_files_are_duckdbs(tmp_path: Path, spark_engine: object) -> None:
    from cible.dmp.transfers.export_spark import SparkEngine

    assert isinstance(spark_engine, SparkEngine)
    assert isinstance(engine_named("spark"), SparkEngine)
    (tmp_path / "snap").mkdir()
    snapshot = _snapshot(tmp_path / "snap")
    duck = engine_named("duckdb")
    fs = fsspec.filesystem("file")
    for mode, since in (("full", None), ("iter", 2_000)):
        expected = list(duck.compute_rows(snapshot, SPEC, mode, since))
        got = list(spark_engine.compute_rows(snapshot, SPEC, mode, since))
        assert len(expected) > 500 and any(r.removed for r in expected) == (mode == "iter")
        assert got == expected, mode
        fmt = FileFormat(max_lines=400, scalars={**SCALARS, "SYNC_MODE": mode})
        out = {}
        for name, rows in (("duckdb", expected), ("spark", got)):
            folder = tmp_path / f"{mode}-{name}"
            manifest = FileWriter(fs, str(folder), fmt, f"run-{mode}").write(iter(rows))
            out[name] = (manifest.to_json(), {p.name: p.read_bytes() for p in folder.iterdir()})
        assert out["spark"] == out["duckdb"]
        assert len(out["spark"][1]) > 2  # split files and the .info manifest
    # No mapped segment: no row on either engine.
    assert list(spark_engine.compute_rows(snapshot, ExportSpec(7, (), ()), "full", None)) == []
