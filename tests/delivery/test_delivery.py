"""POST /rest/v1/delivery in process: visitors, decisions, profiles, stickiness, events, errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from cible.artifacts import event_token
from cible.engine import decide
from cible.profiles import service as profiles
from cible.tenants.tables import Tenant
from tests.conftest import BACKENDS, count_rows

from . import _scenario as sc

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]

URL = "/rest/v1/delivery?client=acme&sessionId=s1"


@pytest.fixture
async def acme_app(world: Any, app: Any) -> Any:
    world.tenant("acme")
    sc.install(app, sc.artifact())
    return app


async def post(http: httpx.AsyncClient, body: Any, url: str = URL) -> dict[str, Any]:
    response = await http.post(url, json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_new_visitor_gets_a_tnt_id_the_sdk_keeps_on_the_configured_host(
    acme_app: Any, http: httpx.AsyncClient
) -> None:
    body = await post(http, sc.request(execute=sc.mboxes("hero")))
    tnt_id = body["id"]["tntId"]
    assert "_" not in tnt_id and tnt_id.count(".") == 1
    assert len(body["edgeHost"].split(".")) != 4
    assert body["status"] == 200 and body["client"] == "acme" and body["requestId"]
    again = await post(http, sc.request(tnt_id, execute=sc.mboxes("hero")))
    assert again["id"]["tntId"] == tnt_id
    assert sc.content(again) == sc.content(body)


async def test_tenant_from_ims_org_id_and_ids_echoed(
    acme_app: Any, http: httpx.AsyncClient, database: Any
) -> None:
    with database.session() as s:
        org = s.scalar(select(Tenant.organization_id).where(Tenant.client_code == "acme"))
    body = {"context": {"channel": "web"}, "id": {"thirdPartyId": "crm-1"}}
    result = await post(http, body, f"/rest/v1/delivery?imsOrgId={org}&sessionId=s2")
    assert result["client"] == "acme"
    assert result["id"]["thirdPartyId"] == "crm-1" and result["id"]["tntId"]


async def test_decisions_match_the_engine(acme_app: Any, http: httpx.AsyncClient) -> None:
    loaded = sc.artifact()
    for n in range(20):
        tnt_id = f"{n:032x}.0"
        body = sc.request(tnt_id, execute=sc.mboxes("hero", "checkout"))
        served = await post(http, body, f"/rest/v1/delivery?client=acme&sessionId=v{n}")
        expected = decide(loaded, body, profile={}, now=datetime.now(UTC), client="acme")
        assert sc.content(served) == sc.content(expected)


async def test_profile_parameters_feed_conditions_in_the_same_and_next_calls(
    acme_app: Any, http: httpx.AsyncClient
) -> None:
    first = await post(http, sc.request(execute=sc.mboxes("vip")))
    tnt_id = first["id"]["tntId"]
    assert sc.content(first) == {"vip": {"offer": 1}}
    same_call = sc.mboxes("vip", profileParameters={"vip": "true"})
    assert sc.content(await post(http, sc.request(tnt_id, execute=same_call))) == {
        "vip": {"offer": 0}
    }
    # Durable: the next call, without the parameter, still sees the attribute.
    assert sc.content(await post(http, sc.request(tnt_id, execute=sc.mboxes("vip")))) == {
        "vip": {"offer": 0}
    }
    # An at.js 1.x style `profile.*` mbox parameter updates the profile too.
    legacy = sc.mboxes("vip", parameters={"profile.vip": "false"})
    assert sc.content(await post(http, sc.request(tnt_id, execute=legacy))) == {"vip": {"offer": 1}}
    fetched = await http.get(f"/rest/v1/profiles/{tnt_id}?client=acme")
    assert fetched.status_code == 200
    assert fetched.json()["profileAttributes"]["vip"]["value"] == "false"


async def test_sticky_assignment_survives_a_split_change_until_reset(
    acme_app: Any, http: httpx.AsyncClient, database: Any
) -> None:
    visitors = {}
    for _ in range(30):
        body = await post(http, sc.request(execute=sc.mboxes("hero")))
        visitors[body["id"]["tntId"]] = sc.content(body)["hero"]
    assert {v["offer"] for v in visitors.values()} == {0, 1}
    # Experience B drops from 50 % to 1 %: without stickiness most B visitors would move to A.
    changed = sc.artifact((99, 1))
    sc.install(acme_app, changed)

    def fresh(tnt_id: str) -> Any:
        body = sc.request(tnt_id, execute=sc.mboxes("hero"))
        return sc.content(decide(changed, body, profile={}, now=datetime.now(UTC)))["hero"]

    moved = [t for t, shown in visitors.items() if fresh(t) != shown]
    assert len(moved) >= 5
    for tnt_id, shown in visitors.items():
        body = await post(http, sc.request(tnt_id, execute=sc.mboxes("hero")))
        assert sc.content(body)["hero"] == shown
    with database.session() as s:
        tenant_id = s.scalar(select(Tenant.id).where(Tenant.client_code == "acme"))
        assert profiles.reset_activity(s, tenant_id, 101) >= 30
    for tnt_id in visitors:
        body = await post(http, sc.request(tnt_id, execute=sc.mboxes("hero")))
        assert sc.content(body)["hero"] == fresh(tnt_id)


async def test_notifications_count_once_and_forged_tokens_are_rejected_alone(
    acme_app: Any, http: httpx.AsyncClient, database: Any
) -> None:
    prefetched = await post(http, sc.request(prefetch=sc.mboxes("checkout")))
    tnt_id = prefetched["id"]["tntId"]
    option = prefetched["prefetch"]["mboxes"][0]["options"][0]
    token = option["eventToken"]
    notifications = [
        {
            "id": "n-1",
            "type": "display",
            "timestamp": 1_767_225_600_000,
            "mbox": {"name": "checkout"},
            "tokens": [token],
        },
        {
            "id": "n-forged",
            "type": "display",
            "timestamp": 1_767_225_600_000,
            "mbox": {"name": "checkout"},
            "tokens": [event_token(999, 0, secret=b"attacker")],
        },
        {
            "id": "n-unknown",
            "type": "click",
            "timestamp": 1_767_225_600_000,
            "mbox": {"name": "checkout"},
            "tokens": [event_token(424242, 0)],
        },
    ]
    body = {"context": {"channel": "web"}, "id": {"tntId": tnt_id}, "notifications": notifications}
    result = await post(http, body)
    assert result["notifications"] == [{"id": "n-1"}]
    assert [r["id"] for r in result["cible"]["rejectedNotifications"]] == ["n-forged", "n-unknown"]
    displays = count_rows(database, "events")
    again = await post(http, body)  # an at-least-once sender retries the same batch
    assert again["notifications"] == [{"id": "n-1"}]
    assert count_rows(database, "events") == displays


async def test_executed_impressions_and_orders_are_deduplicated(
    acme_app: Any, http: httpx.AsyncClient, database: Any
) -> None:
    first = await post(http, sc.request(execute=sc.mboxes("hero")))
    tnt_id = first["id"]["tntId"]
    order = {"id": "order-77", "total": 99.5}
    body = sc.request(tnt_id, execute=sc.mboxes("thank-you", order=order))
    body["impressionId"] = "page-1"
    await post(http, body)
    after = count_rows(database, "events")
    await post(http, body)  # same impression id and order id: nothing new
    assert count_rows(database, "events") == after
    with database.session() as s:
        kinds = dict(
            s.execute(text("select kind, count(*) from events group by kind")).all()  # type: ignore[arg-type]
        )
        revenue = s.scalar(text("select sum(revenue) from events where kind = 'order'"))
    assert kinds["impression"] == 1 and kinds["order"] == 1 and kinds["conversion"] == 1
    assert revenue == 99.5


async def test_analytics_payload_names_activity_and_experience(
    acme_app: Any, http: httpx.AsyncClient
) -> None:
    body = sc.request(execute=sc.mboxes("hero"))
    body["experienceCloud"] = {"analytics": {"logging": "server_side"}}
    result = await post(http, body)
    mbox = result["execute"]["mboxes"][0]
    experience = mbox["options"][0]["responseTokens"]["experience.id"]
    assert mbox["analytics"] == {"payload": {"pe": "tnt", "tnta": f"101:{experience}:0|2"}}


async def test_response_tokens_say_server_side_and_carry_profile_tokens(
    acme_app: Any, http: httpx.AsyncClient
) -> None:
    result = await post(http, sc.request(execute=sc.mboxes("hero")))
    tokens = result["execute"]["mboxes"][0]["options"][0]["responseTokens"]
    assert tokens["activity.id"] == 101
    assert tokens["activity.decisioningMethod"] == "server-side"
    assert tokens["profile.isFirstSession"] == "true"


async def test_repeat_calls_in_a_session_reuse_the_cached_decision(
    acme_app: Any, http: httpx.AsyncClient
) -> None:
    first = await post(http, sc.request(execute=sc.mboxes("hero", "checkout")))
    tnt_id = first["id"]["tntId"]
    cache = acme_app.state.delivery.cache
    for _ in range(3):
        again = await post(http, sc.request(tnt_id, execute=sc.mboxes("hero", "checkout")))
        assert sc.content(again) == sc.content(first)
    assert cache.hits >= 2
    hits = cache.hits
    sc.install(acme_app, sc.artifact())  # a new artifact object: entries no longer apply
    await post(http, sc.request(tnt_id, execute=sc.mboxes("hero", "checkout")))
    assert cache.hits == hits


async def test_beacon_gets_204(acme_app: Any, http: httpx.AsyncClient) -> None:
    body = {"context": {"channel": "web", "beacon": True}, "execute": sc.mboxes("hero")}
    response = await http.post(URL, json=body)
    assert response.status_code == 204 and response.content == b""


async def test_sessions_count_visits(acme_app: Any, http: httpx.AsyncClient, clock: Any) -> None:
    first = await post(http, sc.request(execute=sc.mboxes("hero")))
    tnt_id = first["id"]["tntId"]
    await post(http, sc.request(tnt_id, execute=sc.mboxes("hero")))
    clock.advance(minutes=31)
    third = await post(http, sc.request(tnt_id, execute=sc.mboxes("hero")))
    tokens = third["execute"]["mboxes"][0]["options"][0]["responseTokens"]
    assert tokens["profile.isFirstSession"] == "false"


async def test_browser_callers_get_cors_headers(acme_app: Any, http: httpx.AsyncClient) -> None:
    page = {"Origin": "https://shop.example"}
    preflight = await http.options(URL, headers={**page, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    body = sc.request(execute=sc.mboxes("hero"))
    answered = await http.post(URL, json=body, headers={**page, "Content-Type": "text/plain"})
    assert answered.status_code == 200
    assert answered.headers["access-control-allow-credentials"] == "true"
    refused = await http.post(URL, content=b"{", headers=page)
    assert refused.headers["access-control-allow-origin"] == "https://shop.example"
    server_side = await http.post(URL, json=body)
    assert "access-control-allow-origin" not in server_side.headers


async def test_too_many_concurrent_requests_of_one_session_get_420(
    acme_app: Any, http: httpx.AsyncClient
) -> None:
    import threading

    import anyio

    from cible.delivery.routes import SessionGate

    await post(http, sc.request(execute=sc.mboxes("hero")))  # builds the app's delivery service
    acme_app.state.session_gate = SessionGate(limit=1)  # Adobe's limit is 100; 1 shows it
    release, entered = threading.Event(), threading.Event()
    fixed = acme_app.state.delivery.source

    class Held:
        """Holds the first call inside the service until the test releases it."""

        def get(self, *args: Any) -> Any:
            entered.set()
            release.wait(timeout=30)
            return fixed.get(*args)

    acme_app.state.delivery.source = Held()
    status: dict[str, int] = {}

    async def call(name: str) -> None:
        response = await http.post(URL, json=sc.request(execute=sc.mboxes("hero")))
        status[name] = response.status_code
        if response.status_code == 420:
            assert response.json() == {
                "status": 420,
                "message": "Too many requests with same session ID",
            }

    async with anyio.create_task_group() as group:
        group.start_soon(call, "first")
        await anyio.to_thread.run_sync(entered.wait, 30)
        await call("second")
        release.set()
    await call("after")
    assert status == {"first": 200, "second": 420, "after": 200}
