"""The device state's compare-and-set write, and the TTL and population jobs."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sqlalchemy import text

from cible.dmp import devices, segments_for
from cible.dmp.qualify import DeviceState, RuleSet, SegmentDef, TraitDef, apply_call
from cible.dmp.segmentrule import DAY_MS
from cible.dmp.tasks import compute_populations, expire_devices
from cible.store import Database
from tests.conftest import BACKENDS, Credential, FakeClock, count_rows
from tests.dmp._kit import Aam

UUID = "7" * 38


@pytest.mark.parametrize("backend", BACKENDS[1:], indirect=True)
def test_a_lost_race_is_re_read_and_re_applied(database: Database) -> None:
    """PostgreSQL, READ COMMITTED: a call whose UPDATE finds a newer version retries on it."""
    with database.session() as s:
        s.execute(
            text(
                "INSERT INTO tenants (client_code, name, organization_id, created_at) "
                "VALUES ('acme', 'acme', 'ORG@AdobeOrg', now())"
            )
        )
    tenant_id = 1
    rules = RuleSet.build(
        [TraitDef(1, 'c_a == "1"', 120)], [SegmentDef(9, "frequency([1T]) >= 2")], []
    )
    attempts = []

    def change(state: DeviceState) -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            # Another call for the same device commits between our read and our write.
            with database.engine.begin() as other:
                devices.qualify(other, tenant_id, UUID, rules, {"c_a": ["1"]}, 2_000)
        return apply_call(rules, state, {"c_a": ["1"]}, 1_000)

    with database.engine.begin() as conn:
        devices.qualify(conn, tenant_id, UUID, rules, {"c_a": ["1"]}, 500)
    with database.engine.begin() as conn:
        state, _ = devices.update_state(conn, tenant_id, UUID, rules, change, 1_000)  # type: ignore[misc]
    assert len(attempts) == 2
    assert state.realizations[1][0] == 3
    with database.engine.connect() as conn:
        row = conn.execute(text("SELECT version, state FROM dmp_devices")).one()
    assert row[0] == 3
    assert orjson.loads(row[1])["r"]["1"][0] == 3


@pytest.mark.anyio
@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_ttl_expiry_job_records_exits(
    http: Any, acme: Credential, clock: FakeClock, database: Database
) -> None:
    aam = Aam(http, acme)
    ds = await aam.data_source()
    tf = await aam.folder()
    sf = await aam.folder("segments")
    trait = await aam.trait('c_a == "1"', ds, tf, ttl=1)
    segment = await aam.segment(f"{trait}T", ds, sf)
    body = (await aam.event({"c_a": "1"})).json()
    assert body["segments"] == [segment]
    now = int(clock.now.timestamp() * 1000)
    assert (
        expire_devices(database, now + DAY_MS) == 0
    )  # not due yet (expires at next midnight + 1 day)
    later = (now // DAY_MS + 2) * DAY_MS
    assert expire_devices(database, later) == 1
    with database.engine.connect() as conn:
        changes = conn.execute(
            text("SELECT segment_id, status FROM dmp_membership_changes ORDER BY id")
        ).all()
        assert [tuple(c) for c in changes] == [(segment, 1), (segment, 0)]
        assert segments_for(conn, 1, [("uuid", body["uuid"])], later) == set()
        expires = conn.execute(text("SELECT expires_ms FROM dmp_devices")).scalar_one()
    assert expires is None
    assert expire_devices(database, later) == 0


@pytest.mark.anyio
async def test_populations(
    http: Any, acme: Credential, clock: FakeClock, database: Database
) -> None:
    aam = Aam(http, acme)
    ds = await aam.data_source()
    tf = await aam.folder()
    sf = await aam.folder("segments")
    trait = await aam.trait('c_a == "1"', ds, tf)
    segment = await aam.segment(f"{trait}T", ds, sf)
    await aam.event({"c_a": "1"}, "1" * 38)
    clock.advance(days=10)
    await aam.event({"c_a": "1"}, "2" * 38)
    await aam.event({"c_b": "1"}, "3" * 38)
    compute_populations(database, int(clock.now.timestamp() * 1000))
    clock.advance(days=-10)  # the API token was issued at the start
    traits = await aam.call("GET", f"/v1/traits/{trait}?includeMetrics=true")
    assert (traits["uniques1Day"], traits["uniques14Day"], traits["uniquesLifetime"]) == (1, 2, 2)
    seg = await aam.call("GET", f"/v1/segments/{segment}?includeMetrics=true")
    assert (seg["uniques7Day"], seg["uniques30Day"], seg["totalUniques"]) == (1, 2, 2)
    assert count_rows(database, "dmp_devices") == 3


@pytest.mark.anyio
async def test_segments_for_resolves_declared_ids_and_ecids(
    http: Any, acme: Credential, database: Database
) -> None:
    aam = Aam(http, acme)
    ds = await aam.data_source(integrationCode="CRM")
    tf = await aam.folder()
    sf = await aam.folder("segments")
    trait = await aam.trait('c_a == "1"', ds, tf)
    segment = await aam.segment(f"{trait}T", ds, sf)
    mid = "3" * 38
    await aam.event({"c_a": "1", "d_mid": mid, "d_cid": f"{ds}\x01crm-1"})
    now = 1_768_478_400_000
    with database.engine.connect() as conn:
        assert segments_for(conn, 1, [("mid", mid)], now) == {segment}
        assert segments_for(conn, 1, [(str(ds), "crm-1")], now) == {segment}
        assert segments_for(conn, 1, [("ic:CRM", "crm-1")], now) == {segment}
        assert segments_for(conn, 1, [("ic:NOPE", "crm-1")], now) == set()
        assert segments_for(conn, 1, [("mid", "1" * 38), ("uuid", "bad")], now) == set()
        assert segments_for(conn, 2, [("mid", mid)], now) == set()


@pytest.mark.anyio
@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_calls_prepared_from_the_same_read_both_count(
    http: Any, acme: Credential, database: Database
) -> None:
    """Two /event calls computed from the same read of a device: the second write finds the
    version moved, re-reads and re-applies, so both realizations count (new and existing
    device)."""
    from cible.dmp import dcs

    aam = Aam(http, acme)
    ds = await aam.data_source()
    tf = await aam.folder()
    trait = await aam.trait('c_a == "1"', ds, tf)
    uuid = "6" * 38
    for expected in (2, 4):
        calls = [dcs.parse([("c_a", "1"), ("d_uuid", uuid)], {}, None, None) for _ in range(2)]
        with database.engine.connect() as conn:
            prepared = [dcs.prepare(conn, 1, call, 1_000) for call in calls]
        with database.engine.begin() as conn:
            results = [
                dcs.unit(conn, 1, c, 1_000, 7, p) for c, p in zip(calls, prepared, strict=True)
            ]
        assert all(r.uuid == uuid for r in results)
        with database.engine.connect() as conn:
            state = orjson.loads(conn.execute(text("SELECT state FROM dmp_devices")).scalar_one())
        assert state["r"][str(trait)][0] == expected


@pytest.mark.anyio
async def test_privacy_export_and_erase_by_declared_id(
    http: Any, acme: Credential, database: Database
) -> None:
    from cible.dmp import device_data, erase_devices

    aam = Aam(http, acme)
    ds = await aam.data_source()
    tf = await aam.folder()
    sf = await aam.folder("segments")
    trait = await aam.trait('c_a == "1"', ds, tf)
    segment = await aam.segment(f"{trait}T", ds, sf)
    uuid = (await aam.event({"c_a": "1", "d_cid": f"{ds}\x01crm-9"})).json()["uuid"]
    await aam.event({"c_a": "1"}, "8" * 38)  # someone else
    with database.engine.connect() as conn:
        (exported,) = device_data(conn, 1, [(str(ds), "crm-9")])
        assert device_data(conn, 2, [(str(ds), "crm-9")]) == []
    assert exported["uuid"] == uuid
    assert exported["traits"][str(trait)]["count"] == 1
    assert list(exported["segments"]) == [str(segment)]
    assert exported["ids"][0]["id"] == "crm-9"
    assert exported["segmentChanges"][0]["segmentId"] == segment
    with database.engine.begin() as conn:
        assert erase_devices(conn, 1, [(str(ds), "crm-9")]) == [uuid]
    with database.engine.connect() as conn:
        assert device_data(conn, 1, [("uuid", uuid)]) == []
    assert count_rows(database, "dmp_devices") == 1
