"""ID-sync files: names, mappings (most recent wins), receipts, bad rows, idempotence."""

from __future__ import annotations

import gzip
from typing import Any

import orjson
import pytest

from cible.dmp import devices
from cible.dmp.tables import DataSource
from cible.dmp.transfers.idsync import IdSyncImporter, parse_name
from cible.dmp.transfers.inbound import Importer
from cible.errors import BadRequest
from cible.store import Database
from tests.conftest import Credential
from tests.dmp._kit import Aam

pytestmark = pytest.mark.anyio


def _uuid(n: int) -> str:
    return str(10**37 + n)


def test_names() -> None:
    one = parse_name("adobe_id_0_12345_1476312152.sync")
    assert one is not None and (one.master, one.dpids, one.split) == (0, (12345,), None)
    two = parse_name("adobe_id_20914_21_22_1476312152.sync.3.gz")
    assert two is not None and (two.master, two.dpids, two.split, two.gzipped) == (
        20914,
        (21, 22),
        3,
        True,
    )
    for bad in (
        "adobe_id_0_1476312152.sync",  # no partner DPID
        "adobe_id_0_12_147631215.sync",  # 9-digit timestamp
        "adobe_id_0_12_1476312152.overwrite",
        "adobe_id_12_0_1476312152.sync",  # AAM UUIDs only as the master column
        "c2c_id_0_12_1476312152.sync",
    ):
        assert parse_name(bad) is None, bad


def _lookup(database: Database, dpid: int | str, external: str) -> str | None:
    with database.session() as s:
        ds = s.get(DataSource, int(dpid)) if int(dpid) else None
        tenant = ds.tenant_id if ds else 1
        return devices.lookup(s.connection(), tenant, [(str(dpid), external)])


async def test_mappings_receipt_and_reprocessing(
    http: Any, acme: Credential, database: Database
) -> None:
    aam = Aam(http, acme)
    ds = await aam.data_source("CRM")
    folder = await aam.folder()
    gold = await aam.trait('plan == "gold"', ds, folder, traitType="ON_BOARDED_TRAIT")
    rows = [
        f"{_uuid(1)}\tcust-1",
        f"{_uuid(2)}\tcust-2",
        f"{_uuid(3)}\tcust-3\textra",  # a column the name does not declare
        "12345\tcust-4",  # not an AAM UUID
        f"{_uuid(4)}\tbad:id",  # a DPUUID may not hold ':'
        f"{_uuid(4)}\t",  # no partner id
        f"{_uuid(3)}\tcust-1",  # cust-1 moves to device 3: the later row wins
    ]
    name = f"adobe_id_0_{ds}_1700000000.sync"
    data = gzip.compress(("\n".join(rows) + "\n").encode(), mtime=0)
    receipt = IdSyncImporter(database, name + ".gz", data, now_ms=1_000).run()
    counted = {
        k: receipt[k]
        for k in ("recordsReceived", "formatErrors", "invalidIds", "storedRecords", "idsSynced")
    }
    assert counted == {
        "recordsReceived": 7,
        "formatErrors": 2,
        "invalidIds": 2,
        "storedRecords": 3,
        "idsSynced": 3,
    }
    assert [s["line"] for s in receipt["samples"]["formatError"]] == [3, 6]
    assert receipt["samples"]["invalidId"][1]["text"] == f"{_uuid(4)}\tbad:id"
    assert receipt["endTime"] is not None
    assert _lookup(database, ds, "cust-1") == _uuid(3)
    assert _lookup(database, ds, "cust-2") == _uuid(2)
    assert _lookup(database, ds, "cust-4") is None

    # A later file maps cust-2 elsewhere; the first one again changes nothing back.
    later = f"adobe_id_0_{ds}_1700000100.sync"
    IdSyncImporter(database, later, f"{_uuid(5)}\tcust-2\n".encode(), now_ms=2_000).run()
    assert IdSyncImporter(database, name + ".gz", data, now_ms=3_000).run() == receipt
    assert _lookup(database, ds, "cust-2") == _uuid(5)

    # Synced ids are what an onboarding file's rows name.
    onboard = Importer(database, f"ftp_dpm_{ds}_1700000200.sync", b"cust-1\tplan=gold\n").run()
    assert (onboard["storedRecords"], onboard["noMatchingIds"]) == (1, 0)
    assert gold in (await aam.event({"c_page": "x"}, _uuid(3))).json()["traits"]

    history = await aam.call(
        "GET", f"/v1/datasources/{ds}/history/inbound?includeSamplingDetails=true"
    )
    assert [h["fileName"] for h in history] == [
        name + ".gz",
        later,
        f"ftp_dpm_{ds}_1700000200.sync",
    ]
    assert history[0]["idsSynced"] == 3 and history[0]["state"] == "done"
    assert history[0]["samples"]["formatError"][0]["line"] == 3


async def test_device_ids_as_master_and_unknown_sources(
    http: Any, acme: Credential, database: Database
) -> None:
    aam = Aam(http, acme)
    ds = await aam.data_source("CRM")
    gaid = await aam.data_source("Android ids", idType="DEVICE_ADVERTISING_ID")
    name = f"adobe_id_{gaid}_{ds}_1700000000.sync"
    rows = b"ad-1\tcust-1\nad-1\tcust-2\nad-2\tcust-3\n"
    receipt = IdSyncImporter(database, name, rows).run()
    assert (receipt["storedRecords"], receipt["newDevices"], receipt["idsSynced"]) == (3, 2, 3)
    first = _lookup(database, gaid, "ad-1")
    assert first is not None and devices.is_uuid(first)
    assert _lookup(database, ds, "cust-1") == _lookup(database, ds, "cust-2") == first
    assert _lookup(database, ds, "cust-3") == _lookup(database, gaid, "ad-2") != first
    with pytest.raises(BadRequest):
        IdSyncImporter(database, f"adobe_id_0_{ds}_999999_1700000000.sync", rows).run()
    with pytest.raises(BadRequest):
        IdSyncImporter(database, "ftp_dpm_1_1700000000.sync", rows)


async def test_cli_imports_an_id_sync_file(
    http: Any,
    acme: Credential,
    database: Database,
    database_url: str,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from cible.cli import app
    from cible.config import get_settings

    ds = await Aam(http, acme).data_source("CRM")
    path = tmp_path / f"adobe_id_0_{ds}_1700000000.sync.gz"
    rows = f"{_uuid(1)}\tcust-1\n{_uuid(2)}\tcust-2\nnot-a-uuid\tcust-3\n"
    path.write_bytes(gzip.compress(rows.encode(), mtime=0))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CIBLE_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["dmp", "import", str(path), "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    receipt = orjson.loads(result.stdout)
    assert (receipt["idsSynced"], receipt["invalidIds"]) == (2, 1)
    assert _lookup(database, ds, "cust-2") == _uuid(2)
