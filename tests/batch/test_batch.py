"""The batch API end to end: volume, throttling, rejected batches, result order and shapes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from cible.config import Settings
from cible.store import Database
from cible.web.app import create_app
from tests.conftest import BACKENDS, SECRET_KEY, Credential, FakeClock, World, count_rows

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS, indirect=True)]


def offer_op(i: int, name: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "operationId": i,
        "method": "POST",
        "relativeUrl": "/offers/content",
        "body": {"name": name or f"offer-{i}", "content": f"<p>{i}</p>"},
        **extra,
    }


async def batch(http: httpx.AsyncClient, cred: Credential, ops: list[Any]) -> httpx.Response:
    return await http.post("/acme/target/batch", json={"operations": ops}, headers=cred.headers)


async def test_200_independent_operations_complete(world: World, acme: Credential) -> None:
    response = await batch(world.http, acme, [offer_op(i) for i in range(200)])

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["operationId"] for r in results] == list(range(200))
    assert {r["statusCode"] for r in results} == {201}
    assert not any(r["skipped"] for r in results)
    assert [r["body"]["name"] for r in results] == [f"offer-{i}" for i in range(200)]
    assert [r["body"]["content"] for r in results] == [f"<p>{i}</p>" for i in range(200)]
    assert len({r["body"]["id"] for r in results}) == 200
    assert count_rows(world.database, "offers") == 200
    listed = await world.http.get("/acme/target/offers?limit=1000", headers=acme.headers)
    assert listed.json()["total"] == 200


@pytest.fixture
async def throttled(
    database_url: str, database: Database, clock: FakeClock
) -> AsyncIterator[httpx.AsyncClient]:
    """An app over the test database whose clients may make 5 requests, then ~1 per 1000 s."""
    settings = Settings(
        database_url=database_url,
        secret_key=SECRET_KEY,
        throttle_rate=0.001,
        throttle_burst=5,
        _env_file=None,  # type: ignore[call-arg]
    )
    app = create_app(settings, database=database, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cible.test") as client:
        yield client


async def test_a_batch_takes_one_token_per_operation_or_is_refused_whole(
    world: World, acme: Credential, throttled: httpx.AsyncClient
) -> None:
    # 5 tokens: the batch request takes one; 4 operations need 4 more, all taken at admission.
    response = await batch(throttled, acme, [offer_op(i) for i in range(4)])
    assert response.status_code == 200, response.text
    assert [r["statusCode"] for r in response.json()["results"]] == [201] * 4
    assert count_rows(world.database, "offers") == 4

    # The bucket is empty: the next batch is one 429, and none of its operations runs.
    again = await batch(throttled, acme, [offer_op(0, "late")])
    assert again.status_code == 429
    assert again.json()["errors"][0]["errorCode"] == "Too.Many.Requests"
    assert int(again.headers["retry-after"]) >= 1
    assert count_rows(world.database, "offers") == 4


async def test_a_batch_the_bucket_cannot_cover_runs_nothing(
    world: World, acme: Credential, throttled: httpx.AsyncClient
) -> None:
    # 1 token for the batch leaves 4; 6 dependent operations need 6: refused before any runs.
    ops = [offer_op(0)]
    ops += [{**offer_op(i), "dependsOnOperationIds": [i - 1]} for i in range(1, 6)]
    response = await batch(throttled, acme, ops)

    assert response.status_code == 429
    assert "6 throttle tokens" in response.json()["errors"][0]["message"]
    assert int(response.headers["retry-after"]) >= 1
    assert count_rows(world.database, "offers") == 0
    # Refusing took no operation tokens: a batch of 3 still fits in what is left.
    response = await batch(throttled, acme, [offer_op(i) for i in range(3)])
    assert [r["statusCode"] for r in response.json()["results"]] == [201] * 3


async def test_a_batch_larger_than_the_burst_is_refused_with_the_reason(
    world: World, acme: Credential, throttled: httpx.AsyncClient
) -> None:
    response = await batch(throttled, acme, [offer_op(i) for i in range(10)])

    assert response.status_code == 429
    assert "CIBLE_THROTTLE_BURST" in response.json()["errors"][0]["message"]
    assert count_rows(world.database, "offers") == 0


async def test_a_full_256_operation_batch_runs_with_default_settings(
    world: World, acme: Credential
) -> None:
    # Default settings (burst 257): a batch of the largest size Adobe allows, with dependencies.
    ops = [offer_op(0)]
    ops += [{**offer_op(i), "dependsOnOperationIds": [i - 1]} for i in range(1, 128)]
    ops += [offer_op(i) for i in range(128, 256)]
    response = await batch(world.http, acme, ops)

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["statusCode"] for r in results] == [201] * 256
    assert not any(r["skipped"] for r in results)
    assert count_rows(world.database, "offers") == 256


async def test_an_operation_with_other_credentials_pays_its_own_token(
    world: World, acme: Credential, throttled: httpx.AsyncClient
) -> None:
    other = await world.credential("acme", "editor")
    # The other client spends its 5 tokens directly, so it has none left.
    for _ in range(5):
        assert (
            await throttled.get("/acme/target/offers", headers=other.headers)
        ).status_code == 200
    op = offer_op(1, headers=[{"name": k, "value": v} for k, v in other.headers.items()])
    response = await batch(throttled, acme, [offer_op(0), op])

    assert response.status_code == 200, response.text
    # acme paid for both, but operation 1 runs as the other client, whose bucket is empty.
    assert [r["statusCode"] for r in response.json()["results"]] == [201, 429]


async def test_a_rejected_batch_writes_nothing(world: World, acme: Credential) -> None:
    before = await batch(world.http, acme, [offer_op(0, "existing")])
    assert before.status_code == 200
    tables = ("offers", "tenants", "workspaces", "api_clients", "client_roles")
    counts = {t: count_rows(world.database, t) for t in tables}

    # Five valid creations and one operation with an unknown dependency.
    ops = [offer_op(i) for i in range(5)]
    ops.append({**offer_op(5), "dependsOnOperationIds": [99]})
    response = await batch(world.http, acme, ops)

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "errorCode": "Invalid.Field",
            "message": "operations[5].dependsOnOperationIds: names no operation of this batch: 99",
        }
    ]
    assert {t: count_rows(world.database, t) for t in tables} == counts
    listed = await world.http.get("/acme/target/offers", headers=acme.headers)
    assert [o["name"] for o in listed.json()["offers"]] == ["existing"]


async def test_results_come_in_operation_id_order(world: World, acme: Credential) -> None:
    ids = [9, 3, 200, 0, 17, 255, 1]
    ops: list[Any] = [{"operationId": i, "method": "GET", "relativeUrl": "/offers"} for i in ids]
    ops[0]["dependsOnOperationIds"] = [255, 17]
    response = await batch(world.http, acme, ops)

    assert response.status_code == 200
    assert [r["operationId"] for r in response.json()["results"]] == sorted(ids)


async def test_bodies_are_json_values_and_headers_name_value_pairs(
    world: World, acme: Credential
) -> None:
    ops = [
        offer_op(0),
        {"operationId": 1, "method": "GET", "relativeUrl": "/offers", "dependsOnOperationIds": [0]},
        {"operationId": 2, "method": "POST", "relativeUrl": "/offers/json",
         "body": '{"name": "as text", "content": [1, 2]}', "dependsOnOperationIds": [1]},
    ]  # fmt: skip
    response = await batch(world.http, acme, ops)

    assert response.headers["content-type"] == "application/vnd.adobe.target.v1+json"
    created, listed, from_text = response.json()["results"]
    assert isinstance(created["body"], dict)
    assert created["body"]["name"] == "offer-0"
    assert isinstance(listed["body"]["offers"], list)
    assert listed["body"]["total"] == 1
    # A body given as a string of JSON text is sent as that JSON (Adobe's spec types it string).
    assert from_text["statusCode"] == 201
    assert from_text["body"]["content"] == [1, 2]
    for result in (created, listed, from_text):
        assert all(set(h) == {"name", "value"} for h in result["headers"]), result["headers"]
        names = {h["name"].lower(): h["value"] for h in result["headers"]}
        assert names["content-type"] == "application/vnd.adobe.target.v1+json"
        assert "x-request-id" in names
        assert "content-length" not in names


async def test_operations_use_the_callers_credentials_unless_they_give_their_own(
    world: World, acme: Credential
) -> None:
    other = await world.credential("acme", "observer")
    ops = [
        {"operationId": 0, "method": "GET", "relativeUrl": "/offers"},
        # The observer's own credentials: reading works, writing is refused for this one only.
        {"operationId": 1, "method": "POST", "relativeUrl": "/offers/content",
         "body": {"name": "x", "content": "y"},
         "headers": [{"name": k, "value": v} for k, v in other.headers.items()]},
        {"operationId": 2, "method": "GET", "relativeUrl": "/offers",
         "headers": [{"name": "authorization", "value": "Bearer forged"}]},
    ]  # fmt: skip
    results = (await batch(world.http, acme, ops)).json()["results"]

    assert [r["statusCode"] for r in results] == [200, 403, 401]
    assert count_rows(world.database, "offers") == 0


async def test_a_batch_needs_credentials(world: World, acme: Credential) -> None:
    ops = [offer_op(0)]
    response = await world.http.post("/acme/target/batch", json={"operations": ops})
    assert response.status_code == 401
    other_tenant = await world.http.post(
        "/globex/target/batch", json={"operations": ops}, headers=acme.headers
    )
    assert other_tenant.status_code == 404
    assert count_rows(world.database, "offers") == 0
