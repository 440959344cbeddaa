"""Tenant and workspace isolation, asserted for every Admin API route in the app's route table.

The parametrisation is the route table itself (every ``/{tenant}/target`` route), looked up in
``CASES``: a table of example ids and bodies per route. A route without an entry fails
``test_route_has_an_isolation_case``, so nobody ships a route this file has not thought about.

For each route, three callers act on objects that tenant ``acme`` keeps in its workspace
``Hidden``:

* tenant ``beta``'s approver on acme's path: 403, always;
* the same approver on its own path with acme's ids: 404 on items, absent from lists, refused
  when a body points at acme's workspace;
* an acme approver limited to workspace ``Open``: 404 on items of ``Hidden``, absent from lists,
  403 when creating in ``Hidden``; tenant-level resources (environments, mboxes, profile
  attributes) are visible but only tenant-wide writers may change them.

After the calls, every row of acme's (and every row of tables no tenant owns) must be as before.
That check is also why one scene per backend serves the whole module: a case that changed
anything fails itself, and the next cases start from the same rows.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy import create_engine, select, text

from cible.activities.mboxes.service import record_seen
from cible.activities.profileattrs.service import record_profile_attributes
from cible.config import Settings
from cible.profiles import service as profiles
from cible.recs.tables import RecsCriteria
from cible.store import Database
from cible.store.models import metadata
from cible.tenants import service as tenants
from cible.web.app import create_app
from tests.conftest import BACKENDS, SECRET_KEY, Credential
from tests.dmp import _isolation as dmp_isolation
from tests.pg import Cluster
from tests.recs import _isolation as recs_isolation

PREFIX = "/{tenant}/target"
GOLD = {"profile": "memberLevel", "equals": ["gold"]}


def admin_routes() -> list[tuple[str, str]]:
    """``(method, path)`` of every Admin API route of a freshly built app."""
    app = create_app(Settings(database_url="sqlite://", _env_file=None))  # type: ignore[call-arg]
    found = set()
    for route in iter_route_contexts(app.routes):
        if (
            route.path
            and route.path.startswith(PREFIX)
            and not recs_isolation.is_recs_route(route.path)
        ):
            found.update((method, route.path) for method in route.methods or ())
    app.state.db.dispose()
    return sorted(found)


ROUTES = admin_routes()


@dataclass
class Scene:
    """Acme's hidden objects and the callers who must not reach them."""

    http: httpx.AsyncClient
    database: Database
    owner: Credential
    beta: Credential
    limited: Credential
    ids: dict[str, Any] = field(default_factory=dict)

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table that is acme's (or belongs to no tenant), in order."""
        shot: dict[str, list[tuple[Any, ...]]] = {}
        with self.database.session() as s:
            acme = tenants.get_tenant(s, "acme").id
            for table in metadata.sorted_tables:
                query = select(table).order_by(*table.primary_key.columns)
                if "tenant_id" in table.c:
                    query = query.where(table.c.tenant_id == acme)
                shot[table.name] = [tuple(row) for row in s.execute(query)]
        return shot

    async def post(self, path: str, body: Any, version: int = 1) -> Any:
        headers = {**self.owner.headers, "Content-Type": _vendor(version)}
        response = await self.http.post(f"/acme/target{path}", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()["id"]


def _vendor(version: int) -> str:
    return f"application/vnd.adobe.target.v{version}+json"


def _ab(offer: Any, workspace: str, name: str = "Hidden test") -> dict[str, Any]:
    return {
        "name": name,
        "workspace": workspace,
        "options": [{"optionLocalId": 0, "name": "Only", "offerId": offer}],
        "locations": {"mboxes": [{"locationLocalId": 0, "name": "hero"}]},
        "experiences": [
            {
                "experienceLocalId": 0,
                "name": "A",
                "visitorPercentage": 100,
                "optionLocations": [{"locationLocalId": 0, "optionLocalId": 0}],
            }
        ],
    }


def _xt(offer: Any, audience: Any, workspace: str, name: str = "Hidden xt") -> dict[str, Any]:
    return {
        "name": name,
        "workspace": workspace,
        "options": [{"optionLocalId": 0, "offerId": offer}, {"optionLocalId": 1, "offerId": offer}],
        "locations": {"mboxes": [{"locationLocalId": 0, "name": "hero"}]},
        "experiences": [
            {
                "experienceLocalId": 0,
                "name": "Gold",
                "audienceIds": [audience],
                "optionLocations": [{"locationLocalId": 0, "optionLocalId": 0}],
            },
            {
                "experienceLocalId": 1,
                "name": "Everyone else",
                "optionLocations": [{"locationLocalId": 0, "optionLocalId": 1}],
            },
        ],
    }


@pytest.fixture(scope="module", params=BACKENDS)
def scene_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One database per backend for the whole module (built like conftest's ``database_url``):
    every case leaves it as it found it, which each test checks."""
    if request.param == "postgres":
        cluster: Cluster = request.getfixturevalue("pg_cluster")
        engine = create_engine(cluster.url("postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("CREATE DATABASE isolation TEMPLATE cible_template"))
        engine.dispose()
        return cluster.url("isolation")
    template: Path = request.getfixturevalue("sqlite_template")
    path = tmp_path_factory.mktemp("isolation") / "cible.db"
    shutil.copy(template, path)
    return f"sqlite:///{path}"


async def _credential(
    http: httpx.AsyncClient,
    database: Database,
    tenant: str,
    role: str,
    workspace: str | None = None,
) -> Credential:
    with database.session() as s:
        new = tenants.create_client(s, tenant_code=tenant, role=role, workspace=workspace)
    response = await http.post(
        "/ims/token/v3",
        data={
            "grant_type": "client_credentials",
            "client_id": new.client_id,
            "client_secret": new.client_secret,
        },
    )
    assert response.status_code == 200, response.text
    return Credential(new.client_id, new.client_secret, response.json()["access_token"])


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def scene(scene_url: str) -> AsyncIterator[Scene]:
    settings = Settings(
        database_url=scene_url,
        secret_key=SECRET_KEY,
        throttle_rate=10_000,
        throttle_burst=10_000,
        _env_file=None,  # type: ignore[call-arg]
    )
    database = Database(scene_url)
    with database.session() as s:
        tenants.create_tenant(s, "acme")
        tenants.create_tenant(s, "beta")
    transport = httpx.ASGITransport(app=create_app(settings, database=database))
    http = httpx.AsyncClient(transport=transport, base_url="http://cible.test")
    owner = await _credential(http, database, "acme", "approver")
    beta = await _credential(http, database, "beta", "approver")
    scene = Scene(http, database, owner, beta, owner)
    ws = await scene.post("/workspaces", {"name": "Hidden"})
    await scene.post("/workspaces", {"name": "Open"})
    scene.limited = await _credential(http, database, "acme", "approver", workspace="Open")
    ids = scene.ids
    ids["workspace"] = ws
    ids["content"] = await scene.post(
        "/offers/content", {"name": "hidden", "content": "<p>h</p>", "workspace": ws}
    )
    ids["json"] = await scene.post(
        "/offers/json", {"name": "hidden-json", "content": {}, "workspace": ws}
    )
    ids["audience"] = await scene.post(
        "/audiences", {"name": "hidden", "targetRule": GOLD, "workspace": ws}
    )
    ids["property"] = await scene.post(
        "/properties", {"name": "hidden", "channel": "web", "workspaces": [ws]}
    )
    ids["environment"] = await scene.post("/environments", {"name": "Hidden-env"})
    ids["ab"] = await scene.post("/activities/ab", _ab(ids["content"], ws), 3)
    ids["xt"] = await scene.post("/activities/xt", _xt(ids["content"], ids["audience"], ws), 3)
    auto = {**_ab(ids["content"], ws, "Hidden auto"), "autoAllocateTraffic": {}}
    ids["autoallocate"] = await scene.post("/activities/autoallocate", auto, 1)
    ids["mbox"] = "hidden-mbox"
    ids["attribute"] = "hiddenAttribute"
    now = datetime.now(UTC)
    with database.session() as s:
        tenant_id = tenants.get_tenant(s, "acme").id
        record_seen(s, tenant_id, {"hidden-mbox": {"secret.param"}}, now)
        record_profile_attributes(s, tenant_id, {"hiddenAttribute"}, now)
    ids["visitor"] = "hiddenvisitor.0"
    with database.session() as s:
        tenant_id = tenants.get_tenant(s, "acme").id
        profile = profiles.new_profile(tenant_id, "tnt", ids["visitor"], now)
        profiles.apply_attributes(profile, {"secret": "yes"}, now)
        s.add(profile)
        s.flush()
        s.add_all(profiles.id_rows("tnt", ids["visitor"], profile))
    await dmp_isolation.seed(scene)
    await recs_isolation.seed(scene)
    with database.session() as s:
        criteria = RecsCriteria(
            tenant_id=tenants.get_tenant(s, "acme").id,
            criteria_group="popularity",
            name="hidden-offer-criteria",
            body="{}",
        )
        s.add(criteria)
        s.flush()
        ids["recs.criteria"] = criteria.id
    ids["recs"] = await scene.post("/offers/recs", _recs_offer(scene, "hidden-recs"))
    yield scene
    await http.aclose()
    database.dispose()


# -- the table of cases ------------------------------------------------------------------------

Ids = Callable[[Scene], dict[str, Any]]
Body = Callable[[Scene], Any]


@dataclass(frozen=True)
class Case:
    """How to call one route against acme's hidden objects, and what it lists.

    ``kind``: ``list``, ``create``, ``item``, ``batch`` or ``token``. ``scope``: ``workspace``
    (objects live in a workspace), ``tenant`` (one per tenant, visible to every role on it) or
    ``workspaces`` (the workspaces themselves). ``listed`` pulls identifiers out of a list
    response and ``marker`` is acme's hidden identifier that must not appear in it.
    """

    kind: str
    scope: str = "workspace"
    params: Ids = lambda s: {}
    body: Body | None = None
    listed: Callable[[Any], list[Any]] | None = None
    marker: Callable[[Scene], Any] | None = None
    version: int = 1
    query: Ids = lambda s: {}


def _ids(key: str, field: str = "id") -> Callable[[Any], list[Any]]:
    return lambda body: [item[field] for item in body[key]]


def _param(name: str, key: str) -> Ids:
    return lambda s: {name: s.ids[key]}


def _hidden(key: str) -> Callable[[Scene], Any]:
    return lambda s: s.ids[key]


def _batch(s: Scene) -> dict[str, Any]:
    audience = s.ids["audience"]
    return {
        "operations": [
            {"operationId": 0, "method": "GET", "relativeUrl": f"/audiences/{audience}"},
            {"operationId": 1, "method": "DELETE", "relativeUrl": f"/audiences/{audience}"},
            {
                "operationId": 2,
                "method": "GET",
                "relativeUrl": f"/offers/content/{s.ids['content']}",
            },
        ]
    }


def _recs_offer(s: Scene, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "criteriaId": s.ids["recs.criteria"],
        "designId": s.ids["recs.designs"],
        "workspace": s.ids["workspace"],
    }


def _offer_cases(kind: str, key: str, body: Body) -> dict[tuple[str, str], Case]:
    item = f"{PREFIX}/offers/{kind}/{{offer_id}}"
    params = _param("offer_id", key)
    return {
        ("POST", f"{PREFIX}/offers/{kind}"): Case("create", body=body),
        ("GET", item): Case("item", params=params),
        ("PUT", item): Case("item", params=params, body=body),
        ("DELETE", item): Case("item", params=params),
    }


def _activity_cases(kind: str) -> dict[tuple[str, str], Case]:
    def body(s: Scene) -> Any:
        ws = s.ids["workspace"]
        if kind == "ab":
            return _ab(s.ids["content"], ws, "Taken over")
        return _xt(s.ids["content"], s.ids["audience"], ws, "Taken over")

    item = f"{PREFIX}/activities/{kind}/{{activity_id}}"
    params = _param("activity_id", kind)
    cases = {
        ("POST", f"{PREFIX}/activities/{kind}"): Case("create", body=body, version=3),
        ("GET", item): Case("item", params=params, version=3),
        ("PUT", item): Case("item", params=params, body=body, version=3),
        ("DELETE", item): Case("item", params=params, version=3),
        ("POST", f"{item}/qamode"): Case("item", params=params, body=lambda s: {}, version=3),
        ("POST", f"{item}/reset"): Case("item", params=params, body=lambda s: {}, version=3),
    }
    for base in (item, f"{PREFIX}/activities/{{activity_id}}"):
        cases |= {
            ("PUT", f"{base}/{name}"): Case("item", params=params, body=lambda s, b=b: b)
            for name, b in SUB_BODIES.items()
        }
    return cases


def _autoallocate_cases() -> dict[tuple[str, str], Case]:
    def body(s: Scene) -> Any:
        return {
            **_ab(s.ids["content"], s.ids["workspace"], "Taken over"),
            "autoAllocateTraffic": {"successEvaluationCriteria": "conversion_rate"},
        }

    base = f"{PREFIX}/activities/autoallocate"
    item = base + "/{activity_id}"
    params = _param("activity_id", "autoallocate")
    return {
        ("POST", base): Case("create", body=body),
        ("GET", item): Case("item", params=params),
        ("PUT", item): Case("item", params=params, body=body),
        ("DELETE", item): Case("item", params=params),
        ("GET", item + "/allocations"): Case("item", params=params),
        ("POST", item + "/qamode"): Case("item", params=params, body=lambda s: {}),
        ("POST", item + "/reset"): Case("item", params=params, body=lambda s: {}),
    }


SUB_BODIES: dict[str, Any] = {
    "state": {"state": "deactivated"},
    "priority": {"priority": 999},
    "schedule": {"startsAt": "2030-01-01T00:00:00Z", "endsAt": "2030-02-01T00:00:00Z"},
    "name": {"name": "Renamed by an intruder"},
}

AUDIENCE = f"{PREFIX}/audiences/{{audience_id}}"
PROPERTY = f"{PREFIX}/properties/{{property_id}}"
WORKSPACE = f"{PREFIX}/workspaces/{{workspace_id}}"
ENVIRONMENT = f"{PREFIX}/environments/{{environment_id}}"

CASES: dict[tuple[str, str], Case] = {
    ("GET", f"{PREFIX}/offers"): Case("list", listed=_ids("offers"), marker=_hidden("content")),
    **_offer_cases(
        "content",
        "content",
        lambda s: {"name": "intruder", "content": "<p>x</p>", "workspace": s.ids["workspace"]},
    ),
    **_offer_cases(
        "json",
        "json",
        lambda s: {"name": "intruder", "content": {"x": 1}, "workspace": s.ids["workspace"]},
    ),
    **_offer_cases("recs", "recs", lambda s: _recs_offer(s, "intruder")),
    ("GET", f"{PREFIX}/audiences"): Case(
        "list", listed=_ids("audiences"), marker=_hidden("audience")
    ),
    ("POST", f"{PREFIX}/audiences"): Case(
        "create",
        body=lambda s: {"name": "intruder", "targetRule": GOLD, "workspace": s.ids["workspace"]},
    ),
    ("GET", AUDIENCE): Case("item", params=_param("audience_id", "audience")),
    ("PUT", AUDIENCE): Case(
        "item",
        params=_param("audience_id", "audience"),
        body=lambda s: {"name": "intruder", "targetRule": GOLD},
    ),
    ("PATCH", AUDIENCE): Case(
        "item", params=_param("audience_id", "audience"), body=lambda s: {"name": "intruder"}
    ),
    ("DELETE", AUDIENCE): Case("item", params=_param("audience_id", "audience")),
    ("GET", f"{PREFIX}/properties"): Case(
        "list", listed=_ids("properties"), marker=_hidden("property")
    ),
    ("POST", f"{PREFIX}/properties"): Case(
        "create",
        body=lambda s: {"name": "intruder", "channel": "web", "workspaces": [s.ids["workspace"]]},
    ),
    ("GET", PROPERTY): Case("item", params=_param("property_id", "property")),
    ("PUT", PROPERTY): Case(
        "item",
        params=_param("property_id", "property"),
        body=lambda s: {"name": "intruder", "channel": "email"},
    ),
    ("DELETE", PROPERTY): Case("item", params=_param("property_id", "property")),
    ("GET", f"{PREFIX}/workspaces"): Case(
        "list", scope="workspaces", listed=_ids("workspaces"), marker=_hidden("workspace")
    ),
    ("POST", f"{PREFIX}/workspaces"): Case(
        "create", scope="workspaces", body=lambda s: {"name": "intruder"}
    ),
    ("GET", WORKSPACE): Case(
        "item", scope="workspaces", params=_param("workspace_id", "workspace")
    ),
    ("PUT", WORKSPACE): Case(
        "item",
        scope="workspaces",
        params=_param("workspace_id", "workspace"),
        body=lambda s: {"name": "intruder"},
    ),
    ("DELETE", WORKSPACE): Case(
        "item", scope="workspaces", params=_param("workspace_id", "workspace")
    ),
    ("GET", f"{PREFIX}/environments"): Case(
        "list", scope="tenant", listed=_ids("environments"), marker=_hidden("environment")
    ),
    ("POST", f"{PREFIX}/environments"): Case(
        "create", scope="tenant", body=lambda s: {"name": "intruder"}
    ),
    ("GET", ENVIRONMENT): Case(
        "item", scope="tenant", params=_param("environment_id", "environment")
    ),
    ("PUT", ENVIRONMENT): Case(
        "item",
        scope="tenant",
        params=_param("environment_id", "environment"),
        body=lambda s: {"name": "intruder", "default": True},
    ),
    ("DELETE", ENVIRONMENT): Case(
        "item", scope="tenant", params=_param("environment_id", "environment")
    ),
    ("GET", f"{PREFIX}/authentication/token"): Case(
        "token", query=lambda s: {"authorizationScope": "profile_api"}
    ),
    ("POST", f"{PREFIX}/authentication/token"): Case(
        "token", query=lambda s: {"authorizationScope": "profile_api"}
    ),
    # Beta's defaults never name acme's environments; beta naming one is a 400 (it does not exist
    # for beta), and a client limited to one workspace may not change tenant-wide defaults.
    ("GET", f"{PREFIX}/environments/defaults"): Case(
        "list",
        scope="tenant",
        listed=lambda b: [b["reportingEnvironmentId"], b["newHostEnvironmentId"]],
        marker=_hidden("environment"),
    ),
    ("PUT", f"{PREFIX}/environments/defaults"): Case(
        "create", body=lambda s: {"newHostEnvironmentId": s.ids["environment"]}
    ),
    ("GET", f"{PREFIX}/profileattributes/mbox"): Case(
        "list",
        scope="tenant",
        listed=lambda b: b["mboxProfileAttributes"],
        marker=_hidden("attribute"),
    ),
    ("GET", f"{PREFIX}/mboxes"): Case(
        "list", scope="tenant", listed=_ids("mboxes", "name"), marker=_hidden("mbox")
    ),
    ("GET", f"{PREFIX}/mbox/{{name}}"): Case("item", scope="tenant", params=_param("name", "mbox")),
    ("GET", f"{PREFIX}/activities"): Case("list", listed=_ids("activities"), marker=_hidden("ab")),
    ("GET", f"{PREFIX}/activities/{{activity_id}}/changelog"): Case(
        "item", params=_param("activity_id", "ab")
    ),
    **_activity_cases("ab"),
    **_activity_cases("xt"),
    **{
        ("GET", f"{PREFIX}/activities/{kind}/{{activity_id}}/report/{report}"): Case(
            "item", params=_param("activity_id", kind)
        )
        for kind in ("ab", "xt")
        for report in ("performance", "orders")
    },
    **_autoallocate_cases(),
    ("POST", f"{PREFIX}/batch"): Case("batch", body=_batch),
    **{
        (method, f"{PREFIX}/privacy/visitor"): Case(
            "visitor", scope="tenant", query=lambda s: {"id": s.ids["visitor"]}
        )
        for method in ("GET", "DELETE")
    },
}


# -- the tests ---------------------------------------------------------------------------------


def test_route_has_an_isolation_case() -> None:
    missing = sorted(set(ROUTES) - set(CASES))
    assert not missing, f"add isolation cases to CASES in tests/test_isolation.py for: {missing}"


def test_route_table_has_no_stale_cases() -> None:
    stale = sorted(set(CASES) - set(ROUTES))
    assert not stale, f"isolation cases for routes the app no longer has: {stale}"


async def _call(
    scene: Scene, cred: Credential, method: str, path: str, case: Case, tenant: str
) -> httpx.Response:
    url = path.format_map({"tenant": tenant, **case.params(scene)})
    body = case.body(scene) if case.body else None
    media = _vendor(case.version)
    headers = {**cred.headers, "Accept": media}
    if body is not None:
        headers["Content-Type"] = media
    return await scene.http.request(
        method, url, json=body, headers=headers, params=case.query(scene)
    )


@pytest.mark.anyio
@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_route_isolates_tenants_and_workspaces(scene: Scene, method: str, path: str) -> None:
    assert (method, path) in CASES, (
        f"{method} {path} has no isolation case: add one to CASES in tests/test_isolation.py"
    )
    case = CASES[(method, path)]
    before = scene.snapshot()

    # Tenant beta's credential on acme's path: forbidden, whatever the route.
    foreign = await _call(scene, scene.beta, method, path, case, "acme")
    assert foreign.status_code == 403, foreign.text
    assert foreign.json()["errors"][0]["errorCode"] == "Forbidden"

    # Beta on its own path with acme's ids and workspace.
    own = await _call(scene, scene.beta, method, path, case, "beta")
    _expect_hidden(own, case, scene, foreign_tenant=True)

    # An acme client limited to workspace Open, on objects of workspace Hidden.
    limited = await _call(scene, scene.limited, method, path, case, "acme")
    _expect_hidden(limited, case, scene, foreign_tenant=False, method=method)

    assert scene.snapshot() == before, f"{method} {path} changed acme's objects"


def _expect_hidden(
    response: httpx.Response, case: Case, scene: Scene, *, foreign_tenant: bool, method: str = "GET"
) -> None:
    if case.kind == "batch":
        assert response.status_code == 200, response.text
        statuses = [r["statusCode"] for r in response.json()["results"]]
        assert statuses == [404, 404, 404], response.text
        return
    if case.kind == "list":
        assert response.status_code == 200, response.text
        assert case.listed is not None and case.marker is not None
        found = case.listed(response.json())
        if foreign_tenant or case.scope != "tenant":
            assert case.marker(scene) not in found, response.text
        return
    if case.kind == "visitor":
        # Visitors belong to the whole tenant: beta finds nothing of acme's under acme's ids, and
        # a client limited to one workspace may neither export nor delete.
        if foreign_tenant:
            assert response.status_code == 200, response.text
            body = response.json()
            assert body.get("profiles", []) == [] and all(
                n == 0 for n in body.get("deleted", {}).values()
            ), response.text
        else:
            assert response.status_code == 403, response.text
        return
    if case.kind == "token":
        # Beta gets a token of its own tenant (useless on acme's); a client limited to one
        # workspace may not get a tenant-wide profile_api token.
        if foreign_tenant:
            assert response.status_code in (200, 201), response.text
        else:
            assert response.status_code == 403, response.text
        return
    if case.kind == "create":
        if foreign_tenant:
            # Beta may create its own workspaces and environments; a body naming acme's
            # workspace is refused.
            expected = 201 if case.scope in ("tenant", "workspaces") else 400
        else:
            expected = 403
        assert response.status_code == expected, response.text
        return
    if foreign_tenant or case.scope != "tenant":
        assert response.status_code == 404, response.text
        assert response.json()["errors"][0]["errorCode"] == "Not.Found"
    elif method == "GET":
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 403, response.text


# -- the audience manager (/v1 and the DCS): cases in tests/dmp/_isolation.py ------------------


def dmp_routes() -> list[tuple[str, str]]:
    app = create_app(Settings(database_url="sqlite://", _env_file=None))  # type: ignore[call-arg]
    found = {
        (method, route.path)
        for route in iter_route_contexts(app.routes)
        if route.path and dmp_isolation.is_dmp_route(route.path)
        for method in route.methods or ()
    }
    app.state.db.dispose()
    return sorted(found)


DMP_ROUTES = dmp_routes()


def test_dmp_routes_have_isolation_cases() -> None:
    assert set(DMP_ROUTES) == set(dmp_isolation.CASES), "add cases to tests/dmp/_isolation.py"


@pytest.mark.anyio
@pytest.mark.parametrize(("method", "path"), DMP_ROUTES, ids=[f"{m} {p}" for m, p in DMP_ROUTES])
async def test_dmp_route_isolates_tenants(scene: Scene, method: str, path: str) -> None:
    before = scene.snapshot()
    await dmp_isolation.check(scene, method, path)
    assert scene.snapshot() == before, f"{method} {path} changed acme's objects"


# -- recommendations (/{tenant}/target/recs): cases in tests/recs/_isolation.py -----------------


def recs_routes() -> list[tuple[str, str]]:
    app = create_app(Settings(database_url="sqlite://", _env_file=None))  # type: ignore[call-arg]
    found = {
        (method, route.path)
        for route in iter_route_contexts(app.routes)
        if route.path and recs_isolation.is_recs_route(route.path)
        for method in route.methods or ()
    }
    app.state.db.dispose()
    return sorted(found)


RECS_ROUTES = recs_routes()


def test_recs_routes_have_isolation_cases() -> None:
    assert set(RECS_ROUTES) == set(recs_isolation.CASES), "add cases to tests/recs/_isolation.py"


@pytest.mark.anyio
@pytest.mark.parametrize(("method", "path"), RECS_ROUTES, ids=[f"{m} {p}" for m, p in RECS_ROUTES])
async def test_recs_route_isolates_tenants(scene: Scene, method: str, path: str) -> None:
    before = scene.snapshot()
    await recs_isolation.check(scene, method, path)
    assert scene.snapshot() == before, f"{method} {path} changed acme's objects"


# -- every other route: public by design, or covered elsewhere -----------------------------------

# Routes that carry no Admin credential, each with why (docs/security.md, "What is public").
# A route that is neither here nor in a case table above fails ``test_every_route_is_accounted``.
PUBLIC: dict[str, str] = {
    "/": "redirect to the UI",
    "/health": "liveness probe, no data",
    "/metrics": "Prometheus counters, no tenant data",
    "/openapi.json": "the API's own description",
    "/docs": "the API browser page",
    "/docs/assets/{name}": "vendored Swagger UI files",
    "/ims/token/v3": "the token endpoint: credentials in the body, throttled per client id",
    "/rest/v1/delivery": "Adobe's delivery API: called by browsers and SDKs without credentials",
    "/rest/v1/notifications": "notifications, as the delivery API",
    "/rest/v1/profiles/{kind}/{value}": "Adobe's Profile API fetch, keyed by the visitor's id",
    "/rest/v1/profiles/{tnt_id}": "Adobe's Profile API fetch, keyed by the visitor's tntId",
    "/m2/{client}/profile/update": "Adobe's single profile update API (mbox3rdPartyId/mboxPC)",
    "/m2/{client}/profile/batchUpdate": "Adobe's bulk profile update API",
    "/m2/{client}/v2/profile/batchUpdate": "Adobe's bulk profile update API v2",
    "/m2/{client}/profile/batchStatus": "status of a bulk update, by its random batch id",
    "/{client}/{environment}/v1/rules.json": "the on-device artifact, public as Adobe's CDN copy",
    "/{client}/{environment}/v1/{property_token}/rules.json": "the artifact of a property",
}
# Mounted apps with their own authentication and isolation tests.
MOUNTS = {"/ui": "the admin web UI: its own session cookies and roles, tests/ui"}


def test_every_route_is_accounted() -> None:
    """Each route of the app is an isolation case, a dmp case, public with a reason, or a mount."""
    app = create_app(Settings(database_url="sqlite://", _env_file=None))  # type: ignore[call-arg]
    covered = set(CASES) | set(dmp_isolation.CASES) | set(recs_isolation.CASES)
    unaccounted = []
    for route in iter_route_contexts(app.routes):
        path = route.path
        if not path or path in PUBLIC or path in MOUNTS:
            continue
        for method in sorted(route.methods or {"*"}):
            if method != "HEAD" and (method, path) not in covered:
                unaccounted.append(f"{method} {path}")
    app.state.db.dispose()
    assert not unaccounted, (
        "routes neither isolation-tested nor declared public in tests/test_isolation.py: "
        f"{unaccounted}"
    )
