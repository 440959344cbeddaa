"""Ids no database can hold (beyond 64-bit signed) name nothing: 404 on paths, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import iter_route_contexts

from cible.config import Settings
from cible.web.app import create_app
from tests.activities._kit import ab_body, offer, v3, xt_body
from tests.conftest import Credential, World

pytestmark = pytest.mark.anyio

HUGE = [2**63, 2**64 + 7, -(2**63) - 1]
PREFIX = "/{tenant}/target"


def id_routes() -> list[tuple[str, str]]:
    """``(method, path)`` of every Admin API route with an id in its path."""
    app = create_app(Settings(database_url="sqlite://", _env_file=None))  # type: ignore[call-arg]
    found = set()
    for route in iter_route_contexts(app.routes):
        if route.path and route.path.startswith(PREFIX) and "_id}" in route.path:
            found.update((method, route.path) for method in route.methods or ())
    app.state.db.dispose()
    return sorted(found)


ROUTES = id_routes()


def _fill(path: str, value: int) -> str:
    out = path.replace("{tenant}", "acme")
    for part in out.split("/"):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            out = out.replace(part, str(value) if name.endswith("_id") else "ab")
    return out


def test_there_are_id_routes() -> None:
    assert len(ROUTES) > 20


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_out_of_range_path_ids_are_404(
    world: World, acme: Credential, method: str, path: str
) -> None:
    for value in HUGE:
        body: Any = {} if method in {"POST", "PUT", "PATCH"} else None
        response = await world.http.request(
            method, _fill(path, value), json=body, headers=acme.headers
        )
        assert response.status_code == 404, (method, path, value, response.text)
        assert response.json()["errors"][0]["errorCode"] == "Not.Found"


async def test_out_of_range_ids_in_a_batch_are_404(world: World, acme: Credential) -> None:
    operations = [
        {"operationId": i, "method": method, "relativeUrl": url}
        for i, (method, url) in enumerate(
            [
                ("GET", f"/activities/ab/{2**63}"),
                ("DELETE", f"/offers/content/{2**64}"),
                ("GET", f"/audiences/{-(2**63) - 1}"),
                ("PUT", f"/activities/xt/{2**63}/state"),
            ]
        )
    ]
    response = await world.http.post(
        "/acme/target/batch", json={"operations": operations}, headers=acme.headers
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["statusCode"] for r in results] == [404] * len(operations), results


async def test_out_of_range_ids_in_bodies_are_refused(world: World, acme: Credential) -> None:
    hero = await offer(world.http, acme, "hero")
    for body in (
        ab_body([2**63]),
        ab_body([hero], propertyIds=[2**64]),
        xt_body([hero, hero], [2**63]),
    ):
        response = await world.http.post(
            "/acme/target/activities/xt"
            if "audienceIds" in str(body)
            else "/acme/target/activities/ab",
            json=body,
            headers=v3(acme),
        )
        assert response.status_code in (400, 404), response.text
