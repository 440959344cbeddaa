"""Inbound onboarding files: names, lines, AAM's receipt counters, overwrite, idempotence."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from cible.dmp.transfers import inbound, watch
from cible.dmp.transfers.inbound import Importer, Line, parse_line, parse_name
from cible.dmp.transfers.tables import InboundFile
from cible.errors import BadRequest
from cible.store import Database
from tests.conftest import Credential
from tests.dmp._kit import Aam

pytestmark = pytest.mark.anyio


def test_names() -> None:
    one = parse_name("ftp_dpm_478_567_1366545717.sync.2.gz")
    assert one is not None and (one.dpid, one.owner, one.split, one.gzipped) == (478, 567, 2, True)
    two = parse_name("ftp_dpm_478_1366545717.overwrite")
    assert two is not None and two.overwrite and two.owner == 478 and two.split is None
    for bad in ("ftp_dpm_478_136654571.sync", "ftp_dpm_478_1366545717.zip", "x.sync"):
        assert parse_name(bad) is None


def test_lines() -> None:
    line = parse_line('u1\td_sid=24,d_unsid=28,29:0,30:-1,55,ic=56,"Age"="32",-gender=m')
    assert isinstance(line, Line)
    assert line.adds == [24] and line.removes == [28, 29, 30] and line.tokens == 8
    assert line.signals == {"ic": ["55", "56"], "age": ["32"], "gender": ["m"]}
    for bad in ("u1 d_sid=1", "\td_sid=1", "u1\t", "u1\td_sid=x", "u1\tfoo", "u1\ta=1,,b=2"):
        assert isinstance(parse_line(bad), str), bad


async def _taxonomy(aam: Aam) -> dict[str, int]:
    ds = await aam.data_source("CRM")
    other = await aam.data_source("Other")
    tf, sf = await aam.folder(), await aam.folder("segments")
    ids = {"ds": ds, "other": other}
    onboarded = {"traitType": "ON_BOARDED_TRAIT"}
    ids["gold"] = await aam.trait('plan == "gold"', ds, tf, **onboarded)
    ids["ic55"] = await aam.trait('ic == "55"', ds, tf, **onboarded)
    ids["direct"] = await aam.trait('ic == "direct"', ds, tf, **onboarded)
    ids["foreign"] = await aam.trait('ic == "77"', other, tf, **onboarded)
    ids["segment"] = await aam.segment(f"{ids['gold']}T OR {ids['ic55']}T", ds, sf)
    return ids


def _uuid(n: int) -> str:
    return str(10**37 + n)


async def test_receipt_counts_exactly_and_reimport_changes_nothing(
    http: Any, acme: Credential, database: Database
) -> None:
    aam = Aam(http, acme)
    ids = await _taxonomy(aam)
    ds = ids["ds"]
    await aam.event([("c_page", "x"), ("d_cid", f"{ds}\x01cust-1")], _uuid(1))  # synced id
    lines = [
        "cust-1\tplan=gold",  # realizes gold: stored
        f"{_uuid(2)}\t55,d_sid={ids['direct']}",  # two traits: stored
        f"{_uuid(3)}\tplan=silver",  # nothing realized
        f"{_uuid(3)}\td_sid={ids['foreign']}",  # a trait of another data source: failed
        "cust-9\tplan=gold",  # never synced: no matching id
        "bad:id\tplan=gold",  # invalid id
        "no tab here",  # format error
        f"{_uuid(2)}\td_unsid={ids['direct']}",  # removal: stored
    ]
    name = f"ftp_dpm_{ds}_1700000000.sync"
    receipt = Importer(database, name, "\n".join(lines).encode() + b"\n").run()
    expected = {
        "recordsReceived": 8,
        "recordsProcessed": 8,
        "formatErrors": 1,
        "invalidIds": 1,
        "noMatchingIds": 1,
        "noTraitRealized": 2,
        "storedRecords": 3,
        "totalDevices": 2,
        "totalSignals": 6,
        "unusedSignals": 1,
        "realizedTraits": 3,
        "removedTraits": 1,
        "failedValidationTraits": 1,
        "usersWithFailedValidation": 1,
    }
    assert {k: receipt[k] for k in expected} == expected
    assert receipt["samples"]["formatError"][0]["line"] == 7
    assert receipt["endTime"] >= receipt["startTime"]
    first = (await aam.event({"c_page": "y"}, _uuid(1))).json()
    assert ids["gold"] in first["traits"] and ids["segment"] in first["segments"]
    second = (await aam.event({"c_page": "y"}, _uuid(2))).json()
    assert ids["ic55"] in second["traits"] and ids["direct"] not in second["traits"]
    # The same file again: the same receipt, nothing applied twice.
    assert Importer(database, name, "\n".join(lines).encode() + b"\n").run() == receipt
    history = await aam.call("GET", f"/v1/datasources/{ds}/history/inbound")
    assert [h["fileName"] for h in history] == [name] and "samples" not in history[0]
    assert history[0]["storedRecords"] == 3
    sampled = await aam.call(
        "GET", f"/v1/datasources/{ds}/history/inbound?includeSamplingDetails=true"
    )
    assert sampled[0]["samples"]["invalidId"][0]["text"] == "bad:id"
    other = await aam.call("GET", f"/v1/datasources/{ids['other']}/history/inbound")
    assert other == []


async def test_overwrite_replaces_the_owners_traits(
    http: Any, acme: Credential, database: Database
) -> None:
    aam = Aam(http, acme)
    ids = await _taxonomy(aam)
    ds = ids["ds"]
    sync = f"{_uuid(5)}\tplan=gold,55\n".encode()
    Importer(database, f"ftp_dpm_{ds}_1700000000.sync", sync).run()
    data = gzip.compress(f"{_uuid(5)}\tic=55,d_unsid={ids['ic55']}\n".encode(), mtime=0)
    receipt = Importer(database, f"ftp_dpm_{ds}_1700000100.overwrite.gz", data).run()
    # gold was dropped, ic55 realized again (d_unsid is ignored in an overwrite)
    assert receipt["removedTraits"] == 1 and receipt["realizedTraits"] == 1
    state = (await aam.event({"c_page": "z"}, _uuid(5))).json()
    assert ids["gold"] not in state["traits"] and ids["ic55"] in state["traits"]
    assert ids["segment"] in state["segments"]


async def test_unknown_data_source_is_refused(database: Database) -> None:
    with pytest.raises(Exception, match="data source 999999"):
        Importer(database, "ftp_dpm_999999_1700000000.sync", b"u\tplan=gold\n").run()
    with pytest.raises(BadRequest) as refused:
        Importer(database, "adobe_id_0_21_1700000000.sync", b"u\tplan=gold\n")
    assert "ftp_dpm_<DPID>[_<OWNER>]_<TIMESTAMP>.sync|overwrite" in str(refused.value)


async def test_a_privacy_deletion_takes_the_users_ids_out_of_receipts(
    http: Any, acme: Credential, database: Database
) -> None:
    aam = Aam(http, acme)
    ids = await _taxonomy(aam)
    ds, ecid = ids["ds"], "12345678901234567890123456789012345678"
    await aam.event([("c_page", "x"), ("d_mid", ecid), ("d_cid", f"{ds}\x01cust-1")], _uuid(1))
    await aam.event([("c_page", "x"), ("d_cid", f"{ds}\x01cust-2")], _uuid(2))
    lines = []
    for user in ("cust-1", "cust-2"):
        lines += [
            f"{user} plan=gold",  # format error, sampled
            f"{user}\td_sid={ids['foreign']}",  # failed validation: a failed user
            f"{user}\tplan=gold",  # stored: the device is counted
        ]
    Importer(database, f"ftp_dpm_{ds}_1700000000.sync", "\n".join(lines).encode()).run()
    path = f"/v1/datasources/{ds}/history/inbound?includeSamplingDetails=true"
    (before,) = await aam.call("GET", path)
    assert "cust-1" in orjson.dumps(before["samples"]).decode()

    by_ecid = {"id": ecid, "kind": "marketingCloudVisitorId"}
    deleted = await http.delete(
        "/acme/target/privacy/visitor", params=by_ecid, headers=acme.headers
    )
    assert deleted.status_code == 200, deleted.text

    (after,) = await aam.call("GET", path)
    samples = orjson.dumps(after["samples"]).decode()
    assert "cust-1" not in samples and "cust-2" in samples
    assert {k: v for k, v in after.items() if k != "samples"} == {
        k: v for k, v in before.items() if k != "samples"
    }
    with database.session() as s:
        (record,) = s.scalars(select(InboundFile))
        assert orjson.loads(record.devices) == [_uuid(2)]
        assert orjson.loads(record.failed_users) == ["cust-2"]


def _big_file(ids: dict[str, int]) -> tuple[bytes, dict[str, int]]:
    """100,000 rows over 1,000 devices, every 100th line malformed."""
    out = []
    for n in range(100_000):
        if n % 100 == 99:
            out.append(f"{_uuid(n % 1000)} plan=gold")  # a space instead of the TAB
        elif n % 2:
            out.append(f"{_uuid(n % 1000)}\tplan=gold,x=1")
        else:
            out.append(f"{_uuid(n % 1000)}\td_sid={ids['direct']}")
    lines = 100_000
    bad = 1_000
    odd_good = sum(1 for n in range(100_000) if n % 100 != 99 and n % 2)
    expected = {
        "recordsReceived": lines,
        "formatErrors": bad,
        "storedRecords": lines - bad,
        # Users 99, 199 … 999 only ever get the malformed lines (n % 100 == 99).
        "totalDevices": 990,
        "realizedTraits": lines - bad,
        "totalSignals": (lines - bad) + odd_good,
        "unusedSignals": odd_good,  # x=1 realizes nothing
        "noTraitRealized": 0,
    }
    return ("\n".join(out) + "\n").encode(), expected


@pytest.mark.slow
async def test_hundred_thousand_rows_with_one_percent_malformed(
    http: Any, acme: Credential, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    aam = Aam(http, acme)
    ids = await _taxonomy(aam)
    data, expected = _big_file(ids)
    name = f"ftp_dpm_{ids['ds']}_1700000000.sync"
    # A crash after the fourth chunk, then a resumed run: the counts of one clean run.
    real = Importer._chunk
    calls = []

    def crashing(self: Importer, *args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("worker died")
        real(self, *args, **kwargs)

    monkeypatch.setattr(Importer, "_chunk", crashing)
    with pytest.raises(RuntimeError):
        Importer(database, name, data).run()
    monkeypatch.setattr(Importer, "_chunk", real)
    seen: list[int] = []
    receipt = Importer(database, name, data, progress=seen.append).run()
    assert {k: receipt[k] for k in expected} == expected
    assert seen[0] == 5 * inbound.CHUNK and seen[-1] == 100_000
    assert len(receipt["samples"]["formatError"]) == inbound.SAMPLES
    # Each device realized ``direct`` once per even line, never twice for a resumed chunk.
    state = (await aam.event({"c_page": "z", "d_cts": "2"}, _uuid(0))).json()
    assert ids["direct"] in state["traits"]


async def test_watched_folder_and_cli_import(
    http: Any,
    acme: Credential,
    database: Database,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from cible.cli import app
    from cible.config import get_settings

    aam = Aam(http, acme)
    ids = await _taxonomy(aam)
    folder = tmp_path / "inbound"
    folder.mkdir()
    (folder / f"ftp_dpm_{ids['ds']}_1700000000.sync").write_bytes(f"{_uuid(1)}\t55\n".encode())
    (folder / "notes.txt").write_text("ignored")
    assert watch.scan(database, str(folder)) == 1
    assert watch.scan(database, str(folder)) == 0  # nothing applied again
    history = await aam.call("GET", f"/v1/datasources/{ids['ds']}/history/inbound")
    assert len(history) == 1 and history[0]["realizedTraits"] == 1

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CIBLE_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        path = tmp_path / f"ftp_dpm_{ids['ds']}_1700000001.sync"
        path.write_bytes(f"{_uuid(2)}\tplan=gold\n{_uuid(3)}\tbroken\n".encode())
        result = CliRunner().invoke(app, ["dmp", "import", str(path), "--json"])
        assert result.exit_code == 0, result.output
        receipt = orjson.loads(result.stdout)
        assert (receipt["storedRecords"], receipt["formatErrors"]) == (1, 1)
        bad = CliRunner().invoke(app, ["dmp", "import", str(tmp_path / "nope.sync")])
        assert bad.exit_code == 1 and "is not a file" in bad.stderr
    finally:
        get_settings.cache_clear()
