"""The batch export engine on Apache Spark, for users whose profiles outgrow one machine.

Selected with ``CIBLE_BATCH_ENGINE=spark``; ``CIBLE_SPARK_MASTER`` names the cluster
(``local[2]`` by default: two threads in this process's JVM). It reads the same Parquet snapshot
as the DuckDB engine (``cible.dmp.transfers.export_snapshot``; no JDBC, so no driver jar to
fetch) and computes the same rows with the DataFrame API, which the one Python file writer
renders: for one snapshot, the files are byte-identical to DuckDB's. The semantics are those of
``cible.dmp.transfers.export_engine`` (the DuckDB query there is the reference): rows sorted by
UUID, segments and removed segments by sid, declared ids by DPID, then most recent first, then
by id. Spark compares strings by their UTF-8 bytes, as DuckDB and Python do.

A JVM takes seconds to start, so the session is made once per process and kept for later runs.
pyspark is an optional dependency (the ``spark`` extra); it is imported on first use only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cible.dmp.transfers.export_engine import (
    CHANGES,
    IDS,
    MEMBERSHIPS,
    ExportRow,
    ExportSpec,
    Mode,
)

_LOCK = threading.Lock()
_SESSIONS: dict[str, Any] = {}


def session(master: str = "local[2]", driver_memory: str = "4g") -> Any:
    """The process's SparkSession for ``master``, started on first use with ``driver_memory``
    (the rows come back to the driver: Spark's default 1 GB fails a 1,000,000-profile export,
    BENCHMARKS.md)."""
    with _LOCK:
        found = _SESSIONS.get(master)
        if found is not None:
            return found
        from pyspark.sql import SparkSession

        builder = (
            SparkSession.builder.master(master)
            .appName("cible-batch-export")
            .config("spark.ui.enabled", "false")
            # A few thousand to millions of small rows: a handful of partitions, not 200.
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.driver.memory", driver_memory)
        )
        if master.startswith("local"):
            # Bind to loopback: no lookup of this host's name, which can stall when offline.
            builder = builder.config("spark.driver.host", "127.0.0.1").config(
                "spark.driver.bindAddress", "127.0.0.1"
            )
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        _SESSIONS[master] = spark
        return spark


def stop() -> None:
    """Stops the sessions this process started (tests, and a worker shutting down)."""
    with _LOCK:
        for spark in _SESSIONS.values():
            spark.stop()
        _SESSIONS.clear()


def engine() -> SparkEngine:
    """The engine ``CIBLE_BATCH_ENGINE=spark`` names, on ``CIBLE_SPARK_MASTER``."""
    from cible.config import get_settings

    settings = get_settings()
    return SparkEngine(settings.spark_master, settings.spark_driver_memory)


class SparkEngine:
    """Computes a run's rows with Spark SQL's DataFrame API.

    >>> rows = SparkEngine().compute_rows(snapshot, spec, "full", None)  # doctest: +SKIP
    """

    name = "spark"

    def __init__(self, master: str = "local[2]", driver_memory: str = "4g") -> None:
        self.master, self.driver_memory = master, driver_memory

    def compute_rows(
        self, snapshot_dir: Path, spec: ExportSpec, mode: Mode, since: int | None
    ) -> Iterator[ExportRow]:
        from pyspark.sql import functions as F  # noqa: N812 - pyspark's own convention

        spark = session(self.master, self.driver_memory)
        folder = snapshot_dir.as_posix()
        sids, dpids = list(spec.sids), list(spec.dpids)
        m = spark.read.parquet(f"{folder}/{MEMBERSHIPS}").where(F.col("sid").isin(sids))
        members = m.groupBy("uuid").agg(
            F.sort_array(
                F.collect_list(F.struct(F.col("sid").alias("s"), F.col("since_ms").alias("t")))
            ).alias("segments")
        )
        # Sorted by (dpid, newest first, id), then reduced to (dpid, id).
        ordered = F.sort_array(
            F.collect_list(
                F.struct(
                    F.col("dpid").alias("d"),
                    (-F.col("updated_ms")).alias("n"),
                    F.col("external_id").alias("x"),
                )
            )
        )
        ids = (
            spark.read.parquet(f"{folder}/{IDS}")
            .where(F.col("dpid").isin(dpids))
            .groupBy("uuid")
            .agg(F.transform(ordered, lambda e: F.struct(e["d"], e["x"])).alias("ids"))
        )
        if mode == "full":
            rows = members.join(ids, "uuid", "left").select(
                "uuid", "segments", F.lit(None).alias("removed"), "ids"
            )
        else:
            changed = (
                spark.read.parquet(f"{folder}/{CHANGES}")
                .where((F.col("change_id") > (since or 0)) & F.col("sid").isin(sids))
                .groupBy("uuid", "sid")
                .agg(
                    F.max_by("status", "change_id").alias("status"),
                    F.max_by("at_ms", "change_id").alias("at_ms"),
                )
            )
            removed = (
                changed.where(F.col("status") == 0)
                .join(m.select("uuid", "sid"), ["uuid", "sid"], "left_anti")
                .groupBy("uuid")
                .agg(
                    F.sort_array(
                        F.collect_list(F.struct(F.col("sid").alias("s"), F.col("at_ms").alias("t")))
                    ).alias("removed")
                )
            )
            rows = (
                changed.select("uuid")
                .distinct()
                .join(members, "uuid", "left")
                .join(removed, "uuid", "left")
                .join(ids, "uuid", "left")
                .select("uuid", "segments", "removed", "ids")
            )
        for row in rows.orderBy("uuid").toLocalIterator(prefetchPartitions=True):
            yield ExportRow(
                row["uuid"],
                tuple((int(v[0]), int(v[1])) for v in row["segments"] or ()),
                tuple((int(v[0]), int(v[1])) for v in row["removed"] or ()),
                tuple((int(v[0]), str(v[1])) for v in row["ids"] or ()),
            )
