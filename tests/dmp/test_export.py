"""Batch file destinations: API, scheduled full and iter runs, history, local/SFTP/S3, SIGKILL."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select, text

from cible.config import get_settings
from cible.dmp.tables import Device, MembershipChange
from cible.dmp.transfers import export
from cible.dmp.transfers.tables import Destination, ExportRun
from cible.jobs import run_pending
from cible.store import Database
from cible.store.base import utcnow
from tests.conftest import Credential
from tests.dmp._export_servers import PASSWORD, USER, s3_server, sftp_server
from tests.dmp._kit import Aam

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
DAY_MS = 86_400_000
NAME = "<SYNC_MODE>_<TIMESTAMP><SPLITNUM>.sync"  # no ORDER_ID: two destinations, same names


@pytest.fixture
def export_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "exports"
    root.mkdir()
    monkeypatch.setenv("CIBLE_DMP_EXPORT_LOCAL_ROOT", str(root))
    monkeypatch.setenv("CIBLE_DMP_EXPORT_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("CIBLE_OUTBOUND_ALLOWED_NETWORKS", "127.0.0.1/32")
    get_settings.cache_clear()
    yield root
    get_settings.cache_clear()


def _uuid(n: int) -> str:
    return str(10**37 + n)


async def _segments(aam: Aam) -> tuple[int, int, int]:
    ds = await aam.data_source()
    tf, sf = await aam.folder(), await aam.folder("segments")
    trait = await aam.trait('c_x == "1"', ds, tf)
    return tuple([await aam.segment(f"{trait}T", ds, sf, name=f"s{i}") for i in range(3)])  # type: ignore[return-value]


async def _destination(
    aam: Aam, sids: tuple[int, ...], location: dict[str, Any], **extra: Any
) -> int:
    body = {"name": "batch", "destinationType": "FILE", "location": location, **extra}
    dest = int((await aam.call("POST", "/v1/destinations/", body, 201))["destinationId"])
    for sid in sids:
        await aam.call("POST", f"/v1/destinations/{dest}/mappings/", {"sid": sid}, 201)
    return dest


def _seed(db: Database, dest: int, sids: tuple[int, int, int], n: int, at_ms: int) -> None:
    """Devices 0..n-1: in sids[0] when even, sids[1] when divisible by 3, sids[2] (not mapped)
    when divisible by 5; one entry change per membership."""
    with db.session() as s:
        tenant = s.get(Destination, dest).tenant_id  # type: ignore[union-attr]
        devices, changes = [], []
        for i in range(n):
            segs = {sid: at_ms + i for sid, k in zip(sids, (2, 3, 5), strict=True) if i % k == 0}
            state = orjson.dumps({"r": {}, "s": {str(k): v for k, v in segs.items()}}).decode()
            devices.append({"tenant_id": tenant, "uuid": _uuid(i), "version": 1, "state": state,
                            "last_seen_ms": at_ms})  # fmt: skip
            changes += [{"tenant_id": tenant, "uuid": _uuid(i), "segment_id": sid, "status": 1,
                         "at_ms": t} for sid, t in segs.items()]  # fmt: skip
        s.execute(Device.__table__.insert(), devices)
        s.execute(MembershipChange.__table__.insert(), changes)


def _leave(db: Database, dest: int, sid: int, devices: range, at_ms: int) -> None:
    with db.session() as s:
        tenant = s.get(Destination, dest).tenant_id  # type: ignore[union-attr]
        for i in devices:
            row = s.get(Device, (tenant, _uuid(i)))
            assert row is not None
            state = orjson.loads(row.state)
            if state["s"].pop(str(sid), None) is not None:
                row.state = orjson.dumps(state).decode()
                s.add(MembershipChange(tenant_id=tenant, uuid=_uuid(i), segment_id=sid,
                                       status=0, at_ms=at_ms))  # fmt: skip


def _lines(folder: Path, manifest: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for f in manifest["Files"]:
        data = (folder / f["FileName"]).read_bytes()
        out += gzip.decompress(data).decode().splitlines()
    return out


def _expected_full(n: int, sids: tuple[int, int, int]) -> list[str]:
    rows = []
    for i in range(n):
        segs = [str(sid) for sid, k in zip(sids[:2], (2, 3), strict=True) if i % k == 0]
        if segs:
            rows.append(f"{_uuid(i)} {','.join(segs)} ")
    return sorted(rows)


async def test_file_destination_settings_are_checked_and_secrets_masked(
    http: Any, acme: Credential, database: Database, export_env: Path
) -> None:
    aam = Aam(http, acme)
    base = {"name": "b", "destinationType": "FILE"}
    await aam.call("POST", "/v1/destinations/", base, 400)  # no location
    for url in ("ftp://h/x", "file://host/x", "sftp:///x", "s3://b/x?y=1"):
        await aam.call("POST", "/v1/destinations/", {**base, "location": {"url": url}}, 400)
    loc = {"url": "sftp://127.0.0.1/out", "username": USER, "password": PASSWORD}
    for bad in ({"contentTemplate": "<UUID> <TRAIT_LIST>"}, {"fileNameTemplate": "<UUID>"},
                {"contentTemplate": "<DP_UUID>"}, {"everyMinutes": 0}):  # fmt: skip
        await aam.call("POST", "/v1/destinations/", {**base, "location": loc, **bad}, 400)
    made = await aam.call("POST", "/v1/destinations/", {**base, "location": loc}, 201)
    assert made["location"]["password"] == "********"
    assert (made["syncMode"], made["everyMinutes"], made["gzip"]) == ("iter", 1440, True)
    dest = made["destinationId"]
    again = {**base, "location": made["location"], "maxFileLines": 10}
    await aam.call("PUT", f"/v1/destinations/{dest}", again, 200)
    with database.session() as s:
        config = orjson.loads(s.get(Destination, dest).config)  # type: ignore[union-attr]
    assert config["location"]["password"] == PASSWORD  # the mask sent back kept the secret


async def test_scheduled_full_then_iter_runs_and_history(
    http: Any, acme: Credential, database: Database, export_env: Path
) -> None:
    aam = Aam(http, acme)
    sids = await _segments(aam)
    folder = export_env / "partner"
    dest = await _destination(aam, sids[:2], {"url": f"file://{folder}"}, everyMinutes=60,
                              maxFileLines=500, syncMode="full", fileNameTemplate=NAME)  # fmt: skip
    with database.session() as s:
        created = int(s.get(Destination, dest).create_time.timestamp() * 1000)  # type: ignore[union-attr]
    _seed(database, dest, sids, 2000, created)
    slot = export.slot_ms({"everyMinutes": 60}, created + 3_600_000)
    assert export.sweep(database, created - 1) == []  # no slot before the destination existed
    assert export.sweep(database, created + 3_600_000) == [(dest, slot)]
    assert export.sweep(database, created + 3_600_000) == []  # already enqueued
    run_pending(database, now=utcnow() + timedelta(days=1))
    info = orjson.loads((folder / f"full_{slot}.info").read_bytes())
    assert info["Totals"]["TotalNumberLines"] == len(_expected_full(2000, sids)) == 1333
    assert [f["FileName"] for f in info["Files"]] == [
        f"full_{slot}{n:03d}.sync.gz" for n in (1, 2, 3)
    ]
    assert _lines(folder, info) == _expected_full(2000, sids)
    history = await aam.call("GET", f"/v1/destinations/{dest}/history/outbound")
    (run,) = history
    assert run["transferType"] == "FILE" and run["state"] == "done" and run["rows"] == 1333
    assert [(f["fileName"], f["md5"], f["rows"]) for f in run["files"]] == [
        (f["FileName"], f["md5"], f["FileLineCount"]) for f in info["Files"]
    ]
    assert run["scheduledTime"] == slot and run["startTime"] <= run["endTime"]
    # A repeated job for a done run writes nothing again.
    (folder / f"full_{slot}.info").unlink()
    export.run_export(database, dest, slot, "full")
    assert not (folder / f"full_{slot}.info").exists()

    # iter: the change since the full run. Devices 0..99 leave sids[0].
    body = {"name": "batch", "destinationType": "FILE", "location": {"url": f"file://{folder}"},
            "syncMode": "iter", "everyMinutes": 60, "fileNameTemplate": NAME}  # fmt: skip
    await aam.call("PUT", f"/v1/destinations/{dest}", body, 200)
    _leave(database, dest, sids[0], range(100), created + 4_000_000)
    export.sweep(database, created + 2 * 3_600_000)
    run_pending(database, now=utcnow() + timedelta(days=1))
    nxt = slot + 3_600_000
    info = orjson.loads((folder / f"iter_{nxt}.info").read_bytes())
    expected = sorted(
        f"{_uuid(i)} {sids[1] if i % 3 == 0 else ''} {sids[0]}" for i in range(0, 100, 2)
    )
    assert _lines(folder, info) == expected
    assert [r["syncMode"] for r in await aam.call(
        "GET", f"/v1/destinations/{dest}/history/outbound")] == ["full", "iter"]  # fmt: skip


def test_local_location_outside_the_root_is_refused(tmp_path: Path, export_env: Path) -> None:
    from cible.dmp.transfers.locations import LocationError, open_location

    with pytest.raises(LocationError, match="not under"):
        open_location({"url": f"file://{tmp_path}/elsewhere"}, get_settings())
    assert open_location({"url": f"file://{export_env}/a"}, get_settings()).sync_type == "ftp"


async def test_s3_location(
    http: Any, acme: Credential, database: Database, export_env: Path
) -> None:
    import boto3

    aam = Aam(http, acme)
    sids = await _segments(aam)
    with s3_server() as endpoint:
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="k",
                          aws_secret_access_key="s", region_name="us-east-1")  # fmt: skip
        s3.create_bucket(Bucket="partner")
        location = {"url": "s3://partner/aam/in", "endpointUrl": endpoint, "accessKeyId": "k",
                    "secretAccessKey": "s", "region": "us-east-1"}  # fmt: skip
        dest = await _destination(aam, sids[:2], location, maxFileLines=300)
        _seed(database, dest, sids, 600, 1_000)
        outcome = export.run_export(database, dest, 1_700_000_000_000, "full")
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="partner")["Contents"])
        names = [f["FileName"] for f in outcome.files]
        info = f"ftp_{dest}_full_1700000000000.info".replace("ftp", "s3")
        assert keys == sorted(f"aam/in/{n}" for n in [*names, info])
        body = s3.get_object(Bucket="partner", Key=f"aam/in/{info}")["Body"].read()
        manifest = orjson.loads(body)
        lines: list[str] = []
        for f in manifest["Files"]:
            data = s3.get_object(Bucket="partner", Key=f"aam/in/{f['FileName']}")["Body"].read()
            lines += gzip.decompress(data).decode().splitlines()
        assert lines == _expected_full(600, sids)


def test_locations_are_guarded(export_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cible.dmp.transfers.locations import open_location
    from cible.jobs.outbound import OutboundBlocked

    monkeypatch.setenv("CIBLE_OUTBOUND_ALLOWED_NETWORKS", "")
    get_settings.cache_clear()
    for location in ({"url": "sftp://127.0.0.1:1/x"},
                     {"url": "s3://b/x", "endpointUrl": "http://127.0.0.1:1"}):  # fmt: skip
        with pytest.raises(OutboundBlocked):
            open_location(location, get_settings())


def _export_cli(database_url: str, dest: int, at: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "CIBLE_DATABASE_URL": database_url}
    return subprocess.Popen(
        [sys.executable, "-m", "cible", "dmp", "export", str(dest), "--full", "--at", str(at),
         "--json"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


@pytest.mark.slow
async def test_sigkill_mid_export_then_restart_writes_the_same_files(
    http: Any, acme: Credential, database: Database, database_url: str, export_env: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    aam = Aam(http, acme)
    sids = await _segments(aam)
    plain = export_env / "plain"
    sftp_root = tmp_path / "sftp"
    (sftp_root / "in").mkdir(parents=True)
    at = 1_700_000_000_000
    common = {"fileNameTemplate": NAME, "maxFileLines": 200}
    reference = await _destination(aam, sids[:2], {"url": f"file://{plain}"}, **common)
    with sftp_server(sftp_root, hold_at=3) as server:
        location = {"url": f"sftp://127.0.0.1:{server.port}/in", "username": USER,
                    "password": PASSWORD, "hostKey": server.host_key}  # fmt: skip
        killed = await _destination(aam, sids[:2], location, **common)
        _seed(database, reference, sids, 3000, 5_000)
        export.run_export(database, reference, at, "full")
        child = _export_cli(database.url, killed, at)
        try:
            while not server.reached.wait(0.05):
                assert child.poll() is None, child.stderr.read() if child.stderr else ""
            child.send_signal(signal.SIGKILL)
        finally:
            child.communicate(timeout=60)
        assert child.returncode == -signal.SIGKILL
        with database.session() as s:
            run = s.scalar(select(ExportRun).where(ExportRun.destination_id == killed))
            assert run is not None and run.state == "running" and run.attempts == 1
            assert run.files == "[]"
        assert not (sftp_root / "in" / f"full_{at}.info").exists()
        assert any(p.name.endswith(".part") for p in (sftp_root / "in").iterdir())
        # Between the crash and the restart the profiles change; the restart uses its snapshot.
        _leave(database, killed, sids[0], range(50), 9_000)
        server.released.set()
        again = _export_cli(database.url, killed, at)
        out, err = again.communicate(timeout=300)
        assert again.returncode == 0, err.decode()
    ref_files = sorted(p.name for p in plain.iterdir())
    assert ref_files == sorted(p.name for p in (sftp_root / "in").iterdir())  # no .part left
    for name in ref_files:
        assert (plain / name).read_bytes() == (sftp_root / "in" / name).read_bytes(), name
    manifest = orjson.loads((plain / f"full_{at}.info").read_bytes())
    assert manifest["Totals"]["TotalNumberFiles"] == 10
    assert orjson.loads(out)["files"] == manifest["Files"]  # what the restarted CLI printed
    lines = _lines(plain, manifest)
    assert lines == _expected_full(3000, sids) and len(set(lines)) == len(lines)
    with database.session() as s:
        run = s.scalar(select(ExportRun).where(ExportRun.destination_id == killed))
        assert run is not None and run.state == "done" and run.attempts == 2
        assert s.execute(text("SELECT count(*) FROM dmp_export_runs")).scalar_one() == 2
