"""The watched inbound location: the recurring job imports each dropped file once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fsspec  # type: ignore[import-untyped]
import pytest
from fsspec.implementations.memory import MemoryFileSystem  # type: ignore[import-untyped]
from sqlalchemy import select

from cible.config import get_settings
from cible.dmp.transfers import watch
from cible.dmp.transfers.schedules import SCHEDULES
from cible.dmp.transfers.tables import InboundFile
from cible.jobs import run_pending
from cible.jobs.scheduler import Scheduler
from cible.jobs.tables import DONE, Job
from cible.store import Database
from tests.conftest import Credential, FakeClock
from tests.dmp._kit import Aam

pytestmark = pytest.mark.anyio


def _uuid(n: int) -> str:
    return str(10**37 + n)


def _files(database: Database) -> list[tuple[str, str]]:
    with database.session() as s:
        rows = s.execute(select(InboundFile.file_name, InboundFile.state).order_by(InboundFile.id))
        return [(str(r[0]), str(r[1])) for r in rows]


async def test_the_job_imports_dropped_files_once(
    http: Any,
    acme: Credential,
    database: Database,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    aam = Aam(http, acme)
    ds = await aam.data_source("CRM")
    gold = await aam.trait('plan == "gold"', ds, await aam.folder(), traitType="ON_BOARDED_TRAIT")
    drop = tmp_path / "drop"
    drop.mkdir()
    monkeypatch.setenv("CIBLE_DMP_INBOUND_DIR", f"file://{drop}")
    get_settings.cache_clear()
    scan = [s for s in SCHEDULES if s.kind == "dmp.inbound.scan"]
    scheduler = Scheduler(database, clock=clock, schedules=scan)

    def run() -> list[str]:
        clock.advance(minutes=5)
        fired = scheduler.tick()
        run_pending(database, now=clock())
        with database.session() as s:
            states = [s.get(Job, f.job_id).state for f in fired if f.job_id]  # type: ignore[union-attr]
        return states

    try:
        scheduler.tick()
        # Data and the ID sync it needs, dropped together: the sync is applied first.
        (drop / f"ftp_dpm_{ds}_1700000100.sync").write_bytes(b"cust-1\tplan=gold\n")
        (drop / f"adobe_id_0_{ds}_1700000000.sync").write_bytes(f"{_uuid(1)}\tcust-1\n".encode())
        (drop / "readme.txt").write_text("not a transfer file")
        (drop / f"ftp_dpm_{ds}_1700000300.sync.tmp").write_text("still uploading")
        assert run() == [DONE]
        assert _files(database) == [
            (f"adobe_id_0_{ds}_1700000000.sync", "done"),
            (f"ftp_dpm_{ds}_1700000100.sync", "done"),
        ]
        assert gold in (await aam.event({"c_page": "x"}, _uuid(1))).json()["traits"]

        assert run() == [DONE]  # nothing new: nothing imported again
        assert len(_files(database)) == 2

        # The same name with new content (another md5) is a new file.
        (drop / f"ftp_dpm_{ds}_1700000100.sync").write_bytes(b"cust-1\tplan=gold,x=1\n")
        (drop / f"ftp_dpm_{ds}_1700000300.sync.tmp").rename(drop / f"ftp_dpm_{ds}_1700000300.sync")
        assert run() == [DONE]
        assert [f for f, _ in _files(database)][2:] == [
            f"ftp_dpm_{ds}_1700000100.sync",
            f"ftp_dpm_{ds}_1700000300.sync",
        ]
        history = await aam.call("GET", f"/v1/datasources/{ds}/history/inbound")
        assert history[-1]["formatErrors"] == 1  # "still uploading" has no TAB
    finally:
        get_settings.cache_clear()


async def test_any_fsspec_url_and_unread_unchanged_files(
    http: Any, acme: Credential, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    aam = Aam(http, acme)
    ds = await aam.data_source("CRM")
    fs = fsspec.filesystem("memory")
    root = "/cible-watch-test"
    fs.pipe(f"{root}/adobe_id_0_{ds}_1700000000.sync", f"{_uuid(1)}\tcust-1\n".encode())
    fs.pipe(f"{root}/ftp_dpm_999999_1700000000.sync", b"x\ty=1\n")  # unknown data source
    reads: list[str] = []
    original = MemoryFileSystem.cat_file

    def counted(self: Any, path: str, *args: Any, **kwargs: Any) -> Any:
        reads.append(path.rsplit("/", 1)[-1])
        return original(self, path, *args, **kwargs)

    monkeypatch.setattr(MemoryFileSystem, "cat_file", counted)
    try:
        assert watch.scan(database, f"memory://{root}") == 1
        assert sorted(reads) == [
            f"adobe_id_0_{ds}_1700000000.sync",
            "ftp_dpm_999999_1700000000.sync",
        ]
        reads.clear()
        # Imported after its last change: not read again. The failed file is tried again.
        assert watch.scan(database, f"memory://{root}") == 0
        assert reads == ["ftp_dpm_999999_1700000000.sync"]
    finally:
        fs.rm(root, recursive=True)
    assert watch.options("") == {}
    assert watch.options('{"anon": true}') == {"anon": True}
    with pytest.raises(ValueError, match="JSON object"):
        watch.options("[1]")
    assert watch.is_transfer_file(f"adobe_id_0_{ds}_1700000000.sync.gz")
    assert not watch.is_transfer_file("ftp_dpm_1_1700000000.sync.tmp")
