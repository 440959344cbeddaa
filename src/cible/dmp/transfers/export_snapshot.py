"""A batch export's input, frozen: Parquet files of memberships, changes and declared ids.

The export job writes the snapshot once per run, in a temporary folder renamed into place when
complete, and keeps it until the run is done: a run restarted after a crash computes its rows
from the very same snapshot, so its files are the same as an uninterrupted run's whatever
happened to the profiles meanwhile. Engines (``cible.dmp.transfers.export_engine``) read only
these files, never the database, so DuckDB and Spark see the same input.

What goes in: the current memberships of the mapped segments (from each device's state), the
membership changes of those segments after the previous run's last change id up to the last
change id when the snapshot starts (``cutoffChange``), and the declared ids of the data sources
the rows carry. Opted-out devices and ids are left out (Adobe Audience Manager, "Opt-out
management": an opted-out user is not sent to destinations); authenticated profiles are not
devices and are never exported.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, Table, func, select

from cible.dmp.devices import is_authenticated_key
from cible.dmp.tables import Device, DeviceId, MembershipChange, OptOut
from cible.dmp.transfers.export_engine import CHANGES, IDS, INFO, MEMBERSHIPS, ExportSpec

_DEVICES: Table = Device.__table__  # type: ignore[assignment]
_CHANGES: Table = MembershipChange.__table__  # type: ignore[assignment]
_IDS: Table = DeviceId.__table__  # type: ignore[assignment]
_OPT_OUTS: Table = OptOut.__table__  # type: ignore[assignment]
BATCH = 50_000

MEMBERSHIP_SCHEMA = pa.schema(
    [("uuid", pa.string()), ("sid", pa.int32()), ("since_ms", pa.int64())]
)
CHANGE_SCHEMA = pa.schema(
    [
        ("change_id", pa.int64()),
        ("uuid", pa.string()),
        ("sid", pa.int32()),
        ("status", pa.int8()),
        ("at_ms", pa.int64()),
    ]
)
ID_SCHEMA = pa.schema(
    [
        ("uuid", pa.string()),
        ("dpid", pa.int32()),
        ("external_id", pa.string()),
        ("updated_ms", pa.int64()),
    ]
)


def is_complete(folder: Path) -> bool:
    return (folder / INFO).is_file()


def read_info(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads((folder / INFO).read_bytes())
    return data


def write_snapshot(
    conn: Connection,
    tenant_id: int,
    spec: ExportSpec,
    since: int | None,
    folder: Path,
    *,
    changes: bool = True,
) -> dict[str, Any]:
    """Writes the snapshot to ``folder`` (replacing a partial one) and returns its info.

    ``changes=False`` (a ``full`` run, whose rows never read them) leaves ``changes.parquet``
    empty."""
    if is_complete(folder):
        return read_info(folder)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    cutoff = int(
        conn.scalar(select(func.coalesce(func.max(_CHANGES.c.id), 0)).where(
            _CHANGES.c.tenant_id == tenant_id
        ))
        or 0
    )  # fmt: skip
    opted = _opted_out(conn, tenant_id)
    sids = set(spec.sids)
    _write(partial / MEMBERSHIPS, MEMBERSHIP_SCHEMA, _memberships(conn, tenant_id, sids, opted))
    found = _changes(conn, tenant_id, spec, since, cutoff, opted) if changes else iter(())
    _write(partial / CHANGES, CHANGE_SCHEMA, found)
    _write(partial / IDS, ID_SCHEMA, _ids(conn, tenant_id, spec, opted))
    info = {
        "sinceChange": since,
        "cutoffChange": cutoff,
        "takenMs": time.time_ns() // 1_000_000,
        "sids": sorted(sids),
        "dpids": sorted(spec.dpids),
    }
    (partial / INFO).write_bytes(orjson.dumps(info))
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return info


def _opted_out(conn: Connection, tenant_id: int) -> set[tuple[str, str]]:
    rows = conn.execute(
        select(_OPT_OUTS.c.namespace, _OPT_OUTS.c.external_id).where(
            _OPT_OUTS.c.tenant_id == tenant_id
        )
    )
    return {(str(n), str(x)) for n, x in rows}


def _write(path: Path, schema: pa.Schema, batches: Iterable[dict[str, list[Any]]]) -> None:
    with pq.ParquetWriter(path, schema) as writer:
        wrote = False
        for columns in batches:
            arrays = [pa.array(columns[f.name], type=f.type) for f in schema]
            writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
            wrote = True
        if not wrote:
            writer.write_table(schema.empty_table())


def _memberships(
    conn: Connection, tenant_id: int, sids: set[int], opted: set[tuple[str, str]]
) -> Iterator[dict[str, list[Any]]]:
    uuids: list[str] = []
    segs: list[int] = []
    times: list[int] = []
    rows = conn.execution_options(stream_results=True, yield_per=BATCH).execute(
        select(_DEVICES.c.uuid, _DEVICES.c.state).where(_DEVICES.c.tenant_id == tenant_id)
    )
    for uuid, state in rows:
        if is_authenticated_key(uuid) or ("uuid", uuid) in opted:
            continue
        for sid, since_ms in orjson.loads(state).get("s", {}).items():
            if int(sid) in sids:
                uuids.append(uuid)
                segs.append(int(sid))
                times.append(int(since_ms))
        if len(uuids) >= BATCH:
            yield {"uuid": uuids, "sid": segs, "since_ms": times}
            uuids, segs, times = [], [], []
    if uuids:
        yield {"uuid": uuids, "sid": segs, "since_ms": times}


def _changes(
    conn: Connection,
    tenant_id: int,
    spec: ExportSpec,
    since: int | None,
    cutoff: int,
    opted: set[tuple[str, str]],
) -> Iterator[dict[str, list[Any]]]:
    if not spec.sids:
        return
    query = (
        select(_CHANGES.c.id, _CHANGES.c.uuid, _CHANGES.c.segment_id, _CHANGES.c.status,
               _CHANGES.c.at_ms)
        .where(
            _CHANGES.c.tenant_id == tenant_id,
            _CHANGES.c.id > (since or 0),
            _CHANGES.c.id <= cutoff,
            _CHANGES.c.segment_id.in_(spec.sids),
        )
        .order_by(_CHANGES.c.id)
    )  # fmt: skip
    names = ("change_id", "uuid", "sid", "status", "at_ms")
    chunk: list[Any] = []
    for row in conn.execution_options(stream_results=True, yield_per=BATCH).execute(query):
        if ("uuid", row[1]) not in opted:
            chunk.append(tuple(row))
        if len(chunk) >= BATCH:
            yield dict(zip(names, map(list, zip(*chunk, strict=True)), strict=True))
            chunk = []
    if chunk:
        yield dict(zip(names, map(list, zip(*chunk, strict=True)), strict=True))


def _ids(
    conn: Connection, tenant_id: int, spec: ExportSpec, opted: set[tuple[str, str]]
) -> Iterator[dict[str, list[Any]]]:
    if not spec.dpids:
        return
    query = select(_IDS.c.uuid, _IDS.c.namespace, _IDS.c.external_id, _IDS.c.updated_ms).where(
        _IDS.c.tenant_id == tenant_id, _IDS.c.namespace.in_([str(d) for d in spec.dpids])
    )
    names = ("uuid", "dpid", "external_id", "updated_ms")
    chunk: list[Any] = []
    for uuid, namespace, external, updated in conn.execution_options(
        stream_results=True, yield_per=BATCH
    ).execute(query):
        if ("uuid", uuid) in opted or (namespace, external) in opted:
            continue
        chunk.append((uuid, int(namespace), external, int(updated)))
        if len(chunk) >= BATCH:
            yield dict(zip(names, map(list, zip(*chunk, strict=True)), strict=True))
            chunk = []
    if chunk:
        yield dict(zip(names, map(list, zip(*chunk, strict=True)), strict=True))
