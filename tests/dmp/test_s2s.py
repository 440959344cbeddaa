"""Real-time server-to-server: every membership change reaches an unreliable partner, once.

The partner runs on 127.0.0.1 (allowed explicitly through ``CIBLE_OUTBOUND_ALLOWED_NETWORKS``);
it checks each request's HMAC signature itself and applies a message at most once per
idempotency key, the way a partner of AAM's real-time destinations would.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from cible.config import get_settings
from cible.dmp.tables import MembershipChange
from cible.dmp.transfers import s2s
from cible.dmp.transfers.tables import S2SMessage, TransferCursor
from cible.jobs.tables import DONE, Job
from cible.store import Database
from tests.conftest import Credential, FakeClock
from tests.dmp._kit import Aam
from tests.dmp._partner import KEY, Partner, drain, serve

pytestmark = pytest.mark.anyio


@pytest.fixture
def allow_loopback(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CIBLE_OUTBOUND_ALLOWED_NETWORKS", "127.0.0.1/32")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("CIBLE_OUTBOUND_ALLOWED_NETWORKS")
    get_settings.cache_clear()


@pytest.fixture
def flaky() -> Iterator[Partner]:
    yield from serve(fail=0.3, timeout=0.1)


@pytest.fixture
def steady() -> Iterator[Partner]:
    yield from serve()


_S2S_BASE = {
    "name": "partner",
    "destinationType": "S2S",
    "clientId": "acct-9",
    "timeoutMs": 250,
    "maxAttempts": 25,
    "maxUsersPerMessage": 3,
}


async def _taxonomy(aam: Aam, partner: Partner, **dest: Any) -> tuple[int, int, int, int]:
    """Segments A = xT and B = xT AND NOT yT mapped to an S2S destination; (ds, A, B, dest)."""
    ds = await aam.data_source()
    tf, sf = await aam.folder(), await aam.folder("segments")
    tx, ty = await aam.trait('c_x == "1"', ds, tf), await aam.trait('c_y == "1"', ds, tf)
    seg_a = await aam.segment(f"{tx}T", ds, sf)
    seg_b = await aam.segment(f"{tx}T AND NOT {ty}T", ds, sf)
    body = {
        **_S2S_BASE,
        "url": f"{partner.url}/aam",
        "signature": {"algorithm": "HmacSHA256", "header": "X-Signature", "key": KEY},
        **dest,
    }
    dest_id = (await aam.call("POST", "/v1/destinations/", body, 201))["destinationId"]
    for sid in (seg_a, seg_b):
        await aam.call("POST", f"/v1/destinations/{dest_id}/mappings/", {"sid": sid}, 201)
    return ds, seg_a, seg_b, dest_id


def _device(n: int) -> str:
    return str(10**37 + n)


def _now_ms(clock: FakeClock) -> int:
    return int(clock().timestamp() * 1000)


async def test_every_change_reaches_a_flaky_partner_once(
    http: Any,
    acme: Credential,
    database: Database,
    clock: FakeClock,
    flaky: Partner,
    allow_loopback: None,
) -> None:
    aam = Aam(http, acme)
    _, seg_a, seg_b, dest = await _taxonomy(aam, flaky)
    devices = [_device(n) for n in range(24)]
    for uuid in devices:
        assert (await aam.event({"c_x": "1"}, uuid)).status_code == 200
    assert s2s.collect(database, _now_ms(clock), 7) == 8  # 24 users, 3 a message
    drain(database)
    clock.advance(minutes=5)
    leaving = devices[::3]
    for uuid in leaving:
        await aam.event({"c_y": "1"}, uuid)
    assert s2s.collect(database, _now_ms(clock), 7) == 3
    assert s2s.collect(database, _now_ms(clock), 7) == 0  # nothing twice
    drain(database)
    flaky.settle()

    with database.session() as s:
        changes = {
            (uuid, str(sid), str(status))
            for uuid, sid, status in s.execute(
                select(MembershipChange.uuid, MembershipChange.segment_id, MembershipChange.status)
            )
        }
        states = set(s.scalars(select(S2SMessage.state)))
        keys = set(s.scalars(select(S2SMessage.idempotency_key)))
        jobs = set(s.scalars(select(Job.state).where(Job.kind == s2s.SEND)))
    assert len(changes) == 24 * 2 + len(leaving)
    received = {
        (user["AAM_UUID"], seg["Segment_ID"], seg["Status"])
        for message in flaky.applied.values()
        for user in message["Users"]
        for seg in user["Segments"]
    }
    assert changes <= received  # every entry and exit arrived
    assert set(flaky.applied) == keys and states == {"delivered"} and jobs == {DONE}
    assert flaky.duplicates > 0  # retries after applied-then-failed requests were absorbed
    assert flaky.bad_signatures == 0 and flaky.requests > len(keys)
    # The partner's view, each segment's latest status by DateTime, is the devices' membership.
    view: dict[tuple[str, str], tuple[float, str]] = {}
    for message in flaky.applied.values():
        assert message["AAM_Destination_Id"] == str(dest) and message["Client_ID"] == "acct-9"
        assert message["User_DPID"] == "0" and message["User_count"] == str(len(message["Users"]))
        assert 1 <= len(message["Users"]) <= 3
        for user in message["Users"]:
            assert user["DataPartner_UUID"] == user["AAM_UUID"] and user["AAM_Regions"] == ["7"]
            for seg in user["Segments"]:
                at = time.mktime(time.strptime(seg["DateTime"], "%a %b %d %H:%M:%S UTC %Y"))
                key = (user["AAM_UUID"], seg["Segment_ID"])
                if key not in view or view[key][0] <= at:
                    view[key] = (at, seg["Status"])
    for uuid in devices:
        assert view[(uuid, str(seg_a))][1] == "1"
        assert view[(uuid, str(seg_b))][1] == ("0" if uuid in leaving else "1")


async def test_dead_letters_are_listed_and_retried(
    http: Any,
    acme: Credential,
    database: Database,
    clock: FakeClock,
    steady: Partner,
    allow_loopback: None,
) -> None:
    aam = Aam(http, acme)
    _, _, _, dest = await _taxonomy(aam, steady, maxAttempts=2)
    steady.always_fail = True
    await aam.event({"c_x": "1"}, _device(1))
    assert s2s.collect(database, _now_ms(clock), 7) == 1
    drain(database)
    dead = await aam.call("GET", f"/v1/destinations/{dest}/dead-letters/")
    assert [(d["state"], d["attempts"]) for d in dead] == [("dead", 2)]
    assert "503" in dead[0]["lastError"] and steady.applied == {}
    steady.always_fail = False
    retried = await aam.call(
        "POST", f"/v1/destinations/{dest}/dead-letters/{dead[0]['messageId']}/retry", None, 202
    )
    assert retried["state"] == "pending" and retried["attempts"] == 0
    await aam.call(
        "POST", f"/v1/destinations/{dest}/dead-letters/{dead[0]['messageId']}/retry", None, 409
    )
    drain(database)
    assert await aam.call("GET", f"/v1/destinations/{dest}/dead-letters/") == []
    assert list(steady.applied) == [dead[0]["idempotencyKey"]]
    history = await aam.call("GET", f"/v1/destinations/{dest}/history/outbound?startDate=0")
    assert [(h["state"], h["users"]) for h in history] == [("delivered", 1)]
    later = _now_ms(clock) + 10**9
    assert (
        await aam.call("GET", f"/v1/destinations/{dest}/history/outbound?startDate={later}") == []
    )
    await aam.call("GET", f"/v1/destinations/{dest}/history/outbound?startDate=soon", expect=400)


async def test_loopback_partner_is_refused_unless_allowed(
    http: Any, acme: Credential, database: Database, clock: FakeClock, steady: Partner
) -> None:
    get_settings.cache_clear()
    aam = Aam(http, acme)
    _, _, _, dest = await _taxonomy(aam, steady, maxAttempts=1)
    await aam.event({"c_x": "1"}, _device(2))
    s2s.collect(database, _now_ms(clock), 7)
    drain(database)
    dead = await aam.call("GET", f"/v1/destinations/{dest}/dead-letters/")
    assert "loopback" in dead[0]["lastError"] and steady.requests == 0


async def test_a_crash_while_collecting_loses_and_repeats_nothing(
    http: Any,
    acme: Credential,
    database: Database,
    clock: FakeClock,
    steady: Partner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    aam = Aam(http, acme)
    await _taxonomy(aam, steady)
    for n in range(7):
        await aam.event({"c_x": "1"}, _device(n))
    real = s2s.enqueue
    calls = []

    def crashing(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("worker died")
        return real(*args, **kwargs)

    monkeypatch.setattr(s2s, "enqueue", crashing)
    with pytest.raises(RuntimeError):
        s2s.collect(database, _now_ms(clock), 7)
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(S2SMessage)) == 0
        assert s.scalar(select(func.count()).where(Job.kind == s2s.SEND)) == 0
        cursor = s.get(TransferCursor, s2s.CURSOR)
        assert cursor is None or cursor.position == 0
    monkeypatch.setattr(s2s, "enqueue", real)
    assert s2s.collect(database, _now_ms(clock), 7) == 3
    with database.session() as s:
        users = [orjson.loads(b)["Users"] for b in s.scalars(select(S2SMessage.body))]
    assert sorted(u["AAM_UUID"] for batch in users for u in batch) == [_device(n) for n in range(7)]


async def test_a_gap_in_change_ids_waits_for_a_late_commit(
    http: Any, acme: Credential, database: Database, clock: FakeClock, steady: Partner
) -> None:
    aam = Aam(http, acme)
    await _taxonomy(aam, steady)
    for n in range(3):
        await aam.event({"c_x": "1"}, _device(n))
    with database.session() as s:
        middle = s.scalars(select(MembershipChange).order_by(MembershipChange.id)).all()[2]
        s.delete(middle)  # as if its transaction had not committed yet
    now = _now_ms(clock)
    assert s2s.collect(database, now, 7) == 1  # the first device only
    with database.session() as s:
        assert s.get(TransferCursor, s2s.CURSOR).position == middle.id - 1  # type: ignore[union-attr]
    assert s2s.collect(database, now + s2s.GAP_GRACE_MS + 1, 7) == 1  # the gap is given up


async def test_partner_ids_and_oauth(
    http: Any,
    acme: Credential,
    database: Database,
    clock: FakeClock,
    steady: Partner,
    allow_loopback: None,
) -> None:
    aam = Aam(http, acme)
    ds = await aam.data_source("Partner ids")
    oauth = {
        "tokenUrl": f"{steady.url}/token",
        "clientId": "cible",
        "clientSecret": "client-secret",
    }
    _, seg_a, seg_b, dest = await _taxonomy(aam, steady, userDpid=ds, signature=None, oauth=oauth)
    synced, unsynced = _device(1), _device(2)
    await aam.event([("c_x", "1"), ("d_cid", f"{ds}\x01partner-7")], synced)
    await aam.event({"c_x": "1"}, unsynced)
    assert s2s.collect(database, _now_ms(clock), 9) == 1
    await aam.event({"c_y": "1"}, synced)
    assert s2s.collect(database, _now_ms(clock), 9) == 1
    drain(database)
    messages = list(steady.applied.values())
    assert [m["User_DPID"] for m in messages] == [str(ds), str(ds)]
    assert [[u["DataPartner_UUID"] for u in m["Users"]] for m in messages] == [["partner-7"]] * 2
    # An exit is sent with the segments the user stays in ("A disqualification sends all
    # qualifications and disqualifications").
    left = {s["Segment_ID"]: s["Status"] for s in messages[1]["Users"][0]["Segments"]}
    assert left == {str(seg_a): "1", str(seg_b): "0"}
    assert steady.tokens_issued == 1 and steady.bad_signatures == 0
    # A token the partner revoked (401) is dropped; the retry asks the endpoint for another.
    steady.revoke_token = True
    await aam.event([("c_x", "1"), ("d_cid", f"{ds}\x01partner-8")], _device(3))
    assert s2s.collect(database, _now_ms(clock), 9) == 1
    drain(database)
    assert steady.tokens_issued == 2 and len(steady.applied) == 3
    shown = await aam.call("GET", f"/v1/destinations/{dest}")
    assert shown["oauth"]["clientSecret"] == "********" and shown["signature"] is None


async def test_cli_lists_and_retries_dead_letters(
    http: Any,
    acme: Credential,
    database: Database,
    database_url: str,
    clock: FakeClock,
    steady: Partner,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    from typer.testing import CliRunner

    from cible.cli import app

    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("CIBLE_DATABASE_URL", database_url)
    monkeypatch.setenv("CIBLE_OUTBOUND_ALLOWED_NETWORKS", "127.0.0.1/32")
    get_settings.cache_clear()
    try:
        aam = Aam(http, acme)
        _, _, _, dest = await _taxonomy(aam, steady, maxAttempts=1)
        steady.always_fail = True
        for n in range(2):
            await aam.event({"c_x": "1"}, _device(n))
            s2s.collect(database, _now_ms(clock), 7)
        drain(database)
        runner = CliRunner()
        listed = runner.invoke(app, ["dmp", "dead-letters", str(dest), "--json"])
        assert listed.exit_code == 0, listed.output
        dead = orjson.loads(listed.stdout)
        assert [d["state"] for d in dead] == ["dead", "dead"]
        steady.always_fail = False
        one = runner.invoke(app, ["dmp", "retry", str(dest), str(dead[0]["messageId"]), "--json"])
        assert one.exit_code == 0 and orjson.loads(one.stdout)[0]["state"] == "pending"
        again = runner.invoke(app, ["dmp", "retry", str(dest), str(dead[0]["messageId"])])
        assert again.exit_code == 1 and "not a dead letter" in again.stderr
        rest = runner.invoke(app, ["dmp", "retry", str(dest)])
        assert rest.exit_code == 0 and str(dead[1]["messageId"]) in rest.stdout
        drain(database)
        assert len(steady.applied) == 2
        missing = runner.invoke(app, ["dmp", "dead-letters", "999999"])
        assert missing.exit_code == 1 and "does not exist" in missing.stderr
    finally:
        get_settings.cache_clear()


async def test_changes_wake_the_collector_only_for_real_time_segments(
    http: Any,
    acme: Credential,
    database: Database,
    steady: Partner,
    allow_loopback: None,
) -> None:
    aam = Aam(http, acme)
    _, _, _, dest = await _taxonomy(aam, steady)
    ds = await aam.data_source("other")
    tf, sf = await aam.folder(name="o"), await aam.folder("segments", name="o")
    unmapped = await aam.trait('c_z == "1"', ds, tf)
    await aam.segment(f"{unmapped}T", ds, sf)

    def pending() -> list[Any]:
        with database.session() as s:
            rows = s.execute(
                select(Job.run_at, Job.created_at).where(
                    Job.kind == "dmp.s2s.collect", Job.state == "pending"
                )
            )
            return [run_at - created for run_at, created in rows]

    await aam.event({"c_z": "1"}, _device(1))
    assert pending() == []  # a change no real-time destination maps
    for n in range(3):
        await aam.event({"c_x": "1"}, _device(n))
    # One collection for the window (CIBLE_DMP_S2S_WINDOW_SECONDS, 1 s by default), however
    # many changes.
    assert pending() == [timedelta(seconds=1)]
    drain(database)  # the worker alone: collect, then send
    assert sorted(u["AAM_UUID"] for m in steady.applied.values() for u in m["Users"]) == [
        _device(n) for n in range(3)
    ]
    assert (await aam.call("GET", f"/v1/destinations/{dest}/history/outbound"))[0]["state"] == (
        "delivered"
    )


@pytest.mark.parametrize(
    ("algorithm", "digest"),
    [("HmacSHA1", hashlib.sha1), ("HmacSHA256", hashlib.sha256), ("HmacMD5", hashlib.md5)],
)
async def test_each_hmac_algorithm_signs_in_the_configured_header(
    http: Any,
    acme: Credential,
    database: Database,
    clock: FakeClock,
    allow_loopback: None,
    algorithm: str,
    digest: Any,
) -> None:
    aam = Aam(http, acme)
    signing = {"algorithm": algorithm, "header": "X-AAM-Sig", "key": KEY}
    for partner in serve(digest=digest, header="X-AAM-Sig"):
        _, _, _, dest = await _taxonomy(aam, partner, signature=signing, maxAttempts=1)
        await aam.event({"c_x": "1"}, _device(1))
        assert s2s.collect(database, _now_ms(clock), 7) == 1
        drain(database)
        assert len(partner.applied) == 1 and partner.bad_signatures == 0
    # A partner that checks another algorithm (or header) refuses the signature.
    other = hashlib.md5 if digest is not hashlib.md5 else hashlib.sha1
    for partner in serve(digest=other, header="X-AAM-Sig"):
        config = {"url": f"{partner.url}/aam", "signature": signing}
        await aam.call("PUT", f"/v1/destinations/{dest}", {**_S2S_BASE, **config, "maxAttempts": 1})
        await aam.event({"c_x": "1"}, _device(2))
        assert s2s.collect(database, _now_ms(clock), 7) == 1
        drain(database)
        assert partner.applied == {} and partner.bad_signatures == 1
        dead = await aam.call("GET", f"/v1/destinations/{dest}/dead-letters/")
        assert len(dead) == 1 and "403" in dead[0]["lastError"]


async def test_mappings_out_of_their_dates_send_nothing(
    http: Any,
    acme: Credential,
    database: Database,
    clock: FakeClock,
    steady: Partner,
    allow_loopback: None,
) -> None:
    aam = Aam(http, acme)
    _, seg_a, seg_b, dest = await _taxonomy(aam, steady)
    path = f"/v1/destinations/{dest}/mappings/"
    (ended,) = [m for m in await aam.call("GET", path) if m["sid"] == seg_b]
    await aam.call("DELETE", f"{path}{ended['mappingId']}", expect=204)
    await aam.call("POST", path, {"sid": seg_b, "endDate": "2026-01-14"}, 201)  # the day before
    uuid, ecid = _device(1), "22345678901234567890123456789012345678"
    await aam.event({"c_x": "1", "d_mid": ecid}, uuid)  # enters A and B
    drain(database)
    deleted = await http.delete(
        "/acme/target/privacy/visitor",
        params={"id": ecid, "kind": "marketingCloudVisitorId"},
        headers=acme.headers,
    )
    assert deleted.status_code == 200, deleted.text
    drain(database)
    sent = [
        {s["Segment_ID"]: s["Status"] for s in u["Segments"]}
        for m in steady.applied.values()
        for u in m["Users"]
    ]
    assert sorted(sent, key=lambda x: x[str(seg_a)], reverse=True) == [
        {str(seg_a): "1"},
        {str(seg_a): "0"},
    ]
