"""The audience manager's part of tests/test_isolation.py: acme's objects and one case per route.

``/v1`` has no tenant in its paths; a client acts on its own tenant (or the one it names in
``x-gw-ims-org-id``). For every ``/v1`` route: beta's approver naming acme gets 403; beta's
approver on its own tenant with acme's ids gets 404, lists without acme's objects, and 400 for
bodies pointing at acme's data source or folders; an acme approver limited to one workspace
reads but may not write (403). The DCS routes are called on beta's host with acme's device, ids
and signals: nothing of acme's is read or written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from tests.conftest import Credential

DCS_PATHS = ("/event", "/ibs:{params:path}", "/demoptout", "/demoptout.jpg")
ACME_HOST = "acme.demdex.localhost"
BETA_HOST = "beta.demdex.localhost"
DEVICE = "4" * 38


class SceneLike(Protocol):
    http: httpx.AsyncClient
    owner: Credential
    beta: Credential
    limited: Credential
    ids: dict[str, Any]


def is_dmp_route(path: str) -> bool:
    return path.startswith("/v1/") or path in DCS_PATHS


async def seed(scene: SceneLike) -> None:
    """Acme's data source, folders, trait, segment and one realized device."""
    http, headers = scene.http, scene.owner.headers

    async def post(path: str, body: Any) -> Any:
        response = await http.post(path, json=body, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()

    ids = scene.ids
    ids["ds"] = (await post("/v1/datasources/", {"name": "acme", "integrationCode": "acme-ds"}))[
        "dataSourceId"
    ]
    ids["tf"] = (await post("/v1/folders/traits/", {"name": "acme"}))["folderId"]
    ids["sf"] = (await post("/v1/folders/segments/", {"name": "acme"}))["folderId"]
    ids["trait"] = (
        await post(
            "/v1/traits/",
            {
                "name": "acme",
                "traitType": "RULE_BASED_TRAIT",
                "traitRule": 'c_secret == "1"',
                "dataSourceId": ids["ds"],
                "folderId": ids["tf"],
                "integrationCode": "acme-trait",
            },
        )
    )["sid"]
    ids["segment"] = (
        await post(
            "/v1/segments/",
            {
                "name": "acme",
                "segmentRule": f"{ids['trait']}T",
                "dataSourceId": ids["ds"],
                "folderId": ids["sf"],
                "integrationCode": "acme-seg",
            },
        )
    )["sid"]
    ids["dest"] = (
        await post(
            "/v1/destinations/",
            {"name": "acme", "destinationType": "PUSH", "urlFormatString": "https://a.example/"},
        )
    )["destinationId"]
    ids["mapping"] = (
        await post(
            f"/v1/destinations/{ids['dest']}/mappings/",
            {"sid": ids["segment"], "url": "https://a.example/s"},
        )
    )["mappingId"]
    response = await http.get(
        "/event",
        params={"c_secret": "1", "d_uuid": DEVICE, "d_cid": f"{ids['ds']}\x01acme-user"},
        headers={"Host": ACME_HOST},
    )
    assert response.status_code == 200


@dataclass(frozen=True)
class DmpCase:
    """``kind``: list, item, create, bulk, free (no tenant data) or dcs."""

    kind: str
    path: str = ""
    body: Any = None
    listed: str = ""
    marker: str = ""


def _trait_body(s: SceneLike) -> dict[str, Any]:
    return {
        "name": "intruder",
        "traitType": "RULE_BASED_TRAIT",
        "traitRule": 'c_x == "1"',
        "dataSourceId": s.ids["ds"],
        "folderId": s.ids["tf"],
    }


def _segment_body(s: SceneLike) -> dict[str, Any]:
    return {
        "name": "intruder",
        "segmentRule": f"{s.ids['trait']}T",
        "dataSourceId": s.ids["ds"],
        "folderId": s.ids["sf"],
    }


CASES: dict[tuple[str, str], DmpCase] = {
    ("GET", "/v1/datasources/"): DmpCase("list", listed="dataSourceId", marker="ds"),
    ("POST", "/v1/datasources/"): DmpCase("create", body=lambda s: {"name": "beta's own"}),
    ("GET", "/v1/datasources/configurations/available-id-types"): DmpCase("free"),
    ("GET", "/v1/datasources/{ref}"): DmpCase("item", "/v1/datasources/{ds}"),
    ("PUT", "/v1/datasources/{ref}"): DmpCase(
        "item", "/v1/datasources/{ds}", body=lambda s: {"name": "intruder"}
    ),
    ("DELETE", "/v1/datasources/{ref}"): DmpCase("item", "/v1/datasources/ic:acme-ds"),
    ("GET", "/v1/folders/traits/"): DmpCase("list", listed="folderId", marker="tf"),
    ("POST", "/v1/folders/traits/"): DmpCase(
        "create", body=lambda s: {"name": "intruder", "parentFolderId": s.ids["tf"]}
    ),
    ("GET", "/v1/folders/traits/{folder_id}"): DmpCase("item", "/v1/folders/traits/{tf}"),
    ("PUT", "/v1/folders/traits/{folder_id}"): DmpCase(
        "item", "/v1/folders/traits/{tf}", body=lambda s: {"name": "intruder"}
    ),
    ("DELETE", "/v1/folders/traits/{folder_id}"): DmpCase("item", "/v1/folders/traits/{tf}"),
    ("GET", "/v1/folders/segments/"): DmpCase("list", listed="folderId", marker="sf"),
    ("POST", "/v1/folders/segments/"): DmpCase(
        "create", body=lambda s: {"name": "intruder", "parentFolderId": s.ids["sf"]}
    ),
    ("GET", "/v1/folders/segments/{folder_id}"): DmpCase("item", "/v1/folders/segments/{sf}"),
    ("PUT", "/v1/folders/segments/{folder_id}"): DmpCase(
        "item", "/v1/folders/segments/{sf}", body=lambda s: {"name": "intruder"}
    ),
    ("DELETE", "/v1/folders/segments/{folder_id}"): DmpCase("item", "/v1/folders/segments/{sf}"),
    ("GET", "/v1/traits/"): DmpCase("list", listed="sid", marker="trait"),
    ("POST", "/v1/traits/"): DmpCase("create", body=_trait_body),
    ("POST", "/v1/traits/validate"): DmpCase("free", body=lambda s: {"code": 'c_a == "1"'}),
    ("POST", "/v1/traits/bulk-delete"): DmpCase("bulk", body=lambda s: [s.ids["trait"]]),
    ("GET", "/v1/traits/limits"): DmpCase("free"),
    ("GET", "/v1/traits/{ref}"): DmpCase("item", "/v1/traits/ic:acme-trait"),
    ("PUT", "/v1/traits/{ref}"): DmpCase("item", "/v1/traits/{trait}", body=_trait_body),
    ("DELETE", "/v1/traits/{ref}"): DmpCase("item", "/v1/traits/{trait}"),
    ("GET", "/v1/traits/{ref}/trait-rule/versions"): DmpCase(
        "item", "/v1/traits/{trait}/trait-rule/versions"
    ),
    ("GET", "/v1/segments/"): DmpCase("list", listed="sid", marker="segment"),
    ("POST", "/v1/segments/"): DmpCase("create", body=_segment_body),
    ("POST", "/v1/segments/bulk-delete"): DmpCase("bulk", body=lambda s: [s.ids["segment"]]),
    ("GET", "/v1/segments/limits"): DmpCase("free"),
    ("GET", "/v1/segments/{ref}"): DmpCase("item", "/v1/segments/ic:acme-seg"),
    ("PUT", "/v1/segments/{ref}"): DmpCase("item", "/v1/segments/{segment}", body=_segment_body),
    ("DELETE", "/v1/segments/{ref}"): DmpCase("item", "/v1/segments/{segment}"),
    ("GET", "/v1/destinations/"): DmpCase("list", listed="destinationId", marker="dest"),
    ("POST", "/v1/destinations/"): DmpCase(
        "create",
        body=lambda s: {
            "name": "beta's own",
            "destinationType": "ADS",
            "cookieName": "c",
            "formatType": "multi_key",
        },
    ),
    ("GET", "/v1/destinations/{ref}"): DmpCase("item", "/v1/destinations/{dest}"),
    ("PUT", "/v1/destinations/{ref}"): DmpCase(
        "item",
        "/v1/destinations/{dest}",
        body=lambda s: {"name": "intruder", "destinationType": "PUSH"},
    ),
    ("DELETE", "/v1/destinations/{ref}"): DmpCase("item", "/v1/destinations/{dest}"),
    ("GET", "/v1/destinations/{ref}/mappings/"): DmpCase(
        "item", "/v1/destinations/{dest}/mappings/"
    ),
    ("POST", "/v1/destinations/{ref}/mappings/"): DmpCase(
        "item",
        "/v1/destinations/{dest}/mappings/",
        body=lambda s: {"sid": s.ids["segment"], "url": "https://intruder.example/"},
    ),
    ("GET", "/v1/destinations/{ref}/mappings/{mapping_id}"): DmpCase(
        "item", "/v1/destinations/{dest}/mappings/{mapping}"
    ),
    ("DELETE", "/v1/destinations/{ref}/mappings/{mapping_id}"): DmpCase(
        "item", "/v1/destinations/{dest}/mappings/{mapping}"
    ),
    ("GET", "/v1/destinations/{ref}/dead-letters/"): DmpCase(
        "item", "/v1/destinations/{dest}/dead-letters/"
    ),
    ("POST", "/v1/destinations/{ref}/dead-letters/{message_id}/retry"): DmpCase(
        "item", "/v1/destinations/{dest}/dead-letters/1/retry"
    ),
    ("GET", "/v1/destinations/{ref}/history/outbound"): DmpCase(
        "item", "/v1/destinations/{dest}/history/outbound"
    ),
    ("GET", "/v1/datasources/{ref}/history/inbound"): DmpCase(
        "item", "/v1/datasources/{ds}/history/inbound"
    ),
    ("GET", "/event"): DmpCase("dcs"),
    ("POST", "/event"): DmpCase("dcs"),
    ("GET", "/ibs:{params:path}"): DmpCase("dcs"),
    ("GET", "/demoptout"): DmpCase("dcs"),
    ("GET", "/demoptout.jpg"): DmpCase("dcs"),
}


async def _v1(
    s: SceneLike, cred: Credential, method: str, path: str, case: DmpCase, org: str | None = None
) -> httpx.Response:
    url = (case.path or path).format_map(s.ids)
    body = case.body(s) if callable(case.body) else None
    headers = dict(cred.headers)
    if org:
        headers["x-gw-ims-org-id"] = org
    return await s.http.request(method, url, json=body, headers=headers)


async def check(s: SceneLike, method: str, path: str) -> None:
    """Calls ``method path`` as each intruder and asserts what it may see."""
    case = CASES[(method, path)]
    if case.kind == "dcs":
        await _dcs(s, method, path)
        return
    foreign = await _v1(s, s.beta, method, path, case, org="acme")
    assert foreign.status_code == 403, foreign.text
    own = await _v1(s, s.beta, method, path, case)
    limited = await _v1(s, s.limited, method, path, case)
    if case.kind == "list":
        assert own.status_code == 200, own.text
        body = own.json()
        items = body if isinstance(body, list) else body["list"]
        assert s.ids[case.marker] not in [i[case.listed] for i in items], own.text
        assert limited.status_code == 200, limited.text
    elif case.kind == "free":
        assert own.status_code == 200, own.text
        assert limited.status_code == 200, limited.text
        if "currentTraitCount" in own.json() or "currentSegmentCount" in own.json():
            assert set(own.json().values()) & {0}, own.text
    elif case.kind == "create":
        # Beta's own data source or destination names nothing of acme's.
        expected = 201 if path in ("/v1/datasources/", "/v1/destinations/") else 400
        assert own.status_code == expected, own.text
        assert limited.status_code == 403, limited.text
    else:
        assert own.status_code == 404, own.text
        assert own.json()["errors"][0]["errorCode"] == "Not.Found"
        assert limited.status_code == (200 if method == "GET" else 403), limited.text


async def _dcs(s: SceneLike, method: str, path: str) -> None:
    ds = s.ids["ds"]
    host = {"Host": BETA_HOST}
    if path == "/event":
        query = {
            "c_secret": "1",
            "d_uuid": DEVICE,
            "d_cid": f"{ds}\x01acme-user",
            "d_rtbd": "json",
            "d_cts": "2",
        }
        if method == "POST":
            form = {"content": "&".join(f"{k}={v}" for k, v in query.items()).encode()}
            response = await s.http.post(
                "/event",
                headers={**host, "Content-Type": "application/x-www-form-urlencoded"},
                **form,
            )
        else:
            response = await s.http.get("/event", params=query, headers=host)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body.get("traits", []) == [] and body.get("segments", []) == [], response.text
        # 302: acme's data source is no namespace of beta's; 171 once beta opted the id out.
        assert {e["code"] for e in body["errors"]} <= {302, 171}, response.text
    elif path.startswith("/ibs:"):
        response = await s.http.get(
            f"/ibs:dpid={ds}&dpuuid=acme-user",
            headers={**host, "Cookie": f"demdex={DEVICE}"},
        )
        assert response.headers["X-Error"] in ("302", "171"), response.text
    else:
        response = await s.http.get(path, params={"d_uuid": DEVICE}, headers=host)
        assert response.status_code == 200, response.text
