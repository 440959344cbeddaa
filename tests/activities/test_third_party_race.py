"""Requests racing on one ``thirdPartyId``: one wins, the others get 409, never a 500.

The route handlers run in the server's thread pool, so the requests below really overlap: each
passes the uniqueness check before any has committed, and the database's unique constraint
decides (SQLite serializes the writers; PostgreSQL blocks the second insert on the first).
"""

from __future__ import annotations

import asyncio

import pytest

from tests.activities._kit import ab_body, offer, v3
from tests.conftest import BACKENDS, Credential, World, count_rows

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]

RACERS, ROUNDS = 6, 4


async def test_creates_racing_on_one_third_party_id(world: World, acme: Credential) -> None:
    o = await offer(world.http, acme, "a")
    for round_ in range(ROUNDS):
        body = ab_body([o]) | {"thirdPartyId": f"race-{round_}"}
        replies = await asyncio.gather(
            *(
                world.http.post("/acme/target/activities/ab", json=body, headers=v3(acme))
                for _ in range(RACERS)
            )
        )
        statuses = sorted(r.status_code for r in replies)
        assert statuses == [201] + [409] * (RACERS - 1), [r.text for r in replies]
        for reply in replies:
            if reply.status_code == 409:
                assert f"race-{round_}" in reply.json()["errors"][0]["message"]
    assert count_rows(world.database, "activities") == ROUNDS


async def test_updates_racing_on_one_third_party_id(world: World, acme: Credential) -> None:
    o = await offer(world.http, acme, "a")
    ids = []
    for i in range(RACERS):
        made = await world.http.post(
            "/acme/target/activities/ab", json=ab_body([o]) | {"name": f"a{i}"}, headers=v3(acme)
        )
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
    body = ab_body([o]) | {"thirdPartyId": "taken-once"}
    replies = await asyncio.gather(
        *(
            world.http.put(f"/acme/target/activities/ab/{i}", json=body, headers=v3(acme))
            for i in ids
        )
    )
    statuses = sorted(r.status_code for r in replies)
    assert statuses == [200] + [409] * (RACERS - 1), [r.text for r in replies]
