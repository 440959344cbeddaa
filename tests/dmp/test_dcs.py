"""The DCS endpoints through the app: /event parameters, identity, errors, ID sync, opt-out."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from cible.dmp import segments_for
from cible.store import Database
from tests.conftest import BACKENDS, Credential, World, count_rows
from tests.dmp._kit import HOST, Aam

pytestmark = pytest.mark.anyio


async def _setup(http: Any, cred: Credential) -> tuple[Aam, int, int, int]:
    aam = Aam(http, cred)
    ds = await aam.data_source(integrationCode="CRM")
    tf = await aam.folder()
    sf = await aam.folder("segments")
    return aam, ds, tf, sf


def _log(database: Database) -> list[dict[str, Any]]:
    with database.engine.connect() as conn:
        rows = conn.execute(text("SELECT topic, key, payload FROM event_log ORDER BY 1")).all()
    return [{"topic": r[0], "key": r[1], **orjson.loads(r[2])} for r in rows]


async def test_private_keys_qualify_but_are_never_stored(
    http: Any, acme: Credential, database: Database
) -> None:
    aam, ds, tf, _ = await _setup(http, acme)
    young = await aam.trait("p_age < 25", ds, tf)
    body = (await aam.event({"p_age": "23", "c_page": "home", "zz-unknown!": "x"})).json()
    assert young in body["traits"]
    (record,) = [r for r in _log(database) if r["topic"] == "dcs"]
    assert record["uuid"] == body["uuid"]
    assert record["realized"] == [young]
    assert "p_age" not in record["signals"]
    assert record["signals"]["c_page"] == ["home"]
    assert record["signals"]["zz-unknown!"] == ["x"]
    with database.engine.connect() as conn:
        stored = conn.execute(text("SELECT state FROM dmp_devices")).scalar_one()
    assert "23" not in stored and "p_age" not in stored


async def test_response_shape_cookie_pixel_and_jsonp(http: Any, acme: Credential) -> None:
    await _setup(http, acme)
    plain = await http.get("/event", params={"c_a": "1"}, headers={"Host": HOST})
    assert plain.status_code == 200
    assert plain.headers["content-type"] == "image/gif"
    uuid = plain.cookies["demdex"]
    assert len(uuid) == 38 and uuid.isdigit()
    again = await http.get(
        "/event",
        params={"c_a": "1", "d_rtbd": "json"},
        headers={"Host": HOST, "Cookie": f"demdex={uuid}"},
    )
    body = again.json()
    assert body["uuid"] == uuid
    assert set(body) == {"stuff", "dests", "uuid", "dcs_region", "tid"}
    assert body["dcs_region"] == 7 and len(body["tid"]) == 12
    jsonp = await http.get(
        "/event", params={"d_rtbd": "json", "d_cb": "cb_1"}, headers={"Host": HOST}
    )
    assert jsonp.headers["content-type"].startswith("application/javascript")
    assert jsonp.text.startswith("cb_1({") and jsonp.text.endswith("});")


async def test_form_post_and_orgid_tenant(http: Any, acme: Credential, database: Database) -> None:
    aam, ds, tf, _ = await _setup(http, acme)
    trait = await aam.trait('c_k == "v"', ds, tf)
    with database.engine.connect() as conn:
        org = conn.execute(text("SELECT organization_id FROM tenants")).scalar_one()
    response = await http.post(
        "/event?d_rtbd=json&d_cts=2",
        content=f"c_k=v&d_orgid={org}",
        headers={"Host": "dcs.example.net", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.json()["traits"] == [trait]


async def test_unknown_tenant_and_bad_input_store_nothing(
    http: Any, acme: Credential, database: Database
) -> None:
    await _setup(http, acme)
    cases = [
        ({"Host": "nobody.demdex.localhost"}, "c_a=1&d_rtbd=json", 1, 200),
        ({"Host": "dcs.example.net"}, "c_a=1&d_orgid=nope", 2, 200),
        ({"Host": HOST}, "c_a=%ff%fe&d_rtbd=json", 311, 200),
        ({"Host": HOST}, "c_a=" + "x" * 9000, 0, 414),
    ]
    for headers, query, code, status in cases:
        response = await http.get(f"/event?{query}", headers=headers)
        assert response.status_code == status, response.text
        assert response.json()["errors"][0]["code"] == code
        assert response.headers["X-Error"] == str(code)
    big = await http.post(
        "/event",
        content="c_a=" + "x" * 33_000,
        headers={"Host": HOST, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert big.status_code == 413 and big.json()["errors"][0]["code"] == 0
    assert count_rows(database, "dmp_devices") == 0
    assert count_rows(database, "event_log") == 0


async def test_identity_warnings_and_declared_ids(
    http: Any, acme: Credential, database: Database
) -> None:
    _, ds, _, _ = await _setup(http, acme)
    query = [
        ("d_uuid", "123"),
        ("d_mid", "abc"),
        ("d_cid", f"{ds}\x01user-1"),
        ("d_cid", "nope"),
        ("d_cid", "999\x01x"),
        ("d_rtbd", "json"),
    ]
    body = (await http.get("/event", params=query, headers={"Host": HOST})).json()
    codes = sorted(e["code"] for e in body["errors"])
    assert codes == [101, 102, 300, 302]
    first = body["uuid"]
    # The declared id finds the device again, as does the integration-code form.
    again = await http.get(
        "/event", params={"d_cid_ic": "CRM\x01user-1", "d_rtbd": "json"}, headers={"Host": HOST}
    )
    assert again.json()["uuid"] == first
    # The most recent mapping wins: the id now declared on another device moves to it.
    other = "1" * 38
    await http.get(
        "/event",
        params={"d_uuid": other, "d_cid": f"{ds}\x01user-1", "d_rtbd": "json"},
        headers={"Host": HOST},
    )
    latest = await http.get(
        "/event", params={"d_cid": f"{ds}\x01user-1", "d_rtbd": "json"}, headers={"Host": HOST}
    )
    assert latest.json()["uuid"] == other
    many = [("d_cid", f"{ds}\x01u{i}") for i in range(5)] + [("d_rtbd", "json")]
    warned = (await http.get("/event", params=many, headers={"Host": HOST})).json()
    assert [e["code"] for e in warned["errors"]] == [310, 310]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_concurrent_calls_for_one_device_lose_no_realization(
    http: Any, acme: Credential, database: Database
) -> None:
    aam, ds, tf, sf = await _setup(http, acme)
    trait = await aam.trait('c_hit == "1"', ds, tf)
    segment = await aam.segment(f"frequency([{trait}T]) >= 20", ds, sf)
    uuid = "5" * 38
    calls = [aam.event({"c_hit": "1"}, uuid) for _ in range(20)]
    responses = await asyncio.gather(*calls)
    assert all(r.status_code == 200 for r in responses)
    with database.engine.connect() as conn:
        state = orjson.loads(conn.execute(text("SELECT state FROM dmp_devices")).scalar_one())
        version = conn.execute(text("SELECT version FROM dmp_devices")).scalar_one()
        assert segments_for(conn, 1, [("uuid", uuid)], 1_768_478_400_000) == {segment}
    assert state["r"][str(trait)][0] == 20
    assert version == 20
    assert state["s"] == {str(segment): 1_768_478_400_000}


async def test_id_sync_redirects_with_the_uuid(http: Any, acme: Credential) -> None:
    _, ds, _, _ = await _setup(http, acme)
    first = await http.get("/event", params={"d_rtbd": "json"}, headers={"Host": HOST})
    uuid = first.json()["uuid"]
    redirect = "https%3A%2F%2Fpartner.example%2Fsync%3Fid%3D%24%7BDD_UUID%7D"
    response = await http.get(
        f"/ibs:dpid={ds}&dpuuid=partner-7&redir={redirect}",
        headers={"Host": HOST, "Cookie": f"demdex={uuid}"},
    )
    assert response.status_code == 302, response.text
    assert response.headers["location"] == f"https://partner.example/sync?id={uuid}"
    found = await http.get(
        "/event", params={"d_cid": f"{ds}\x01partner-7", "d_rtbd": "json"}, headers={"Host": HOST}
    )
    assert found.json()["uuid"] == uuid
    refused = await http.get(f"/ibs:dpid={ds}&dpuuid=x&gdpr=1", headers={"Host": HOST})
    assert refused.status_code == 200 and refused.headers["X-Error"] == "313"
    foreign = await http.get("/ibs:dpid=999&dpuuid=x", headers={"Host": HOST})
    assert foreign.headers["X-Error"] == "302"


async def test_opt_out_erases_and_blocks(http: Any, acme: Credential, database: Database) -> None:
    aam, ds, tf, _ = await _setup(http, acme)
    await aam.trait('c_a == "1"', ds, tf)
    uuid = (await aam.event({"c_a": "1", "d_cid": f"{ds}\x01u1"})).json()["uuid"]
    assert count_rows(database, "dmp_devices") == 1
    out = await http.get("/demoptout.jpg", params={"d_uuid": uuid}, headers={"Host": HOST})
    assert out.status_code == 200 and out.headers["content-type"] == "image/gif"
    assert out.cookies["demdex"] == "NOTARGET"
    assert count_rows(database, "dmp_devices") == 0
    assert count_rows(database, "dmp_device_ids") == 0
    blocked = (await aam.event({"c_a": "1"}, uuid)).json()
    assert blocked["errors"][0]["code"] == 171 and "uuid" not in blocked
    by_id = await http.get("/demoptout", params={"d_cid": f"{ds}\x01u2"}, headers={"Host": HOST})
    assert by_id.json() == {"optOut": True}
    declared = (await aam.event({"d_cid": f"{ds}\x01u2"})).json()
    assert declared["errors"][-1]["code"] == 171
    cookie = await http.get(
        "/event",
        params={"c_a": "1", "d_rtbd": "json"},
        headers={"Host": HOST, "Cookie": "demdex=NOTARGET"},
    )
    assert cookie.json()["errors"][0]["code"] == 171
    assert count_rows(database, "dmp_devices") == 0


async def test_throttled_dcs_answers_429(world: World, app: Any, http: Any) -> None:
    world.tenant("acme")
    app.state.settings.dcs_throttle_burst = 2
    app.state.settings.dcs_throttle_rate = 0.001
    statuses = [
        (await http.get("/event", params={"d_rtbd": "json"}, headers={"Host": HOST})).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]


async def test_data_source_filter_direct_realization_and_legacy_cts(
    http: Any, acme: Credential
) -> None:
    aam, ds, tf, sf = await _setup(http, acme)
    other = await aam.data_source("Partner", integrationCode="PARTNER")
    mine = await aam.trait('c_a == "1"', ds, tf)
    theirs = await aam.trait('c_a == "1"', other, tf)
    onboarded = await aam.trait('ic == "77"', ds, tf, traitType="ON_BOARDED_TRAIT")
    segment = await aam.segment(f"{onboarded}T AND {mine}T", ds, sf)
    only_partner = (await aam.event({"c_a": "1", "d_tdpid_ic": "PARTNER"}, "1" * 38)).json()
    assert only_partner["traits"] == [theirs]
    only_mine = (await aam.event({"c_a": "1", "d_tdpid": str(ds)}, "2" * 38)).json()
    assert only_mine["traits"] == [mine]
    both = (await aam.event({"c_a": "1", "d_sid": f"{onboarded},999999"}, "3" * 38)).json()
    assert both["traits"] == sorted([mine, theirs, onboarded])
    assert both["segments"] == [segment]
    legacy = await http.get(
        "/event",
        params={"d_rtbd": "json", "d_cts": "1", "d_uuid": "3" * 38},
        headers={"Host": HOST},
    )
    assert legacy.json()["segments"] == [segment]
    plain = await http.get(
        "/event",
        params={"d_rtbd": "json", "d_uuid": "3" * 38, "d_cb": "alert(1)"},
        headers={"Host": HOST},
    )
    assert "segments" not in plain.json()  # no d_cts; an invalid callback name is ignored
