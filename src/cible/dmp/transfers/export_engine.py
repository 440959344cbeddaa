"""The seam between a batch export's snapshot and its files: engines compute sorted rows.

A batch file export (``cible.dmp.transfers.export``) runs in three steps:

1. the job writes a Parquet snapshot of what the destination's rows need
   (``cible.dmp.transfers.export_snapshot``);
2. an :class:`ExportEngine` reads that snapshot and yields :class:`ExportRow` values sorted by
   UUID (each row's lists sorted too);
3. the one Python file writer (``cible.dmp.transfers.export_writer``) renders, splits, gzips and
   delivers them.

Engines differ only in step 2, so every engine's files are byte-identical for one snapshot.
DuckDB (embedded, no extension downloaded) is the default; another engine registers itself in
:data:`ENGINES` under the name ``CIBLE_BATCH_ENGINE`` selects.

A row of an incremental (``iter``) run is a device with a membership change after the previous
run (``change_id > since``): its current mapped segments and the mapped segments it left since
(Adobe Audience Manager, "Outbound file name and content": ``iter`` holds only the changes since
the last sync). A ``full`` run has a row per device in at least one mapped segment and no removed
segments ("In a full sync you can ignore the removed list").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple, Protocol

Mode = Literal["full", "iter"]
MODES: tuple[Mode, ...] = ("full", "iter")

# The snapshot's files and columns (see cible.dmp.transfers.export_snapshot).
MEMBERSHIPS = "memberships.parquet"  # uuid: string, sid: int32, since_ms: int64
CHANGES = (
    "changes.parquet"  # change_id: int64, uuid: string, sid: int32, status: int8, at_ms: int64
)
IDS = "ids.parquet"  # uuid: string, dpid: int32, external_id: string, updated_ms: int64
INFO = "snapshot.json"  # {"sinceChange", "cutoffChange", "takenMs", "sids", "dpids"}


class ExportRow(NamedTuple):
    """One device's line before rendering.

    ``segments``: ``(sid, entered_ms)`` sorted by sid; ``removed``: ``(sid, left_ms)`` sorted by
    sid; ``ids``: ``(dpid, external_id)`` sorted by dpid, then most recently mapped first, then
    by id.
    """

    uuid: str
    segments: tuple[tuple[int, int], ...]
    removed: tuple[tuple[int, int], ...]
    ids: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class ExportSpec:
    """What an engine needs of the destination (its settings are the writer's business)."""

    destination_id: int
    sids: tuple[int, ...]  # the mapped segments
    dpids: tuple[int, ...]  # the data sources whose declared ids the rows carry


class ExportEngine(Protocol):
    """Computes a run's rows from its snapshot folder."""

    name: str

    def compute_rows(
        self, snapshot_dir: Path, spec: ExportSpec, mode: Mode, since: int | None
    ) -> Iterator[ExportRow]:
        """The rows sorted by UUID; ``since`` is the last change id the previous run exported
        (None: no previous run, every change counts)."""
        ...


class DuckDBEngine:
    """The embedded default: one DuckDB query over the snapshot's Parquet files."""

    name = "duckdb"

    def __init__(self, threads: int = 2, batch: int = 20_000) -> None:
        self.threads = threads
        self.batch = batch

    def compute_rows(
        self, snapshot_dir: Path, spec: ExportSpec, mode: Mode, since: int | None
    ) -> Iterator[ExportRow]:
        import duckdb

        sids = list(spec.sids) or [-1]
        dpids = list(spec.dpids) or [-1]
        folder = snapshot_dir.as_posix().replace("'", "''")
        con = duckdb.connect(":memory:", config={"threads": self.threads})
        try:
            con.execute(f"CREATE VIEW m AS SELECT * FROM read_parquet('{folder}/{MEMBERSHIPS}')")
            con.execute(f"CREATE VIEW c AS SELECT * FROM read_parquet('{folder}/{CHANGES}')")
            con.execute(f"CREATE VIEW i AS SELECT * FROM read_parquet('{folder}/{IDS}')")
            params: dict[str, object] = {"sids": sids, "dpids": dpids}
            if mode == "iter":
                params["since"] = since or 0
            cursor = con.execute(_QUERY[mode], params)
            while chunk := cursor.fetchmany(self.batch):
                for uuid, segments, removed, ids in chunk:
                    yield ExportRow(
                        uuid,
                        tuple((int(v["s"]), int(v["t"])) for v in segments or ()),
                        tuple((int(v["s"]), int(v["t"])) for v in removed or ()),
                        tuple((int(v["d"]), str(v["x"])) for v in ids or ()),
                    )
        finally:
            con.close()


_MEMBERS = """
members AS (
    SELECT uuid, list(struct_pack(s := sid, t := since_ms) ORDER BY sid) AS segments
    FROM m WHERE list_contains($sids, sid) GROUP BY uuid
)"""
_IDS = """
ids AS (
    SELECT uuid,
           list(struct_pack(d := dpid, x := external_id)
                ORDER BY dpid, updated_ms DESC, external_id) AS ids
    FROM i WHERE list_contains($dpids, dpid) GROUP BY uuid
)"""
_ROWS = """
SELECT u.uuid, m2.segments, {removed}, ids.ids
FROM {users} u
LEFT JOIN members m2 USING (uuid)
LEFT JOIN ids USING (uuid)
ORDER BY u.uuid
"""
_QUERY: dict[Mode, str] = {
    "full": f"WITH {_MEMBERS}, {_IDS}"
    + _ROWS.format(removed="NULL::STRUCT(s INTEGER, t BIGINT)[]", users="members"),
    "iter": f"""WITH {_MEMBERS}, {_IDS},
changed AS (
    SELECT uuid, sid, arg_max(status, change_id) AS status, arg_max(at_ms, change_id) AS at_ms
    FROM c WHERE change_id > $since AND list_contains($sids, sid) GROUP BY uuid, sid
),
users AS (SELECT DISTINCT uuid FROM changed),
removed AS (
    SELECT ch.uuid, list(struct_pack(s := ch.sid, t := ch.at_ms) ORDER BY ch.sid) AS removed
    FROM changed ch ANTI JOIN m ON m.uuid = ch.uuid AND m.sid = ch.sid
    WHERE ch.status = 0 GROUP BY ch.uuid
)"""
    + _ROWS.format(removed="r.removed", users="users").replace(
        "LEFT JOIN ids", "LEFT JOIN removed r USING (uuid)\nLEFT JOIN ids"
    ),
}

# Engines by CIBLE_BATCH_ENGINE name; a factory per name, so an engine's imports stay lazy.
ENGINES: dict[str, Callable[[], ExportEngine]] = {"duckdb": DuckDBEngine}


def _spark() -> ExportEngine:
    from cible.dmp.transfers.export_spark import engine  # pyspark is optional: import late

    return engine()


ENGINES["spark"] = _spark


def engine_named(name: str) -> ExportEngine:
    factory = ENGINES.get(name)
    if factory is None:
        raise ValueError(f"no batch export engine named {name!r} (known: {sorted(ENGINES)})")
    return factory()
