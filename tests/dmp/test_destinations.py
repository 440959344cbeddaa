"""``/v1/destinations/``: AAM's shapes, mappings, data export controls, ``dests`` and ``stuff``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import BACKENDS, Credential
from tests.dmp._kit import Aam

pytestmark = pytest.mark.anyio

DEVICE = "5" * 38


async def _segment(aam: Aam, value: str = "1", **ds: Any) -> tuple[int, int]:
    """A data source and a segment of one trait ``c_x == value``; returns (ds, segment)."""
    source = await aam.data_source(**ds)
    tf, sf = await aam.folder(), await aam.folder("segments")
    trait = await aam.trait(f'c_x == "{value}"', source, tf)
    return source, await aam.segment(f"{trait}T", source, sf)


PUSH = {
    "name": "Partner pixel",
    "destinationType": "PUSH",
    "serializationEnabled": True,
    "urlFormatString": "http://partner.example/p?segs=%ALIAS%",
    "secureUrlFormatString": "https://partner.example/p?segs=%ALIAS%",
    "delimiter": ",",
}
COOKIE = {
    "name": "Ad server cookie",
    "destinationType": "ADS",
    "cookieName": "aam_seg",
    "cnameDomain": ".example.com",
    "formatType": "single_key",
    "singleKey": "segs",
    "ttl": 30,
}
S2S = {
    "name": "Partner API",
    "destinationType": "S2S",
    "url": "https://partner.example/aam",
    "clientId": "acct-1",
    "userDpid": 20914,
    "signature": {"algorithm": "HmacSHA256", "header": "X-Signature", "key": "s3cret"},
}


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_destination_lifecycle(http: Any, acme: Credential) -> None:
    aam = Aam(http, acme)
    _, sid = await _segment(aam)
    push = await aam.call("POST", "/v1/destinations/", PUSH, 201)
    assert push["destinationType"] == "PUSH" and push["serializationEnabled"] is True
    s2s = await aam.call("POST", "/v1/destinations/", S2S, 201)
    assert s2s["signature"]["key"] == "********" and s2s["timeoutMs"] == 3000
    # A GET result sent back keeps the stored key (the mask is not a new key).
    again = await aam.call("PUT", f"/v1/destinations/{s2s['destinationId']}", {**s2s, "name": "B"})
    assert again["name"] == "B" and again["signature"]["key"] == "********"
    mapping = await aam.call(
        "POST",
        f"/v1/destinations/{push['destinationId']}/mappings/",
        {"sid": sid, "traitType": "SEGMENT", "traitAlias": "seg-a", "startDate": "2026-01-01"},
        201,
    )
    assert mapping["destinationId"] == push["destinationId"] and mapping["sid"] == sid
    assert mapping["destinationMappingId"] == mapping["mappingId"]
    listed = await aam.call("GET", f"/v1/destinations/?containsSegment={sid}")
    assert [d["destinationId"] for d in listed["list"]] == [push["destinationId"]]
    full = await aam.call("GET", f"/v1/destinations/{push['destinationId']}?includeMappings=true")
    assert [m["traitAlias"] for m in full["mappings"]] == ["seg-a"]
    mappings = await aam.call("GET", f"/v1/destinations/{push['destinationId']}/mappings/")
    assert [m["sid"] for m in mappings] == [sid]
    path = f"/v1/destinations/{push['destinationId']}/mappings/{mapping['mappingId']}"
    assert (await aam.call("GET", path))["traitAlias"] == "seg-a"
    await aam.call(
        "POST", f"/v1/destinations/{push['destinationId']}/mappings/", {"sid": sid,
        "traitAlias": "again"}, 409
    )  # fmt: skip
    await aam.call("DELETE", path, expect=204)
    await aam.call("GET", path, expect=404)
    await aam.call("DELETE", f"/v1/destinations/{push['destinationId']}", expect=204)
    await aam.call("GET", f"/v1/destinations/{push['destinationId']}", expect=404)
    everything = await aam.call("GET", "/v1/destinations/?destinationType=S2S")
    assert everything["total"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**S2S, "url": "file:///etc/passwd"}, "must be an http or https URL"),
        ({**S2S, "signature": {"key": "k", "algorithm": "SHA512"}}, "algorithm"),
        ({**S2S, "signature": {"key": "k", "header": "X Bad"}}, "header"),
        ({**S2S, "maxUsersPerMessage": 11}, "maxUsersPerMessage"),
        ({**PUSH, "urlFormatString": "http://x.example/", "secureUrlFormatString": ""}, "%ALIAS%"),
        ({**COOKIE, "cookieName": ""}, "cookieName"),
        ({"name": "x", "destinationType": "FTP"}, "destinationType"),
    ],
)
async def test_bad_destinations_are_refused(
    http: Any, acme: Credential, body: dict[str, Any], field: str
) -> None:
    aam = Aam(http, acme)
    answer = await aam.call("POST", "/v1/destinations/", body, 400)
    assert field in str(answer), answer
    assert (await aam.call("GET", "/v1/destinations/"))["total"] == 0


async def test_mapping_rules(http: Any, acme: Credential) -> None:
    aam = Aam(http, acme)
    _, sid = await _segment(aam)
    push = (await aam.call("POST", "/v1/destinations/", PUSH, 201))["destinationId"]
    plain = await aam.call(
        "POST", "/v1/destinations/", {**PUSH, "serializationEnabled": False}, 201
    )
    cookie = (await aam.call("POST", "/v1/destinations/", COOKIE, 201))["destinationId"]
    await aam.call("POST", f"/v1/destinations/{push}/mappings/", {"sid": sid}, 400)
    await aam.call(
        "POST", f"/v1/destinations/{plain['destinationId']}/mappings/", {"sid": sid}, 400
    )
    await aam.call("POST", f"/v1/destinations/{cookie}/mappings/", {"sid": sid}, 400)
    await aam.call(
        "POST", f"/v1/destinations/{push}/mappings/", {"sid": 999999, "traitAlias": "a"}, 400
    )
    await aam.call(
        "POST",
        f"/v1/destinations/{push}/mappings/",
        {"sid": sid, "traitAlias": "a", "startDate": "01/02/2026"},
        400,
    )
    assert await aam.call("GET", f"/v1/destinations/{push}/mappings/") == []


async def test_data_export_labels_block_restricted_segments(http: Any, acme: Credential) -> None:
    aam = Aam(http, acme)
    # The trait's data source forbids PII; the segment is stored in another data source.
    restricted = await aam.data_source("CRM", dataExportRestrictions=["PII"])
    other = await aam.data_source("Site")
    tf, sf = await aam.folder(), await aam.folder("segments")
    trait = await aam.trait('c_x == "1"', restricted, tf)
    sid = await aam.segment(f"{trait}T", other, sf)
    labelled = await aam.call(
        "POST", "/v1/destinations/", {**PUSH, "dataExportLabels": ["PII"]}, 201
    )
    refused = await aam.call(
        "POST",
        f"/v1/destinations/{labelled['destinationId']}/mappings/",
        {"sid": sid, "traitAlias": "a"},
        400,
    )
    assert "forbid PII" in str(refused)
    clean = await aam.call(
        "POST", "/v1/destinations/", {**PUSH, "dataExportLabels": ["OFFSITE"]}, 201
    )
    dest = clean["destinationId"]
    await aam.call(
        "POST", f"/v1/destinations/{dest}/mappings/", {"sid": sid, "traitAlias": "a"}, 201
    )
    # The destination may not take a label that its mapped segment's data forbids.
    await aam.call(
        "PUT", f"/v1/destinations/{dest}", {**clean, "dataExportLabels": ["OFFSITE", "PII"]}, 400
    )
    assert (await aam.call("GET", f"/v1/destinations/{dest}"))["dataExportLabels"] == ["OFFSITE"]


async def test_data_export_controls_hold_when_segments_traits_or_sources_change(
    http: Any, acme: Credential
) -> None:
    aam = Aam(http, acme)
    crm = await aam.data_source("CRM", dataExportRestrictions=["PII"])
    site = await aam.data_source("Site")
    tf, sf = await aam.folder(), await aam.folder("segments")
    from_crm = await aam.trait('c_crm == "1"', crm, tf)
    from_site = await aam.trait('c_site == "1"', site, tf)
    sid = await aam.segment(f"{from_site}T", site, sf)
    dest = await aam.call("POST", "/v1/destinations/", {**PUSH, "dataExportLabels": ["PII"]}, 201)
    path = f"/v1/destinations/{dest['destinationId']}/mappings/"
    await aam.call("POST", path, {"sid": sid, "traitAlias": "a"}, 201)
    segment = await aam.call("GET", f"/v1/segments/{sid}")

    # The mapped segment may not start drawing on the restricted data source ...
    rule = f"{from_site}T OR {from_crm}T"
    refused = await aam.call("PUT", f"/v1/segments/{sid}", {**segment, "segmentRule": rule}, 400)
    assert "forbid PII" in str(refused) and "segmentRule" in str(refused)
    assert (await aam.call("GET", f"/v1/segments/{sid}"))["segmentRule"] == f"{from_site}T"
    # ... nor its trait move there ...
    trait = {
        "name": "site",
        "traitType": "RULE_BASED_TRAIT",
        "traitRule": 'c_site == "1"',
        "folderId": tf,
    }
    await aam.call("PUT", f"/v1/traits/{from_site}", {**trait, "dataSourceId": crm}, 400)
    assert (await aam.call("GET", f"/v1/traits/{from_site}"))["dataSourceId"] == site
    # ... nor its data source take on the restriction.
    body = {"name": "Site", "dataExportRestrictions": ["PII"]}
    refused = await aam.call("PUT", f"/v1/datasources/{site}", body, 400)
    assert "dataExportRestrictions" in str(refused)
    assert (await aam.call("GET", f"/v1/datasources/{site}"))["dataExportRestrictions"] == []
    # Restrictions the destination's labels do not name are fine.
    await aam.call("PUT", f"/v1/datasources/{site}", {**body, "dataExportRestrictions": ["X"]})
    await aam.call("PUT", f"/v1/traits/{from_site}", {**trait, "dataSourceId": site})


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_dcs_answers_with_url_and_cookie_destinations(http: Any, acme: Credential) -> None:
    aam = Aam(http, acme)
    source, sid = await _segment(aam)
    tf, sf = await aam.folder(name="more"), await aam.folder("segments", name="more")
    trait_b = await aam.trait('c_y == "1"', source, tf)
    sid_b = await aam.segment(f"{trait_b}T", source, sf)
    push = (await aam.call("POST", "/v1/destinations/", PUSH, 201))["destinationId"]
    plain = (
        await aam.call(
            "POST",
            "/v1/destinations/",
            {**PUSH, "serializationEnabled": False, "tagType": "iframe"},
            201,
        )
    )["destinationId"]
    cookie = (await aam.call("POST", "/v1/destinations/", COOKIE, 201))["destinationId"]
    for s, alias in ((sid, "a b"), (sid_b, "b")):
        await aam.call(
            "POST", f"/v1/destinations/{push}/mappings/", {"sid": s, "traitAlias": alias}, 201
        )
        await aam.call(
            "POST", f"/v1/destinations/{cookie}/mappings/", {"sid": s, "valueAlias": alias}, 201
        )
    await aam.call(
        "POST",
        f"/v1/destinations/{plain}/mappings/",
        {"sid": sid, "url": "http://p.example/1", "secureUrl": "https://p.example/1"},
        201,
    )
    # An ended mapping is not served.
    await aam.call(
        "POST",
        f"/v1/destinations/{plain}/mappings/",
        {"sid": sid_b, "url": "http://p.example/2", "endDate": "2020-01-01"},
        201,
    )

    nothing = (await aam.event({"c_x": "0", "d_dst": "1"}, DEVICE)).json()
    assert nothing["stuff"] == [] and nothing["dests"] == []
    body = (await aam.event({"c_x": "1", "c_y": "1", "d_dst": "1"}, DEVICE)).json()
    assert body["segments"] == sorted([sid, sid_b])
    assert body["dests"] == [
        {
            "c": "http://partner.example/p?segs=a%20b,b",
            "e": "https://partner.example/p?segs=a%20b,b",
            "y": "img",
        },
        {"c": "http://p.example/1", "e": "https://p.example/1", "y": "iframe"},
    ]
    assert body["stuff"] == [
        {"cn": "aam_seg", "cv": "segs=a b,b", "ttl": 30, "dmn": ".example.com"}
    ]
    # Without d_dst=1 the page gets no URL destinations; cookies still come.
    quiet = (await aam.event({"c_z": "1"}, DEVICE)).json()
    assert quiet["dests"] == [] and quiet["stuff"] == body["stuff"]
    # An inactive destination is not served, and a change is seen on the next call.
    cookie_body = await aam.call("GET", f"/v1/destinations/{cookie}")
    await aam.call("PUT", f"/v1/destinations/{cookie}", {**cookie_body, "status": "INACTIVE"})
    assert (await aam.event({"c_z": "1"}, DEVICE)).json()["stuff"] == []


async def test_multi_key_cookie_is_cut_at_max_size(http: Any, acme: Credential) -> None:
    aam = Aam(http, acme)
    source = await aam.data_source()
    tf, sf = await aam.folder(), await aam.folder("segments")
    trait = await aam.trait('c_x == "1"', source, tf)
    cookie = await aam.call(
        "POST",
        "/v1/destinations/",
        {**COOKIE, "formatType": "multi_key", "singleKey": "", "keySeparator": ";", "maxSize": 16},
        201,
    )
    for n in range(3):
        sid = await aam.segment(f"{trait}T", source, sf, name=f"s{n}")
        await aam.call(
            "POST",
            f"/v1/destinations/{cookie['destinationId']}/mappings/",
            {"sid": sid, "valueAlias": f"k{n}=v{n}"},
            201,
        )
    stuff = (await aam.event({"c_x": "1"}, DEVICE)).json()["stuff"]
    assert stuff[0]["cv"] == "k0=v0;k1=v1"  # a third pair would pass 16 bytes
