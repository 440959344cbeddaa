"""SIGKILL under load: what was answered 200 is stored exactly once, what failed is not half-stored.

A real ``cible serve`` takes delivery calls (each setting its own profile parameter and
appending its impressions), batch notifications and Profile API updates from concurrent clients
and is killed with SIGKILL mid-load. After a restart, the event log's consumers are drained and
every acknowledged write must be there; a request answered with an error must have left nothing.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from cible.artifacts import compile_artifact, dump_artifact
from cible.artifacts.store import replace
from cible.events import drain
from cible.store import Database
from tests import servers
from tests.conftest import BACKENDS, SECRET_KEY
from tests.delivery import _scenario as sc

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    pytest.mark.parametrize("backend", BACKENDS, indirect=True),
]

VISITORS = [f"{v:032x}.0" for v in range(1, 21)]


def _publish(database: Database) -> None:
    with database.session() as session:
        tenant_id = session.execute(text("SELECT id FROM tenants WHERE client_code = 'acme'"))
        artifact = compile_artifact(
            client="acme",
            environment="production",
            activities=sc.activities(),
            offers=sc.OFFERS,
            audiences=sc.AUDIENCES,
            generated_at=datetime(2026, 1, 1, tzinfo=UTC),
            include_remote=True,
        )
        replace(
            session,
            tenant_id.scalar_one(),
            "production",
            dump_artifact(artifact),
            datetime.now(UTC),
            "",
        )


class Load:
    """Concurrent writers that note what each request was answered."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token
        self.deliveries: dict[int, tuple[str, int]] = {}
        self.updates: dict[int, tuple[str, int]] = {}
        self.notifications: dict[str, int] = {}
        self.stop = False

    async def deliveries_loop(self, client: httpx.AsyncClient, lane: int) -> None:
        index = lane
        while not self.stop:
            visitor = VISITORS[index % len(VISITORS)]
            mbox = {"index": 1, "name": "hero", "profileParameters": {f"k{index}": "1"}}
            body = {
                "requestId": f"r{index}",
                "context": {"channel": "web"},
                "id": {"tntId": visitor},
                "execute": {"mboxes": [mbox]},
            }
            url = f"{self.base}/rest/v1/delivery?client=acme&sessionId=s{index % 7}"
            try:
                response = await client.post(url, json=body)
            except httpx.TransportError:
                return  # killed: this request's fate is unknown
            self.deliveries[index] = (visitor, response.status_code)
            index += 8

    async def updates_loop(self, client: httpx.AsyncClient, lane: int) -> None:
        index = lane
        while not self.stop:
            visitor = VISITORS[index % len(VISITORS)]
            url = f"{self.base}/m2/acme/profile/update?mboxPC={visitor}&profile.m{index}=1"
            try:
                response = await client.get(url)
            except httpx.TransportError:
                return
            self.updates[index] = (visitor, response.status_code)
            index += 2

    async def notifications_loop(self, client: httpx.AsyncClient, lane: int) -> None:
        batch = lane
        while not self.stop:
            items = [
                {
                    "id": f"n{batch}-{i}",
                    "type": "display",
                    "timestamp": int(time.time() * 1000),
                    "mbox": {"name": "hero"},
                    "tokens": [self.token],
                    "visitorId": {"tntId": VISITORS[i % len(VISITORS)]},
                }
                for i in range(50)
            ]
            url = f"{self.base}/rest/v1/notifications?client=acme"
            try:
                response = await client.post(url, json={"notifications": items})
            except httpx.TransportError:
                return
            if response.status_code == 200:
                for result in response.json()["results"]:
                    self.notifications[result["id"]] = result["status"]
            batch += 2


async def test_sigkill_under_load_keeps_every_acknowledged_write(
    database_url: str, database: Database, world: Any, tmp_path: Path
) -> None:
    world.tenant("acme")
    _publish(database)
    server = servers.start(database_url, tmp_path, SECRET_KEY, "--no-worker")
    try:
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64)) as c:
            for visitor in VISITORS:  # every visitor exists before the Profile API updates
                body = {"context": {"channel": "web"}, "id": {"tntId": visitor}}
                body["prefetch"] = sc.mboxes("hero")
                url = f"{server.base}/rest/v1/delivery?client=acme&sessionId=warm"
                answer = await c.post(url, json=body)
                assert answer.status_code == 200
            token = answer.json()["prefetch"]["mboxes"][0]["options"][0]["eventToken"]
            load = Load(server.base, token)
            tasks = [asyncio.create_task(load.deliveries_loop(c, lane)) for lane in range(8)]
            tasks += [asyncio.create_task(load.updates_loop(c, lane)) for lane in range(2)]
            tasks += [asyncio.create_task(load.notifications_loop(c, lane)) for lane in range(2)]
            await asyncio.sleep(1.5)
            await asyncio.to_thread(server.kill)
            load.stop = True
            await asyncio.gather(*tasks)
    finally:
        server.stop()
    restarted = servers.start(database_url, tmp_path, SECRET_KEY, "--no-worker")
    restarted.stop()
    drain(database)

    with database.session() as session:
        attributes: dict[str, dict[str, Any]] = {}
        for ids, stored in session.execute(
            text(
                "SELECT i.value, p.attributes FROM profiles p "
                "JOIN profile_ids i ON i.profile_id = p.id WHERE i.kind = 'tnt'"
            )
        ):
            attributes[f"{ids}.0"] = orjson.loads(stored)
        keys = {row[0] for row in session.execute(text("SELECT event_key FROM events"))}
        duplicates = session.execute(
            text("SELECT count(*) FROM events GROUP BY tenant_id, event_key HAVING count(*) > 1")
        ).all()
    assert not duplicates
    answered = [i for i, (_, status) in load.deliveries.items() if status == 200]
    assert len(answered) > 20, "the load did not get going before the kill"
    for index, (visitor, status) in load.deliveries.items():
        stored = f"k{index}" in attributes.get(visitor, {})
        logged = any(key.startswith(f"exe:r{index}:hero:") for key in keys)
        if status == 200:
            assert stored and logged, f"delivery {index} answered 200 but was lost"
        else:
            assert not stored and not logged, f"delivery {index} failed but left writes"
    for index, (visitor, status) in load.updates.items():
        if status == 200:
            assert f"m{index}" in attributes[visitor], f"update {index} answered 200 but lost"
    accepted = [nid for nid, status in load.notifications.items() if status == 200]
    assert accepted, "no notification batch was answered before the kill"
    for nid in accepted:
        assert any(key.startswith(f"ntf:{nid}:") for key in keys), f"notification {nid} lost"
