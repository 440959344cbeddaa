"""Concurrent writes to one visitor: none lost, whichever path or process writes them.

In-process cases drive the ASGI app (delivery calls on the event loop, Profile API updates in
the thread pool); the two-process case boots two servers on one database, as two workers or two
hosts would run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests import servers
from tests.conftest import BACKENDS, SECRET_KEY
from tests.delivery import _scenario as sc

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]

CALLS, UPDATES = 200, 40


@pytest.fixture
async def acme_app(world: Any, app: Any) -> Any:
    world.tenant("acme")
    sc.install(app, sc.artifact())
    return app


def _call(tnt_id: str | None, index: int, **ids: str) -> dict[str, Any]:
    mbox = {"index": 1, "name": "hero", "profileParameters": {f"p{index}": str(index)}}
    identity = {"tntId": tnt_id} if tnt_id else {}
    return {"context": {"channel": "web"}, "id": {**identity, **ids}, "execute": {"mboxes": [mbox]}}


async def _attributes(http: httpx.AsyncClient, path: str) -> dict[str, Any]:
    response = await http.get(path)
    assert response.status_code == 200, response.text
    return dict(response.json()["profileAttributes"])


async def test_concurrent_delivery_calls_and_single_updates_lose_nothing(
    acme_app: Any, http: httpx.AsyncClient
) -> None:
    first = await http.post("/rest/v1/delivery?client=acme&sessionId=s", json=_call(None, 0))
    tnt_id = first.json()["id"]["tntId"]

    async def deliver(index: int) -> int:
        url = f"/rest/v1/delivery?client=acme&sessionId=s{index}"
        return (await http.post(url, json=_call(tnt_id, index))).status_code

    async def update(index: int) -> int:
        url = f"/m2/acme/profile/update?mboxPC={tnt_id}&profile.m{index}=v{index}"
        return (await http.get(url)).status_code

    statuses = await asyncio.gather(
        *(deliver(i) for i in range(CALLS)), *(update(i) for i in range(UPDATES))
    )
    assert statuses == [200] * (CALLS + UPDATES)
    stored = await _attributes(http, f"/rest/v1/profiles/{tnt_id}?client=acme")
    assert {f"p{i}" for i in range(CALLS)} <= stored.keys()
    assert {f"m{i}" for i in range(UPDATES)} <= stored.keys()
    assert stored["m7"]["value"] == "v7" and stored["p150"]["value"] == "150"


async def test_concurrent_first_calls_with_one_new_third_party_id_make_one_profile(
    acme_app: Any, http: httpx.AsyncClient, database: Any
) -> None:
    async def first_call(index: int) -> httpx.Response:
        url = f"/rest/v1/delivery?client=acme&sessionId=f{index}"
        return await http.post(url, json=_call(None, index, thirdPartyId="crm-42"))

    responses = await asyncio.gather(*(first_call(i) for i in range(20)))
    assert [r.status_code for r in responses] == [200] * 20
    stored = await _attributes(http, "/rest/v1/profiles/thirdPartyId/crm-42?client=acme")
    assert {f"p{i}" for i in range(20)} <= stored.keys()
    with database.session() as session:
        profiles = session.execute(text("SELECT count(*) FROM profiles")).scalar_one()
    assert profiles == 1


async def test_a_stale_cached_state_is_read_again_before_deciding(
    acme_app: Any, http: httpx.AsyncClient, database: Any
) -> None:
    """A write made elsewhere (another worker) is seen by this worker's next call."""
    url = "/rest/v1/delivery?client=acme&sessionId=s1"
    body = {"context": {"channel": "web"}, "execute": sc.mboxes("vip")}
    tnt_id = (await http.post(url, json=body)).json()["id"]["tntId"]
    with database.session() as session:  # what another process's Profile API update does
        row = session.execute(text("SELECT id, attributes FROM profiles")).one()
        session.execute(
            text("UPDATE profiles SET version = version + 1, attributes = :a WHERE id = :id"),
            {"a": '{"vip": ["true", 1]}', "id": row.id},
        )
    again = await http.post(url, json={**body, "id": {"tntId": tnt_id}})
    assert sc.content(again.json()) == {"vip": {"offer": 0}}


@pytest.fixture
def two_servers(database_url: str, tmp_path: Path, world: Any) -> Iterator[list[str]]:
    world.tenant("acme")
    with servers.running(database_url, tmp_path, SECRET_KEY, 2, "--no-worker") as pair:
        yield [server.base for server in pair]


@pytest.mark.slow
async def test_two_processes_lose_no_update_of_one_visitor(two_servers: list[str]) -> None:
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        first = await client.post(
            f"{two_servers[0]}/rest/v1/delivery?client=acme&sessionId=s", json=_call(None, 0)
        )
        tnt_id = first.json()["id"]["tntId"]

        async def deliver(index: int) -> tuple[int, str]:
            base = two_servers[index % 2]
            url = f"{base}/rest/v1/delivery?client=acme&sessionId=s{index}"
            response = await client.post(url, json=_call(tnt_id, index))
            return response.status_code, response.text

        async def update(index: int) -> tuple[int, str]:
            base = two_servers[index % 2]
            url = f"{base}/m2/acme/profile/update?mboxPC={tnt_id}&profile.m{index}=v{index}"
            response = await client.get(url)
            return response.status_code, response.text

        answers = await asyncio.gather(
            *(deliver(i) for i in range(CALLS)), *(update(i) for i in range(UPDATES))
        )
        assert [a for a in answers if a[0] != 200] == []
        for base in two_servers:
            response = await client.get(f"{base}/rest/v1/profiles/{tnt_id}?client=acme")
            stored = response.json()["profileAttributes"]
            assert {f"p{i}" for i in range(CALLS)} <= stored.keys()
            assert {f"m{i}" for i in range(UPDATES)} <= stored.keys()
        # Each worker's next call sees the other's writes (read-your-writes across workers).
        for index, base in enumerate(two_servers):
            body = _call(tnt_id, 1000 + index)
            url = f"{base}/rest/v1/delivery?client=acme&sessionId=s"
            assert (await client.post(url, json=body)).status_code == 200
        for base in two_servers:
            response = await client.get(f"{base}/rest/v1/profiles/{tnt_id}?client=acme")
            assert {"p1000", "p1001"} <= response.json()["profileAttributes"].keys()


async def test_a_bulk_update_beside_delivery_calls_loses_nothing(
    acme_app: Any, http: httpx.AsyncClient, database: Any
) -> None:
    from cible.jobs import run_pending

    visitors = []
    for _ in range(30):
        answer = await http.post("/rest/v1/delivery?client=acme&sessionId=s", json=_call(None, 0))
        visitors.append(answer.json()["id"]["tntId"])
    rows = "\n".join(f"{visitor},yes" for visitor in visitors)
    accepted = await http.post(
        "/m2/acme/profile/batchUpdate", content=f"batch=pcId,bulk\n{rows}".encode()
    )
    assert accepted.status_code == 200, accepted.text

    async def deliver(index: int) -> int:
        visitor = visitors[index % len(visitors)]
        url = f"/rest/v1/delivery?client=acme&sessionId=s{index}"
        return (await http.post(url, json=_call(visitor, 100 + index))).status_code

    job = asyncio.to_thread(run_pending, database)
    results = await asyncio.gather(job, *(deliver(i) for i in range(90)))
    assert results[1:] == [200] * 90
    for index, visitor in enumerate(visitors):
        stored = await _attributes(http, f"/rest/v1/profiles/{visitor}?client=acme")
        assert stored["bulk"]["value"] == "yes"
        assert {f"p{100 + index}", f"p{130 + index}", f"p{160 + index}"} <= stored.keys()
