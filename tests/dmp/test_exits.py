"""``Status:0`` reaches real-time destinations for each way a user leaves a segment.

AAM sends it "when the user leaves by rule, by TTL expiry, after 120 days inactive, or through a
privacy (GDPR) deletion; every synced partner ID receives it". The partner runs on 127.0.0.1
(``tests.dmp._partner``); deletions go through the privacy API, ``cible privacy delete`` and the
DCS opt-out, the inactivity purge through its scheduled job.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cible.cli import app as cli_app
from cible.config import get_settings
from cible.dmp.schedules import SCHEDULES
from cible.dmp.tables import Device
from cible.dmp.transfers.tables import S2SMessage
from cible.jobs import enqueue, load_tasks, run_pending
from cible.privacy import service as privacy
from cible.store import Database
from tests.conftest import BACKENDS, Credential, FakeClock, World
from tests.dmp._kit import HOST, Aam
from tests.dmp._partner import KEY, Partner, drain, serve

pytestmark = pytest.mark.anyio

PRIVACY = "/acme/target/privacy/visitor"
ECID = "12345678901234567890123456789012345678"
DAY_MS = 86_400_000


@pytest.fixture
def partner(monkeypatch: pytest.MonkeyPatch) -> Iterator[Partner]:
    monkeypatch.setenv("CIBLE_OUTBOUND_ALLOWED_NETWORKS", "127.0.0.1/32")
    get_settings.cache_clear()
    yield from serve()
    get_settings.cache_clear()


def _device(n: int) -> str:
    return str(10**37 + n)


class Scene:
    """Partner ids of data source ``ds``; traits x, y (TTL 30 days) and k (never expires);
    segments A = xT, B = xT AND NOT yT, K = kT mapped to one real-time destination, and
    U = xT mapped to none."""

    def __init__(self, aam: Aam, ds: int, sids: dict[str, int], dest: int) -> None:
        self.aam, self.ds, self.sids, self.dest = aam, ds, sids, dest

    async def event(self, uuid: str, *params: tuple[str, str]) -> None:
        response = await self.aam.event(list(params), uuid)
        assert response.status_code == 200, response.text


async def _scene(aam: Aam, partner: Partner) -> Scene:
    ds = await aam.data_source("Partner ids")
    tf, sf = await aam.folder(), await aam.folder("segments")
    tx = await aam.trait('c_x == "1"', ds, tf, ttl=30)
    ty = await aam.trait('c_y == "1"', ds, tf, ttl=30)
    tk = await aam.trait('c_k == "1"', ds, tf, ttl=0)
    sids = {
        "A": await aam.segment(f"{tx}T", ds, sf),
        "B": await aam.segment(f"{tx}T AND NOT {ty}T", ds, sf),
        "K": await aam.segment(f"{tk}T", ds, sf),
        "U": await aam.segment(f"{tx}T", ds, sf, name="unmapped"),
    }
    body = {
        "name": "partner",
        "destinationType": "S2S",
        "url": f"{partner.url}/aam",
        "clientId": "acct-9",
        "userDpid": ds,
        "timeoutMs": 2000,
        "maxUsersPerMessage": 3,
        "signature": {"algorithm": "HmacSHA256", "header": "X-Signature", "key": KEY},
    }
    dest = (await aam.call("POST", "/v1/destinations/", body, 201))["destinationId"]
    for name in ("A", "B", "K"):
        await aam.call("POST", f"/v1/destinations/{dest}/mappings/", {"sid": sids[name]}, 201)
    return Scene(aam, ds, sids, dest)


def _received(partner: Partner, since: set[str]) -> list[tuple[str, str, dict[str, str]]]:
    """``(AAM_UUID, DataPartner_UUID, {Segment_ID: Status})`` of messages not in ``since``."""
    out = []
    for key, message in partner.applied.items():
        if key in since:
            continue
        for user in message["Users"]:
            statuses = {s["Segment_ID"]: s["Status"] for s in user["Segments"]}
            out.append((user["AAM_UUID"], user["DataPartner_UUID"], statuses))
    return sorted(out)


def _uuids(database: Database) -> set[str]:
    with database.session() as s:
        return set(s.scalars(select(Device.uuid)))


async def _visitor(scene: Scene, clock: FakeClock, uuid: str) -> None:
    """A device with an ECID and two partner ids synced (partner-2 last), in A, B and U."""
    ds = scene.ds
    await scene.event(uuid, ("c_x", "1"), ("d_mid", ECID), ("d_cid", f"{ds}\x01partner-1"))
    clock.advance(seconds=1)
    await scene.event(uuid, ("c_page", "home"), ("d_cid", f"{ds}\x01partner-2"))


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_privacy_deletion_sends_status_0_to_every_synced_partner_id(
    http: Any, acme: Credential, database: Database, clock: FakeClock, partner: Partner
) -> None:
    scene = await _scene(Aam(http, acme), partner)
    gone, kept = _device(1), _device(2)
    await _visitor(scene, clock, gone)
    await scene.event(kept, ("c_x", "1"), ("d_cid", f"{scene.ds}\x01partner-9"))
    drain(database)
    before = set(partner.applied)
    a, b = str(scene.sids["A"]), str(scene.sids["B"])
    assert {(u, p) for u, p, _ in _received(partner, set())} == {
        (gone, "partner-2"),
        (kept, "partner-9"),
    }
    # Leaving B by rule: its message fails until it is a dead letter.
    partner.always_fail = True
    await scene.event(gone, ("c_y", "1"))
    drain(database)
    partner.always_fail = False
    dead_letters = f"/v1/destinations/{scene.dest}/dead-letters/"
    assert len(await scene.aam.call("GET", dead_letters)) == 1

    by_ecid = {"id": ECID, "kind": "marketingCloudVisitorId"}
    deleted = await http.delete(PRIVACY, params=by_ecid, headers=acme.headers)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["deleted"]["audienceManager"] == 1
    assert _uuids(database) == {kept}
    # The messages written before keep no trace of the device: the dead letter (its only
    # user) is gone, the first message keeps the other device only.
    assert await scene.aam.call("GET", dead_letters) == []
    with database.session() as s:
        bodies = s.scalars(select(S2SMessage.body).order_by(S2SMessage.id)).all()
    assert len(bodies) == 2 and gone not in bodies[0] and kept in bodies[0]
    drain(database)

    # Every partner id synced to the device hears of every mapped segment it was in (B's exit,
    # never delivered, included); U, mapped to no destination, is never sent; the other device
    # is untouched.
    assert _received(partner, before) == [
        (gone, "partner-1", {a: "0", b: "0"}),
        (gone, "partner-2", {a: "0", b: "0"}),
    ]
    (message,) = (m for k, m in partner.applied.items() if k not in before)
    assert message["User_DPID"] == str(scene.ds) and message["User_count"] == "2"
    assert message["AAM_Destination_Id"] == str(scene.dest) and partner.bad_signatures == 0
    history = await scene.aam.call("GET", f"/v1/destinations/{scene.dest}/history/outbound")
    assert {h["state"] for h in history} == {"delivered"}


async def test_the_cli_deletion_sends_status_0_and_a_failed_deletion_sends_nothing(
    http: Any,
    acme: Credential,
    database: Database,
    database_url: str,
    clock: FakeClock,
    partner: Partner,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    scene = await _scene(Aam(http, acme), partner)
    uuid = _device(3)
    await _visitor(scene, clock, uuid)
    drain(database)
    before = set(partner.applied)

    def refuse(session: Any, visitor: Any) -> int:
        raise RuntimeError("disk full")

    # A deletion whose transaction fails leaves the device and writes no message.
    with monkeypatch.context() as patch:
        patch.setitem(privacy._HANDLERS, "zzRefuses", privacy.Handler("zzRefuses", refuse, refuse))
        with pytest.raises(RuntimeError), database.session() as s:
            privacy.delete_visitor(s, 1, "marketingCloudVisitorId", ECID)
    with database.session() as s:
        assert s.scalars(select(S2SMessage.state)).all() == ["delivered"]
    assert _uuids(database) == {uuid}

    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("CIBLE_DATABASE_URL", database_url)
    get_settings.cache_clear()
    args = ["privacy", "delete", "--tenant", "acme", "--id", ECID]
    done = CliRunner().invoke(cli_app, [*args, "--kind", "marketingCloudVisitorId", "--json"])
    assert done.exit_code == 0, done.output
    assert orjson.loads(done.stdout)["deleted"]["audienceManager"] == 1
    drain(database)
    a = str(scene.sids["A"])
    assert _received(partner, before) == [
        (uuid, "partner-1", {a: "0", str(scene.sids["B"]): "0"}),
        (uuid, "partner-2", {a: "0", str(scene.sids["B"]): "0"}),
    ]


async def test_an_opt_out_sends_status_0(
    http: Any, acme: Credential, database: Database, clock: FakeClock, partner: Partner
) -> None:
    scene = await _scene(Aam(http, acme), partner)
    uuid = _device(8)
    await _visitor(scene, clock, uuid)
    drain(database)
    before = set(partner.applied)
    await scene.event(uuid, ("c_y", "1"))  # leaves B: recorded, not collected before the opt-out
    out = await http.get("/demoptout", params={"d_uuid": uuid}, headers={"Host": HOST})
    assert out.json() == {"optOut": True} and _uuids(database) == set()
    drain(database)
    left = {str(scene.sids["A"]): "0", str(scene.sids["B"]): "0"}
    assert _received(partner, before) == [(uuid, "partner-1", left), (uuid, "partner-2", left)]


def _run(database: Database, kind: str, now_ms: int) -> None:
    with database.session() as s:
        enqueue(s, kind, {"nowMs": now_ms})
    drain(database)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_ttl_expiry_and_inactivity_send_status_0(
    http: Any, acme: Credential, database: Database, clock: FakeClock, partner: Partner
) -> None:
    assert load_tasks()["dmp.retention"]
    assert [s.kind for s in SCHEDULES if s.name == "dmp.retention"] == ["dmp.retention"]
    scene = await _scene(Aam(http, acme), partner)
    ds, a, k = scene.ds, str(scene.sids["A"]), str(scene.sids["K"])
    expiring, idle, active = _device(4), _device(5), _device(6)
    t0 = int(clock().timestamp() * 1000)
    await scene.event(expiring, ("c_page", "home"), ("d_cid", f"{ds}\x01p-old"))
    clock.advance(seconds=1)
    await scene.event(expiring, ("c_x", "1"), ("d_cid", f"{ds}\x01p-exp"))
    await scene.event(idle, ("c_k", "1"), ("d_cid", f"{ds}\x01p-idle"))
    await scene.event(active, ("c_k", "1"), ("d_cid", f"{ds}\x01p-active"))
    drain(database)
    assert (expiring, "p-old") not in {(u, p) for u, p, _ in _received(partner, set())}
    seen = set(partner.applied)

    # TTL expiry (30 days): the exit is a membership change, collected like any other, and
    # every partner id synced to the device receives it.
    _run(database, "dmp.expire", t0 + 32 * DAY_MS)
    left = {a: "0", str(scene.sids["B"]): "0"}
    assert _received(partner, seen) == [(expiring, "p-exp", left), (expiring, "p-old", left)]
    seen = set(partner.applied)

    clock.advance(days=100)
    await scene.event(active, ("c_page", "home"))
    # 121 days after their last call, the two other devices are erased, though the expiry job
    # wrote the first one's state on day 32: an expiry is no sighting of the device.
    _run(database, "dmp.retention", t0 + 121 * DAY_MS)
    assert _uuids(database) == {active}
    assert _received(partner, seen) == [(idle, "p-idle", {k: "0"})]
    seen = set(partner.applied)
    _run(database, "dmp.retention", t0 + 121 * DAY_MS)  # nothing left to do
    assert _uuids(database) == {active} and set(partner.applied) == seen
    assert run_pending(database) == 0


async def test_customer_ids_are_kept_for_their_data_source_retention(
    world: World, acme: Credential, database: Database, clock: FakeClock
) -> None:
    http = world.http
    aam = Aam(http, acme)
    body = {"name": "CRM", "integrationCode": "LOGIN", "idType": "CROSS_DEVICE"}
    for bad in (29, 1826, "soon"):
        await aam.call("POST", "/v1/datasources/", {**body, "customerIdRetentionDays": bad}, 400)
    default = await aam.call("POST", "/v1/datasources/", {**body, "integrationCode": "X"}, 201)
    assert default["customerIdRetentionDays"] == 720
    extra = {"useAuthenticatedProfile": True, "customerIdRetentionDays": 30}
    ds = await aam.data_source(**{**body, **extra})
    shown = await aam.call("GET", f"/v1/datasources/{ds}")
    assert shown["customerIdRetentionDays"] == 30
    t0 = int(clock().timestamp() * 1000)
    device = _device(7)
    await aam.event([("c_page", "a"), ("d_cid_ic", "LOGIN\x01user-1\x011")], device)
    clock.advance(days=20)
    await aam.event([("c_page", "b"), ("d_cid_ic", "LOGIN\x01user-2\x011")], device)

    _run(database, "dmp.retention", t0 + 31 * DAY_MS)

    fresh = await world.credential("acme", "approver")  # acme's token is 20 days old

    async def profiles(user: str) -> list[str]:
        params = {"id": user, "kind": "customerId:LOGIN"}
        exported = await http.get(PRIVACY, params=params, headers=fresh.headers)
        assert exported.status_code == 200, exported.text
        return sorted(d["uuid"][:1] for d in exported.json()["audienceManager"])

    # user-1's id and authenticated profile are past 30 days; user-2 and the device are not.
    assert await profiles("user-1") == []
    assert await profiles("user-2") == ["1", "A"]
    assert device in _uuids(database)
