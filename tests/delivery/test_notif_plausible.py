"""Notifications count only for the experience the visitor was given (issue 13).

Event tokens are public (every response and ``rules.json`` carries them), so in an A/B activity
a display or click counts only for the visitor's sticky assignment or the experience his
allocation gives him; others are answered as rejected and recorded as ``rejected`` events.
XT activities are exempt. Runs on SQLite (the rule is the delivery service's, not the store's).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from cible.artifacts import event_token
from cible.delivery.notify_plausible import Plausibility
from cible.engine import EXTRA_KEY, decide
from cible.events import drain, load_consumers
from cible.sdk import ASGITransport, TargetClient
from cible.tenants import service as tenants
from cible.tenants.tables import Tenant

from . import _scenario as sc

AT = 1_767_225_600_000
HERO_A, HERO_B = event_token(101, 0), event_token(101, 1)


def display(nid: str, token: str, mbox: str = "hero") -> dict[str, Any]:
    return {
        "id": nid,
        "type": "display",
        "timestamp": AT,
        "mbox": {"name": mbox},
        "tokens": [token],
    }


def events(database: Any) -> list[tuple[Any, ...]]:
    load_consumers()
    drain(database)
    with database.session() as s:
        rows = s.execute(text("SELECT kind, visitor, activity_id, experience_id FROM events"))
        return sorted(tuple(row) for row in rows)


def kinds(database: Any, kind: str) -> list[tuple[Any, ...]]:
    return [row for row in events(database) if row[0] == kind]


@pytest.fixture
def acme_app(world: Any, app: Any) -> Any:
    world.tenant("acme")
    sc.install(app, sc.artifact())
    return app


async def deliver(http: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await http.post("/rest/v1/delivery?client=acme&sessionId=s1", json=body)
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    return payload


def rejected_ids(payload: dict[str, Any]) -> list[str]:
    return [r["id"] for r in (payload.get(EXTRA_KEY) or {}).get("rejectedNotifications", [])]


@pytest.mark.anyio
async def test_a_visitor_given_a_is_not_counted_for_b(
    acme_app: Any, http: httpx.AsyncClient, database: Any
) -> None:
    visitor = sc.allocated(101, 0, "alice")  # his allocation gives him A
    alice = visitor.split(".")[0]
    decided = await deliver(http, sc.request(visitor, execute=sc.mboxes("hero")))
    assert sc.content(decided) == {"hero": {"offer": 0}}
    answer = await deliver(
        http, sc.request(visitor, notifications=[display("n-b", HERO_B), display("n-a", HERO_A)])
    )
    assert [n["id"] for n in answer["notifications"]] == ["n-a"]
    assert rejected_ids(answer) == ["n-b"]
    rows = events(database)
    assert ("display", alice, 101, 1) not in rows
    assert kinds(database, "display") == [("display", alice, 101, 0)]
    assert kinds(database, "rejected") == [("rejected", alice, 101, 1)]
    # His assignment did not move: his next decision is still A.
    again = await deliver(http, sc.request(visitor, execute=sc.mboxes("hero")))
    assert sc.content(again) == {"hero": {"offer": 0}}


@pytest.mark.anyio
async def test_the_sticky_assignment_counts_after_the_split_moved(
    acme_app: Any, http: httpx.AsyncClient, database: Any
) -> None:
    visitor = sc.allocated(101, 0, "carol")
    await deliver(http, sc.request(visitor, execute=sc.mboxes("hero")))  # sticky to A
    sc.install(acme_app, sc.artifact((1, 99)))  # the split now gives nearly everyone B
    moved = Plausibility(sc.artifact((1, 99)))
    assert not moved.allows(  # ...him included: only his assignment keeps him in A
        101, 0, assigned={}, visitor_id=visitor.split(".")[0], client=sc.CLIENT
    )
    answer = await deliver(http, sc.request(visitor, notifications=[display("n-a", HERO_A)]))
    assert [n["id"] for n in answer["notifications"]] == ["n-a"]
    assert kinds(database, "display") == [("display", visitor.split(".")[0], 101, 0)]


@pytest.mark.anyio
async def test_new_visitors_without_a_decision_are_not_counted(
    acme_app: Any, http: httpx.AsyncClient, database: Any
) -> None:
    # Five visitors the server never decided for, without any id: no allocation, no assignment.
    for i in range(5):
        answer = await deliver(
            http, {"context": {"channel": "web"}, "notifications": [display(f"n-{i}", HERO_B)]}
        )
        assert rejected_ids(answer) == [f"n-{i}"]
        assert answer["notifications"] == []
    # Five made-up tntIds posting the experience their allocation does not give them, through
    # the batch endpoint: 422 each.
    items = [
        {**display(f"m-{i}", HERO_B), "visitorId": {"tntId": sc.allocated(101, 0, f"made{i}-")}}
        for i in range(5)
    ]
    response = await http.post("/rest/v1/notifications?client=acme", json={"notifications": items})
    assert [r["status"] for r in response.json()["results"]] == [422] * 5
    assert "is not the visitor's" in response.json()["results"][0]["message"]
    assert kinds(database, "display") == []
    assert len(kinds(database, "rejected")) == 10


@pytest.mark.anyio
async def test_xt_activities_are_exempt(
    acme_app: Any, http: httpx.AsyncClient, database: Any
) -> None:
    # Activity 106 (XT) picks its experience by audience, which a notification does not carry.
    vip_a, vip_b = event_token(106, 0), event_token(106, 1)
    answer = await deliver(
        http,
        sc.request(
            "dave.0",
            notifications=[display("x-0", vip_a, "vip"), display("x-1", vip_b, "vip")],
        ),
    )
    assert [n["id"] for n in answer["notifications"]] == ["x-0", "x-1"]
    assert kinds(database, "display") == [("display", "dave", 106, 0), ("display", "dave", 106, 1)]


@pytest.mark.anyio
async def test_an_engine_decision_for_a_new_visitor_is_counted(
    acme_app: Any, http: httpx.AsyncClient, database: Any
) -> None:
    # What an SDK does on-device: hash the visitor's id, decide, post the option's token.
    counted = []
    for i in range(8):
        visitor = f"device-{i}.0"
        result = decide(
            sc.artifact(),
            sc.request(visitor, prefetch=sc.mboxes("hero")),
            client=sc.CLIENT,
        )
        token = result["prefetch"]["mboxes"][0]["options"][0]["eventToken"]
        notification = {**display(f"d-{i}", token), "visitorId": {"tntId": visitor}}
        response = await http.post(
            "/rest/v1/notifications?client=acme", json={"notifications": [notification]}
        )
        assert response.json()["results"][0]["status"] == 200
        counted.append(token)
    assert {HERO_A, HERO_B} == set(counted)  # both experiences were given, and both counted
    assert len(kinds(database, "display")) == 8
    assert kinds(database, "rejected") == []


def test_on_device_sdk_decisions_are_counted(app: Any, database: Any) -> None:
    with database.session() as session:
        tenants.create_tenant(session, sc.CLIENT)
    with database.session() as session:
        org = session.query(Tenant).filter(Tenant.client_code == sc.CLIENT).one().organization_id
    sc.install(app, sc.artifact())
    client = TargetClient.create(
        {
            "client": sc.CLIENT,
            "organization_id": org,
            "server_domain": "cible.test",
            "decisioning_method": "on-device",
            "artifact_payload": sc.artifact_json(remote=False),
            "polling_interval": 0,
            "transport": ASGITransport(app),
            "notification_flush_interval": 3600,
        }
    )
    shown = set()
    for i in range(10):
        request = sc.request(f"sdk-{i}.0", execute=sc.mboxes("hero"))
        shown.add(str(sc.content(client.get_offers(request)["response"])["hero"]))
    client.close()  # flushes the display notifications to the delivery API
    assert len(shown) == 2  # both experiences were shown
    displays = kinds(database, "display")
    assert len(displays) == 10
    assert {row[3] for row in displays} == {0, 1}
    assert kinds(database, "rejected") == []
