"""The file-transfer report in-process: inbound receipts per data source (times, rows, errors
with samples, md5) and outbound messages and batch file runs per destination."""

from __future__ import annotations

import hashlib

import httpx
import orjson
import pytest
from sqlalchemy import select

from cible.dmp.tables import DataSource
from cible.dmp.transfers.idsync import IdSyncImporter
from cible.dmp.transfers.inbound import Importer
from cible.dmp.transfers.tables import DELIVERED, Destination, ExportRun, S2SMessage
from cible.store import Database
from tests.ui.test_audience_manager import _sign_in, people  # noqa: F401 - people: a fixture

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("people")]


def _uuid(n: int) -> str:
    return str(10**37 + n)


async def test_inbound_and_outbound_transfers(http: httpx.AsyncClient, database: Database) -> None:
    await _sign_in(http, "ana")
    with database.session() as s:
        sources = dict(s.execute(select(DataSource.name, DataSource.id)).all())
        tenant = s.scalar(select(DataSource.tenant_id))
    site, crm = sources["Site"], sources["CRM"]
    ids = f"{_uuid(1)}\tcust-1\nbroken line\n".encode()
    IdSyncImporter(database, f"adobe_id_0_{site}_1700000000.sync", ids).run()
    data = b"cust-1\tplan=gold\n"
    Importer(database, f"ftp_dpm_{crm}_1700000001.sync", data).run()

    page = await http.get("/ui/acme/transfers")
    assert page.status_code == 200
    assert f"adobe_id_0_{site}_1700000000.sync" in page.text and "ID sync" in page.text
    assert hashlib.md5(ids).hexdigest() in page.text
    assert "1 columns where the file name declares 2" in page.text  # the sampled bad row
    assert f"ftp_dpm_{crm}_1700000001.sync" in page.text
    only = await http.get(f"/ui/acme/transfers?source={site}")
    assert "adobe_id_0_" in only.text and "ftp_dpm_" not in only.text
    assert "No outbound transfer yet." in page.text

    with database.session() as s:
        assert tenant is not None
        dest = Destination(tenant_id=tenant, name="Partner", destination_type="S2S", config="{}")
        s.add(dest)
        s.flush()
        s.add(
            S2SMessage(
                tenant_id=tenant,
                destination_id=dest.id,
                idempotency_key="k-1",
                body="{}",
                users=7,
                state=DELIVERED,
                attempts=1,
                created_ms=1_700_000_000_000,
                delivered_ms=1_700_000_001_000,
            )
        )
        files = [
            {"FileName": "ftp_1_full_1700000000000.sync.gz", "FileSequenceNumber": 1,
             "FileByteSize": 120, "FileLineCount": 9, "md5": "0" * 31 + "f"}
        ]  # fmt: skip
        s.add(
            ExportRun(
                tenant_id=tenant,
                destination_id=dest.id,
                scheduled_ms=1_700_000_000_000,
                mode="full",
                state="done",
                engine="duckdb",
                rows=9,
                files=orjson.dumps(files).decode(),
                started_ms=1_700_000_002_000,
                finished_ms=1_700_000_003_000,
            )
        )
        dest_id = dest.id
    page = await http.get(f"/ui/acme/transfers?destination={dest_id}")
    assert "message" in page.text and "2023-11-14 22:13:21 UTC" in page.text
    assert "ftp_1_full_1700000000000.sync.gz: 9 rows, 120 bytes" in page.text
    assert "0" * 31 + "f" in page.text and "batch file (full)" in page.text
    other = await http.get(f"/ui/acme/transfers?destination={dest_id + 1}")
    assert "No outbound transfer yet." in other.text
