"""Every error comes back in Adobe's envelope with the right status, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter

from cible.config import Settings
from cible.store import Database
from cible.web.app import create_app
from tests.conftest import SECRET_KEY, Credential, FakeClock, World, count_rows

pytestmark = pytest.mark.anyio


def assert_envelope(response: Any, status: int, code: str, contains: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["httpStatus"] == status
    assert body["requestId"] == response.headers["x-request-id"]
    assert body["requestTime"].endswith("Z")
    assert body["errors"], "an envelope always lists at least one error"
    assert body["errors"][0]["errorCode"] == code
    if contains:
        assert any(contains in e["message"] for e in body["errors"]), body
    return body


async def test_malformed_json_is_400(world: World, acme: Credential) -> None:
    for raw in [b"{", b'{"name": "x", }', b"\xff\xfe", b"[1, 2", b"null"]:
        response = await world.http.post(
            "/acme/target/offers/content",
            content=raw,
            headers={**acme.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 400, (raw, response.text)
        assert response.json()["httpStatus"] == 400
    assert count_rows(world.database, "offers") == 0


async def test_one_error_per_invalid_field(world: World, acme: Credential) -> None:
    response = await world.http.post(
        "/acme/target/offers/content",
        json={"name": 42, "content": ["not", "text"], "colour": "red"},
        headers=acme.headers,
    )
    body = assert_envelope(response, 400, "Invalid.Field")
    messages = sorted(e["message"] for e in body["errors"])
    assert len(messages) == 3
    assert messages[0].startswith("colour: unknown field")
    assert messages[1].startswith("content:")
    assert messages[2].startswith("name:")
    assert count_rows(world.database, "offers") == 0


async def test_empty_and_oversized_names(world: World, acme: Credential) -> None:
    for name in ["", "x" * 251]:
        response = await world.http.post(
            "/acme/target/offers/content", json={"name": name, "content": ""}, headers=acme.headers
        )
        assert_envelope(response, 400, "Invalid.Field", "name")
    assert count_rows(world.database, "offers") == 0


async def test_missing_body_is_400(world: World, acme: Credential) -> None:
    response = await world.http.post(
        "/acme/target/offers/content", headers={**acme.headers, "Content-Type": "application/json"}
    )
    assert_envelope(response, 400, "Invalid.Field", "body")


async def test_401_without_credentials(world: World, acme: Credential) -> None:
    response = await world.http.get("/acme/target/offers")
    assert_envelope(response, 401, "Unauthorized", "bearer")


async def test_403_without_the_role(world: World, acme: Credential) -> None:
    observer = await world.credential("acme", "observer")
    response = await world.http.post(
        "/acme/target/offers/content", json={"name": "n", "content": ""}, headers=observer.headers
    )
    assert_envelope(response, 403, "Forbidden", "write")
    assert count_rows(world.database, "offers") == 0


async def test_404_for_unknown_routes_ids_and_tenants(world: World, acme: Credential) -> None:
    assert_envelope(await world.http.get("/nowhere"), 404, "Not.Found")
    assert_envelope(
        await world.http.get("/acme/target/offers/content/999", headers=acme.headers),
        404,
        "Not.Found",
        "999",
    )
    assert_envelope(
        await world.http.get("/nosuchtenant/target/offers", headers=acme.headers),
        404,
        "Not.Found",
        "nosuchtenant",
    )


async def test_non_numeric_id_is_400(world: World, acme: Credential) -> None:
    response = await world.http.get("/acme/target/offers/content/abc", headers=acme.headers)
    assert_envelope(response, 400, "Invalid.Field", "offer_id")


async def test_405_for_a_wrong_method(world: World, acme: Credential) -> None:
    response = await world.http.patch("/acme/target/offers/content/1", headers=acme.headers)
    assert_envelope(response, 405, "Method.Not.Allowed")


async def test_406_and_409(world: World, acme: Credential) -> None:
    body = {"name": "dup", "content": ""}
    await world.http.post("/acme/target/offers/content", json=body, headers=acme.headers)
    assert_envelope(
        await world.http.post("/acme/target/offers/content", json=body, headers=acme.headers),
        409,
        "Conflict",
        "dup",
    )
    assert_envelope(
        await world.http.get(
            "/acme/target/offers",
            headers={**acme.headers, "Accept": "application/vnd.adobe.target.v5+json"},
        ),
        406,
        "Unsupported.Feature",
    )
    assert count_rows(world.database, "offers") == 1


async def test_413_for_huge_bodies_declared_or_streamed(world: World, acme: Credential) -> None:
    huge = {"name": "big", "content": "x" * 2_000_000}
    response = await world.http.post("/acme/target/offers/content", json=huge, headers=acme.headers)
    assert_envelope(response, 413, "Payload.Too.Large")

    async def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 65_536

    streamed = await world.http.post(
        "/acme/target/offers/content",
        content=chunks(),
        headers={**acme.headers, "Content-Type": "application/json"},
    )
    assert_envelope(streamed, 413, "Payload.Too.Large")
    assert count_rows(world.database, "offers") == 0


async def test_415_for_a_non_json_body(world: World, acme: Credential) -> None:
    response = await world.http.post(
        "/acme/target/offers/content",
        content=b"name=x",
        headers={**acme.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_envelope(response, 415, "Unsupported.Media.Type")


async def test_500_leaks_no_stack_trace(app: Any, world: World) -> None:
    router = APIRouter()

    @router.get("/boom", summary="Fails")
    def boom() -> None:
        raise RuntimeError("secret internal detail")

    app.include_router(router)
    response = await world.http.get("/boom")
    body = assert_envelope(response, 500, "Internal.Error")
    assert "secret" not in response.text and "Traceback" not in response.text
    assert body["errors"][0]["message"] == "internal server error"


async def test_429_with_retry_after(
    database: Database, database_url: str, clock: FakeClock
) -> None:
    import httpx

    settings = Settings(
        database_url=database_url,
        secret_key=SECRET_KEY,
        throttle_rate=0.01,
        throttle_burst=3,
        _env_file=None,  # type: ignore[call-arg]
    )
    app = create_app(settings, database=database, clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        world = World(database, http)
        world.tenant("acme")
        cred = await world.credential("acme", "editor")
        other = await world.credential("acme", "editor")
        statuses = [
            (await http.get("/acme/target/offers", headers=cred.headers)).status_code
            for _ in range(5)
        ]
        assert statuses == [200, 200, 200, 429, 429]
        limited = await http.get("/acme/target/offers", headers=cred.headers)
        assert_envelope(limited, 429, "Too.Many.Requests")
        assert int(limited.headers["retry-after"]) >= 1
        # The bucket is per client: another client is not throttled.
        assert (await http.get("/acme/target/offers", headers=other.headers)).status_code == 200


async def test_413_on_the_delivery_api_has_adobes_delivery_shape(world: World) -> None:
    response = await world.http.post(
        "/rest/v1/delivery?client=acme&sessionId=s", content=b"{" + b" " * 2_000_000 + b"}"
    )
    assert response.status_code == 413
    body = response.json()
    assert body["status"] == 413 and "exceeds" in body["message"]
