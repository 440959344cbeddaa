"""The ``/v1`` REST API: AAM's shapes, validation with error positions, folders, lookups."""

from __future__ import annotations

from typing import Any

import pytest

from cible.store import Database
from tests.conftest import BACKENDS, Credential, World, count_rows
from tests.dmp._kit import Aam

pytestmark = pytest.mark.anyio


async def _taxonomy(aam: Aam) -> tuple[int, int, int]:
    return await aam.data_source(), await aam.folder(), await aam.folder("segments")


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_trait_lifecycle(http: Any, acme: Credential) -> None:
    aam = Aam(http, acme)
    ds, tf, _ = await _taxonomy(aam)
    created = await aam.call(
        "POST",
        "/v1/traits/",
        {
            "name": "Shoes",
            "traitType": "RULE_BASED_TRAIT",
            "traitRule": 'c_page == "shoes"',
            "dataSourceId": ds,
            "folderId": tf,
            "integrationCode": "shoes-1",
        },
        201,
    )
    sid = created["sid"]
    assert created["ttl"] == 120 and created["traitRuleVersion"] == 1
    assert (await aam.call("GET", "/v1/traits/ic:shoes-1"))["sid"] == sid
    changed = {**created, "traitRule": 'c_page == "boots"', "ttl": 0}
    updated = await aam.call("PUT", f"/v1/traits/{sid}", changed)
    assert updated["traitRuleVersion"] == 2 and updated["ttl"] == 0
    versions = await aam.call("GET", f"/v1/traits/{sid}/trait-rule/versions")
    assert [v["traitRule"] for v in versions] == ['c_page == "boots"', 'c_page == "shoes"']
    listed = await aam.call("GET", f"/v1/traits/?folderId={tf}&pageSize=1&page=1")
    assert listed["total"] == 2 and listed["page"] == 1 and listed["pageSize"] == 1
    assert "traitRule" not in listed["list"][0]
    detailed = await aam.call("GET", "/v1/traits/?includeDetails=true&search=shoe")
    assert [t["traitRule"] for t in detailed["list"]] == ['c_page == "boots"']
    limits = await aam.call("GET", "/v1/traits/limits")
    assert limits["currentTraitCount"] == 2
    await aam.call("DELETE", "/v1/traits/ic:shoes-1", expect=204)
    await aam.call("GET", f"/v1/traits/{sid}", expect=404)


async def test_malformed_rules_are_refused_with_their_position(
    http: Any, acme: Credential, database: Database
) -> None:
    aam = Aam(http, acme)
    ds, tf, sf = await _taxonomy(aam)
    before = count_rows(database, "dmp_traits")
    body = {
        "name": "Bad",
        "traitType": "RULE_BASED_TRAIT",
        "traitRule": 'c_a == "1" AND AND c_b == "2"',
        "dataSourceId": ds,
        "folderId": tf,
    }
    error = await aam.call("POST", "/v1/traits/", body, 400)
    assert error["errors"][0]["errorCode"] == "Invalid.Field"
    assert "traitRule: unexpected 'AND'" in error["errors"][0]["message"]
    assert "(line 1, column 16)" in error["errors"][0]["message"]
    assert count_rows(database, "dmp_traits") == before
    missing = await aam.call(
        "POST", "/v1/traits/", {**body, "traitRule": 'c_a == "1"', "folderId": 999}, 400
    )
    assert "folderId" in missing["errors"][0]["message"]
    trait = await aam.trait('c_a == "1"', ds, tf)
    for rule, message in (
        (f"frequency([{trait}T]) <= 5", "rejects for performance"),
        ("424242T", "unknown trait 424242T"),
        (f"{trait}T AND", "ends too early"),
    ):
        segment = {"name": "S", "segmentRule": rule, "dataSourceId": ds, "folderId": sf}
        refused = await aam.call("POST", "/v1/segments/", segment, 400)
        assert message in refused["errors"][0]["message"], refused
    assert count_rows(database, "dmp_segments") == 0
    malformed = await http.post(
        "/v1/traits/",
        content=b"{nope",
        headers={**acme.headers, "Content-Type": "application/json"},
    )
    assert malformed.status_code == 400
    assert "JSON is malformed" in malformed.json()["errors"][0]["message"]
    wrong_type = await aam.call("POST", "/v1/traits/", {**body, "traitType": "ALGO_TRAIT"}, 400)
    assert "traitType" in wrong_type["errors"][0]["message"]


async def test_segments_lifecycle_and_trait_in_use(http: Any, acme: Credential) -> None:
    aam = Aam(http, acme)
    ds, tf, sf = await _taxonomy(aam)
    trait = await aam.trait('c_a == "1"', ds, tf)
    other = await aam.trait('c_b == "1"', ds, tf)
    created = await aam.call(
        "POST",
        "/v1/segments/",
        {
            "name": "Engaged",
            "segmentRule": f"frequency([{trait}T] <= 7D) >= 2",
            "dataSourceId": ds,
            "folderId": sf,
            "integrationCode": "eng",
        },
        201,
    )
    sid = created["sid"]
    assert created["mergeRuleDataSourceId"] is None
    conflict = await aam.call("DELETE", f"/v1/traits/{trait}", expect=409)
    assert f"segment {sid}" in conflict["errors"][0]["message"]
    using = await aam.call("GET", f"/v1/segments/?containsTrait={trait}")
    assert [s["sid"] for s in using["list"]] == [sid]
    assert (await aam.call("GET", f"/v1/segments/?containsTrait={other}"))["total"] == 0
    assert (await aam.call("GET", "/v1/segments/ic:eng"))["sid"] == sid
    await aam.call("POST", "/v1/segments/bulk-delete", [sid, 99999], 404)
    assert (await aam.call("GET", "/v1/segments/"))["total"] == 1
    await aam.call("POST", "/v1/segments/bulk-delete", [sid], 204)
    await aam.call("POST", "/v1/traits/bulk-delete", [trait, other], 204)
    assert (await aam.call("GET", "/v1/traits/"))["total"] == 1  # the folder trait remains


async def test_folders_tree_move_and_delete(http: Any, acme: Credential) -> None:
    aam = Aam(http, acme)
    ds = await aam.data_source()
    a = await aam.folder(name="A")
    b = await aam.folder(name="B", parent=a)
    c = await aam.folder(name="C", parent=b)
    tree = await aam.call("GET", "/v1/folders/traits/")
    assert tree[0]["path"] == "/A" and tree[0]["subFolders"][0]["subFolders"][0]["path"] == "/A/B/C"
    cycle = await aam.call(
        "PUT", f"/v1/folders/traits/{a}", {"name": "A", "parentFolderId": c}, 400
    )
    assert "under itself" in cycle["errors"][0]["message"]
    moved = await aam.call("PUT", f"/v1/folders/traits/{c}", {"name": "C2", "parentFolderId": 0})
    assert moved["path"] == "/C2" and moved["parentFolderId"] == 0
    await aam.call("DELETE", f"/v1/folders/traits/{a}", expect=409)
    trait = await aam.trait('c_a == "1"', ds, b)
    await aam.call("DELETE", f"/v1/folders/traits/{b}", expect=409)
    folder_trait = next(
        t["sid"]
        for t in (await aam.call("GET", f"/v1/traits/?folderId={b}"))["list"]
        if t["traitType"] == "FOLDER_TRAIT"
    )
    refused = await aam.call("DELETE", f"/v1/traits/{folder_trait}", expect=400)
    assert "folder" in refused["errors"][0]["message"]
    await aam.call("DELETE", f"/v1/traits/{trait}", expect=204)
    await aam.call("DELETE", f"/v1/folders/traits/{b}", expect=204)
    await aam.call("DELETE", f"/v1/folders/traits/{a}", expect=204)
    await aam.call("GET", f"/v1/folders/segments/{c}", expect=404)


async def test_data_sources_and_unique_integration_codes(http: Any, acme: Credential) -> None:
    aam = Aam(http, acme)
    ds = await aam.data_source(
        "CRM", integrationCode="crm", idType="CROSS_DEVICE", uniqueTraitIntegrationCodes=True
    )
    got = await aam.call("GET", "/v1/datasources/ic:crm")
    assert got["dataSourceId"] == ds and got["idType"] == "CROSS_DEVICE"
    await aam.call("POST", "/v1/datasources/", {"name": "Again", "integrationCode": "crm"}, 409)
    bad = await aam.call("POST", "/v1/datasources/", {"name": "X", "idType": "EMAIL"}, 400)
    assert "idType" in bad["errors"][0]["message"]
    tf = await aam.folder()
    await aam.trait('c_a == "1"', ds, tf, integrationCode="t1")
    await aam.call(
        "POST",
        "/v1/traits/",
        {
            "name": "dup",
            "traitType": "ON_BOARDED_TRAIT",
            "dataSourceId": ds,
            "folderId": tf,
            "integrationCode": "t1",
        },
        409,
    )
    await aam.call("DELETE", f"/v1/datasources/{ds}", expect=409)
    types = await aam.call("GET", "/v1/datasources/configurations/available-id-types")
    assert types == ["COOKIE", "DEVICE_ADVERTISING_ID", "CROSS_DEVICE"]
    listed = await aam.call("GET", "/v1/datasources/?integrationCode=crm")
    assert listed["total"] == 1


async def test_tenant_choice_and_roles(http: Any, world: World, database: Database) -> None:
    world.tenant("acme")
    world.tenant("beta")
    observer = await world.credential("acme", "observer")
    aam = Aam(http, observer)
    await aam.call("GET", "/v1/traits/")
    refused = await aam.call("POST", "/v1/datasources/", {"name": "x"}, 403)
    assert refused["errors"][0]["errorCode"] == "Forbidden"
    # One client on two tenants must say which one.
    editor = await world.credential("acme", "editor")
    from cible.tenants import service as tenants

    with database.session() as s:
        tenants.grant(s, client_id=editor.client_id, tenant_code="beta", role="editor")
    both = Aam(http, editor)
    ambiguous = await both.call("GET", "/v1/datasources/", expect=400)
    assert "x-gw-ims-org-id" in ambiguous["errors"][0]["message"]
    with database.session() as s:
        org = tenants.get_tenant(s, "beta").organization_id
    headers = {**editor.headers, "x-gw-ims-org-id": org}
    created = await http.post("/v1/datasources/", json={"name": "beta's"}, headers=headers)
    assert created.status_code == 201 and created.json()["pid"] == 2
    headers["x-gw-ims-org-id"] = "acme"
    listed = await http.get("/v1/datasources/", headers=headers)
    assert listed.json()["total"] == 0
    anonymous = await http.get("/v1/traits/")
    assert anonymous.status_code == 401


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_ids_no_table_can_hold_name_nothing(http: Any, acme: Credential) -> None:
    aam = Aam(http, acme)
    ds, tf, sf = await _taxonomy(aam)
    for huge in (2**31, 2**63, 2**64 + 7):
        for path in (
            f"/v1/datasources/{huge}",
            f"/v1/folders/traits/{huge}",
            f"/v1/folders/segments/{huge}",
            f"/v1/traits/{huge}",
            f"/v1/traits/{huge}/trait-rule/versions",
            f"/v1/segments/{huge}",
        ):
            await aam.call("GET", path, expect=404)
        bulk = await http.post("/v1/traits/bulk-delete", json=[huge], headers=acme.headers)
        assert bulk.status_code in (400, 404), bulk.text  # past 64 bits JSON reads a float
        for query in (f"folderId={huge}", f"dataSourceId={huge}"):
            await aam.call("GET", f"/v1/traits/?{query}", expect=400)
        await aam.call("GET", f"/v1/segments/?containsTrait={huge}", expect=400)
        trait = {
            "name": "x",
            "traitType": "RULE_BASED_TRAIT",
            "traitRule": 'c_a == "1"',
            "dataSourceId": huge,
            "folderId": tf,
        }
        await aam.call("POST", "/v1/traits/", trait, 400)
        segment = {"name": "x", "segmentRule": f"{huge}T", "dataSourceId": ds, "folderId": sf}
        refused = await aam.call("POST", "/v1/segments/", segment, 400)
        assert "unknown trait" in refused["errors"][0]["message"]
        await aam.call("GET", f"/v1/traits/?page={huge}", expect=400)
        synced = await http.get(
            f"/ibs:dpid={huge}&dpuuid=x", headers={"Host": "acme.demdex.localhost"}
        )
        assert synced.headers["X-Error"] == "300"
        event = await aam.event({"d_tdpid": str(huge), "d_sid": str(huge), "c_a": "1"})
        assert event.status_code == 200 and event.json()["traits"] == []
