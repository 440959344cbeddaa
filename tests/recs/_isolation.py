"""The recommendations part of tests/test_isolation.py: acme's objects and one case per route.

Recommendations objects belong to the whole tenant (docs/recommendations.md, "Access"). For every
``/{tenant}/target/recs`` route: beta's approver naming acme gets 403 (checked by the caller);
beta's approver on its own tenant with acme's ids gets 404 for items (or an answer without acme's
data for lists and searches; writes touch only beta's rows); an acme approver limited to one
workspace reads (200) but may not write (403). The caller checks that acme's rows are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from tests.conftest import Credential

PREFIX = "/{tenant}/target/recs"
V1 = "application/vnd.adobe.target.v1+json"
HIDDEN = "hidden-item"


class SceneLike(Protocol):
    http: httpx.AsyncClient
    owner: Credential
    beta: Credential
    limited: Credential
    ids: dict[str, Any]


def is_recs_route(path: str) -> bool:
    return path.startswith(PREFIX + "/")


@dataclass(frozen=True)
class Case:
    """``write``: the limited client gets 403. ``foreign``: beta's status on its own tenant with
    acme's ids. ``absent``: a function of beta's response body that must be true (acme's data not
    in it)."""

    write: bool
    foreign: int
    params: Callable[[SceneLike], dict[str, Any]] = lambda s: {}
    query: Callable[[SceneLike], dict[str, Any]] = lambda s: {}
    body: Callable[[SceneLike], Any] | None = None
    absent: Callable[[Any], bool] | None = None


async def seed(scene: SceneLike) -> None:
    """Acme's hidden entity (default environment)."""
    headers = {**scene.owner.headers, "Content-Type": V1}
    entity = {"id": HIDDEN, "name": "Hidden", "categories": ["secret"], "attributes": {}}
    response = await scene.http.post(
        "/acme/target/recs/entities", json={"entities": [entity]}, headers=headers
    )
    assert response.status_code == 200 and response.json()["rejected"] == 0, response.text
    await seed_merchandising(scene)
    await seed_criteria(scene)
    await seed_feed(scene)


def _no_hits(body: Any) -> bool:
    return HIDDEN not in str(body)


CASES: dict[tuple[str, str], Case] = {
    ("POST", f"{PREFIX}/entities"): Case(
        write=True,
        foreign=200,
        body=lambda s: {"entities": [{"id": HIDDEN, "name": "Taken", "categories": ["x"]}]},
    ),
    ("GET", f"{PREFIX}/entities/{{entity}}"): Case(
        write=False, foreign=404, params=lambda s: {"entity": HIDDEN}
    ),
    ("DELETE", f"{PREFIX}/entities/{{entity}}"): Case(
        write=True, foreign=404, params=lambda s: {"entity": HIDDEN}
    ),
    ("DELETE", f"{PREFIX}/entities"): Case(
        write=True, foreign=200, query=lambda s: {"ids": HIDDEN}
    ),
    ("POST", f"{PREFIX}/catalogsearch"): Case(
        write=False,
        foreign=404,
        body=lambda s: {"meta": {"environmentId": s.ids["environment"]}},
    ),
}


# Designs, collections, exclusions and promotions (Helper B): acme's are named after HIDDEN.
MERCH_BODIES: dict[str, Callable[[str], dict[str, Any]]] = {
    "designs": lambda name: {"name": name, "script": "$entity1.id"},
    "collections": lambda name: {"name": name, "rules": [{"id": {"equals": ["x"]}}]},
    "exclusions": lambda name: {"name": name, "rule": {"id": {"equals": ["x"]}}},
    "promotions": lambda name: {"name": name, "type": "EXTERNAL", "entityIds": ["x"]},
}


async def seed_merchandising(scene: SceneLike) -> None:
    headers = {**scene.owner.headers, "Content-Type": V1}
    for plural, body in MERCH_BODIES.items():
        response = await scene.http.post(
            f"/acme/target/recs/{plural}", json=body(f"{HIDDEN}-{plural}"), headers=headers
        )
        assert response.status_code == 201, response.text
        scene.ids[f"recs.{plural}"] = response.json()["id"]


def _merch_cases(plural: str) -> dict[tuple[str, str], Case]:
    body = MERCH_BODIES[plural]
    item = f"{PREFIX}/{plural}/{{object_id}}"

    def own_id(s: SceneLike) -> dict[str, Any]:
        return {"object_id": s.ids[f"recs.{plural}"]}

    return {
        ("GET", f"{PREFIX}/{plural}"): Case(write=False, foreign=200),
        ("POST", f"{PREFIX}/{plural}"): Case(
            write=True, foreign=201, body=lambda s: body(f"beta-{plural}")
        ),
        ("GET", item): Case(write=False, foreign=404, params=own_id),
        ("PUT", item): Case(write=True, foreign=404, params=own_id, body=lambda s: body("renamed")),
        ("DELETE", item): Case(write=True, foreign=404, params=own_id),
    }


for _plural in MERCH_BODIES:
    CASES.update(_merch_cases(_plural))
CASES[("POST", f"{PREFIX}/designs/validate")] = Case(
    write=False, foreign=200, body=lambda s: {"script": "$entity1.id"}
)


# Criteria (Helper A): acme's is a popularity criteria named after HIDDEN.
CRITERIA = f"{PREFIX}/criteria"


async def seed_criteria(scene: SceneLike) -> None:
    headers = {**scene.owner.headers, "Content-Type": V1}
    body = {"name": f"{HIDDEN}-criteria", "type": "VIEWED"}
    response = await scene.http.post(
        "/acme/target/recs/criteria/popularity", json=body, headers=headers
    )
    assert response.status_code == 201, response.text
    scene.ids["recs.criteria"] = response.json()["id"]


def _criteria_item(s: SceneLike) -> dict[str, Any]:
    return {"group": "popularity", "criteria_id": s.ids["recs.criteria"]}


CASES.update(
    {
        ("GET", CRITERIA): Case(write=False, foreign=200),
        ("GET", f"{CRITERIA}/{{ref}}"): Case(
            write=False, foreign=404, params=lambda s: {"ref": s.ids["recs.criteria"]}
        ),
        ("POST", f"{CRITERIA}/{{group}}"): Case(
            write=True,
            foreign=201,
            params=lambda s: {"group": "popularity"},
            body=lambda s: {"name": "beta-criteria", "type": "SELLERS"},
        ),
        ("GET", f"{CRITERIA}/{{group}}/{{criteria_id}}"): Case(
            write=False, foreign=404, params=_criteria_item
        ),
        ("PUT", f"{CRITERIA}/{{group}}/{{criteria_id}}"): Case(
            write=True,
            foreign=404,
            params=_criteria_item,
            body=lambda s: {"name": "renamed", "type": "SELLERS"},
        ),
        ("DELETE", f"{CRITERIA}/{{group}}/{{criteria_id}}"): Case(
            write=True, foreign=404, params=_criteria_item
        ),
        ("POST", f"{CRITERIA}/{{group}}/{{criteria_id}}/train"): Case(
            write=True, foreign=404, params=_criteria_item
        ),
    }
)


# Feeds (Helper A): an upload feed with no schedule, so creating one writes no job rows.
FEEDS = f"{PREFIX}/feeds"


def _feed_body(name: str) -> dict[str, Any]:
    return {"name": name, "format": "csv", "connection": {"type": "upload"}}


async def seed_feed(scene: SceneLike) -> None:
    headers = {**scene.owner.headers, "Content-Type": V1}
    response = await scene.http.post(
        "/acme/target/recs/feeds", json=_feed_body(f"{HIDDEN}-feed"), headers=headers
    )
    assert response.status_code == 201, response.text
    scene.ids["recs.feed"] = response.json()["id"]


def _feed_item(s: SceneLike) -> dict[str, Any]:
    return {"feed_id": s.ids["recs.feed"]}


CASES.update(
    {
        ("GET", FEEDS): Case(write=False, foreign=200),
        ("POST", FEEDS): Case(write=True, foreign=201, body=lambda s: _feed_body("beta-feed")),
        ("GET", f"{FEEDS}/{{feed_id}}"): Case(write=False, foreign=404, params=_feed_item),
        ("PUT", f"{FEEDS}/{{feed_id}}"): Case(
            write=True, foreign=404, params=_feed_item, body=lambda s: _feed_body("renamed")
        ),
        ("DELETE", f"{FEEDS}/{{feed_id}}"): Case(write=True, foreign=404, params=_feed_item),
        ("PUT", f"{FEEDS}/{{feed_id}}/file"): Case(
            write=True,
            foreign=404,
            params=_feed_item,
            body=lambda s: {"content": "entity.id\nx\n"},
        ),
        ("POST", f"{FEEDS}/{{feed_id}}/run"): Case(write=True, foreign=404, params=_feed_item),
    }
)


async def _call(scene: SceneLike, cred: Credential, method: str, path: str, tenant: str) -> Any:
    case = CASES[(method, path)]
    url = path.format_map({"tenant": tenant, **case.params(scene)})
    headers = {**cred.headers, "Accept": V1}
    body = case.body(scene) if case.body else None
    if body is not None:
        headers["Content-Type"] = V1
    return await scene.http.request(
        method, url, json=body, headers=headers, params=case.query(scene)
    )


async def check(scene: SceneLike, method: str, path: str) -> None:
    case = CASES[(method, path)]
    foreign = await _call(scene, scene.beta, method, path, "acme")
    assert foreign.status_code == 403, foreign.text
    own = await _call(scene, scene.beta, method, path, "beta")
    assert own.status_code == case.foreign, own.text
    if case.absent is not None or own.status_code == 200:
        assert (case.absent or _no_hits)(own.json()), own.text
    limited = await _call(scene, scene.limited, method, path, "acme")
    # Tenant-wide objects: a client limited to one workspace reads them but may not change them.
    assert limited.status_code == (403 if case.write else 200), limited.text
