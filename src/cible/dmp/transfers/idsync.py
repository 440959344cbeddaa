"""ID synchronization files: AAM UUIDs (or device ids) mapped to partner ids in batch.

Before an onboarding file can qualify a partner's user ids, each id must be synced to a device
(Adobe Audience Manager, "Batch data transfer process described": first sync the ids, then send
the data). Besides the DCS's ``d_cid``/``/ibs`` calls, a partner may send the mappings as a file
named ``adobe_id_<MASTERDPID>_<DPID>[_<DPID>…]_<TIMESTAMP>.sync[.<N>][.gz]`` ("ID
synchronization files for batch data transfers"). Each row holds tab-separated ids, one column
per DPID in the name, in that order: the first column is the device (master DPID ``0`` means AAM
UUIDs, 38 digits; another master DPID names a device-id data source such as 20914 for Android
advertising ids), each following column the partner's id in that data source.

A row is applied as the DCS applies a declared id: every partner id is mapped to the device, the
most recent mapping winning (``cible.dmp.devices.map_ids``); a device id of a non-zero master
DPID not seen before gets a new UUID. Bad rows are counted and sampled and never stop the file;
ids of an opted-out device or user are not mapped. Progress commits with each chunk's mappings,
so a crashed import resumes, and a file applied before (same name and md5) is not applied again.
The receipt is kept with the inbound files' receipts (``GET /v1/datasources/{id}/history/inbound``
of the first partner data source).

    >>> parse_name("adobe_id_0_12345_1476312152.sync").dpids
    (12345,)
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection

from cible.dmp import devices
from cible.dmp.tables import DataSource
from cible.dmp.transfers.inbound import (
    CHUNK,
    MAX_LINE,
    SAMPLES,
    FileImport,
    file_lines,
    file_record,
    invalid_id,
)
from cible.dmp.transfers.tables import InboundFile
from cible.errors import BadRequest

NAME = re.compile(
    r"^adobe_id_(?P<dpids>\d{1,10}(?:_\d{1,10})+)_(?P<ts>\d{10})"
    r"\.sync(?:\.(?P<split>\d{1,6}))?(?P<gz>\.gz)?$"
)
UUID_DPID = 0  # AAM's DPID of its own UUIDs


@dataclass(frozen=True)
class IdSyncName:
    master: int
    dpids: tuple[int, ...]
    timestamp: int
    split: int | None
    gzipped: bool


def parse_name(name: str) -> IdSyncName | None:
    found = NAME.match(name)
    if found is None:
        return None
    master, *dpids = (int(p) for p in found["dpids"].split("_"))
    if UUID_DPID in dpids:
        return None  # AAM UUIDs are the master column only
    return IdSyncName(
        master,
        tuple(dpids),
        int(found["ts"]),
        int(found["split"]) if found["split"] else None,
        bool(found["gz"]),
    )


def _fresh_receipt(name: str) -> dict[str, Any]:
    return {
        "fileName": name,
        "recordsReceived": 0,
        "recordsProcessed": 0,
        "formatErrors": 0,
        "invalidIds": 0,
        "optedOut": 0,
        "storedRecords": 0,
        "idsSynced": 0,
        "newDevices": 0,
        "samples": {},
    }


def _sample(receipt: dict[str, Any], kind: str, line: int, text: str, reason: str) -> None:
    taken = receipt["samples"].setdefault(kind, [])
    if len(taken) < SAMPLES:
        taken.append({"line": line, "text": text[:200], "reason": reason})


class IdSyncImporter(FileImport[IdSyncName]):
    """Applies one ID-sync file; ``progress(lines_done)`` is called after each chunk.

    receipt = IdSyncImporter(db, "adobe_id_0_21_1700000000.sync", data).run()
    receipt["idsSynced"]
    """

    expected = "adobe_id_<MASTERDPID>_<DPID>…_<TIMESTAMP>.sync"
    parse = staticmethod(parse_name)

    def run(self) -> dict[str, Any]:
        """Applies the file (or resumes it); returns its receipt."""
        record = self._record()
        receipt: dict[str, Any] = orjson.loads(record.receipt)
        if record.state == "done":
            return receipt
        done = record.lines_done
        chunk: list[tuple[int, bytes]] = []
        number = 0
        for raw in file_lines(self.data, self.parsed.gzipped):
            number += 1
            if number <= done:
                continue
            chunk.append((number, raw))
            if len(chunk) == CHUNK:
                receipt = self._chunk(record.id, chunk, receipt)
                self.progress(number)
                chunk = []
        receipt = self._chunk(record.id, chunk, receipt, last=True)
        self.progress(number)
        return receipt

    def _record(self) -> InboundFile:
        with self.db.session() as s:
            sources = [s.get(DataSource, d) for d in self.parsed.dpids]
            master = (
                s.get(DataSource, self.parsed.master) if self.parsed.master != UUID_DPID else None
            )
            tenants = {d.tenant_id for d in sources if d is not None}
            if master is not None:
                tenants.add(master.tenant_id)
            if (
                None in sources
                or len(tenants) != 1
                or (self.parsed.master != UUID_DPID and master is None)
            ):
                dpids = ", ".join(str(d) for d in (self.parsed.master, *self.parsed.dpids))
                raise BadRequest.fields([("file", f"data sources {dpids} are not all known")])
            first = sources[0]
            assert first is not None
            self.tenant_id = first.tenant_id
            start = _fresh_receipt(self.name) | {"startTime": self.now_ms, "endTime": None}
            return file_record(
                s, self.tenant_id, first.id, self.name, self.data, self.md5, start, self.now_ms
            )

    def _chunk(
        self,
        record_id: int,
        chunk: list[tuple[int, bytes]],
        receipt: dict[str, Any],
        *,
        last: bool = False,
    ) -> dict[str, Any]:
        with self.db.session() as s:
            conn = s.connection()
            for number, raw in chunk:
                receipt["recordsReceived"] += 1
                receipt["recordsProcessed"] += 1
                self._row(conn, number, raw, receipt)
            row = s.get(InboundFile, record_id)
            assert row is not None
            row.lines_done += len(chunk)
            if last:
                row.state, row.finished_ms = "done", time.time_ns() // 1_000_000
            receipt = receipt | {"startTime": row.started_ms, "endTime": row.finished_ms}
            row.receipt = orjson.dumps(receipt).decode()
            return receipt

    def _row(self, conn: Connection, number: int, raw: bytes, receipt: dict[str, Any]) -> None:
        def bad(kind: str, reason: str, text: str) -> None:
            receipt["formatErrors" if kind == "formatError" else "invalidIds"] += 1
            _sample(receipt, kind, number, text, reason)

        shown = raw[:200].decode(errors="replace")
        if len(raw) > MAX_LINE:
            bad("formatError", f"longer than {MAX_LINE} bytes", shown)
            return
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            bad("formatError", "not UTF-8", shown)
            return
        cells = text.split("\t")
        want = 1 + len(self.parsed.dpids)
        if len(cells) != want:
            bad("formatError", f"{len(cells)} columns where the file name declares {want}", text)
            return
        device, partners = cells[0].strip(), [c.strip() for c in cells[1:]]
        if not device or not any(partners):
            bad("formatError", "a device id and at least one partner id are needed", text)
            return
        if self.parsed.master == UUID_DPID and not devices.is_uuid(device):
            bad("invalidId", "an AAM UUID has 38 digits", text)
            return
        for value in partners:
            reason = invalid_id(value, "a partner id") if value else None
            if reason:
                bad("invalidId", reason, text)
                return
        ids = [(str(d), v) for d, v in zip(self.parsed.dpids, partners, strict=True) if v]
        master = [] if self.parsed.master == UUID_DPID else [(str(self.parsed.master), device)]
        found = devices.lookup(conn, self.tenant_id, master) if master else device
        uuid = found or devices.new_uuid()
        if devices.opted_out(conn, self.tenant_id, [*ids, *master, (devices.UUID_NAMESPACE, uuid)]):
            receipt["optedOut"] += 1
            _sample(receipt, "optedOut", number, text, "the device or an id opted out")
            return
        if found is None:
            # A device id seen for the first time: a new device, as the DCS would make it.
            receipt["newDevices"] += 1
            devices.map_ids(conn, self.tenant_id, uuid, master, self.now_ms)
        devices.map_ids(conn, self.tenant_id, uuid, ids, self.now_ms)
        receipt["storedRecords"] += 1
        receipt["idsSynced"] += len(ids)
