"""Adobe's versioning rules: Content-Type for bodies, Accept otherwise, v1 by default, 406."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from cible.errors import UnsupportedFeature, UnsupportedMediaType
from cible.web.admin import AdminCall, admin, admin_openapi
from cible.web.versioning import negotiate
from tests.conftest import Credential, World, count_rows

V = "application/vnd.adobe.target.v{}+json"
ALL = frozenset({1, 2})


@pytest.mark.parametrize(
    ("method", "content_type", "accept", "supported", "expected"),
    [
        ("GET", None, None, ALL, 1),
        ("GET", None, "application/json", ALL, 1),
        ("GET", None, "*/*", ALL, 1),
        ("GET", None, V.format(2), ALL, 2),
        ("GET", None, f"{V.format(1)};q=0.5, {V.format(2)}", ALL, 2),
        ("GET", None, f"{V.format(3)}, {V.format(2)};q=0.9", ALL, 2),
        ("DELETE", None, V.format(2), ALL, 2),
        ("GET", V.format(3), V.format(2), ALL, 2),  # without a body, Content-Type is ignored
        ("POST", V.format(2), V.format(1), ALL, 2),  # with a body, Accept is ignored
        ("POST", "application/json; charset=utf-8", None, ALL, 1),
        ("PUT", None, V.format(2), ALL, 1),
        ("PATCH", V.format(2).upper(), None, ALL, 2),
    ],
)
def test_negotiation(
    method: str,
    content_type: str | None,
    accept: str | None,
    supported: frozenset[int],
    expected: int,
) -> None:
    assert negotiate(method, content_type, accept, supported) == expected


@pytest.mark.parametrize(
    ("method", "content_type", "accept", "supported"),
    [
        ("GET", None, V.format(3), ALL),
        ("GET", None, None, frozenset({3})),  # no version means v1, which the route lacks
        ("GET", None, "application/json", frozenset({3})),
        ("POST", V.format(9), None, ALL),
        ("POST", None, None, frozenset({2})),
    ],
)
def test_unsupported_versions_are_406(
    method: str, content_type: str | None, accept: str | None, supported: frozenset[int]
) -> None:
    with pytest.raises(UnsupportedFeature):
        negotiate(method, content_type, accept, supported)


def test_non_json_body_is_415() -> None:
    with pytest.raises(UnsupportedMediaType):
        negotiate("POST", "text/plain", None, ALL)


pytestmark = pytest.mark.anyio


async def test_response_names_the_version_served(world: World, acme: Credential) -> None:
    for accept, served in [(None, 1), ("application/json", 1), (V.format(2), 2), (V.format(1), 1)]:
        headers = {**acme.headers, **({"Accept": accept} if accept else {})}
        response = await world.http.get("/acme/target/offers", headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"] == V.format(served)


async def test_exact_406_envelope(world: World, acme: Credential) -> None:
    response = await world.http.get(
        "/acme/target/offers", headers={**acme.headers, "Accept": V.format(3)}
    )
    assert response.status_code == 406
    body = response.json()
    assert set(body) == {"httpStatus", "requestId", "requestTime", "errors"}
    assert body["httpStatus"] == 406
    assert body["errors"] == [
        {"errorCode": "Unsupported.Feature", "message": "Unsupported features detected"}
    ]
    assert body["requestId"] == response.headers["x-request-id"]
    assert body["requestTime"].endswith("Z") and len(body["requestTime"]) == 24
    assert response.headers["content-type"] == "application/json"


async def test_body_version_comes_from_content_type(world: World, acme: Credential) -> None:
    body = {"name": "v2 offer", "content": "<p/>"}
    unsupported = await world.http.post(
        "/acme/target/offers/content",
        json=body,
        headers={**acme.headers, "Content-Type": V.format(7), "Accept": V.format(2)},
    )
    assert unsupported.status_code == 406
    assert count_rows(world.database, "offers") == 0
    created = await world.http.post(
        "/acme/target/offers/content",
        json=body,
        headers={**acme.headers, "Content-Type": V.format(2), "Accept": V.format(7)},
    )
    assert created.status_code == 201
    assert created.headers["content-type"] == V.format(2)


# A route with two incompatible body versions proves that a body is read with the model of the
# version its Content-Type names, and that a body of another version is refused, not misread.
class WidgetV1(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str


class WidgetV2(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str
    tags: list[str]


def _with_widget_route(app: Any) -> None:
    router = APIRouter(prefix="/{tenant}/target")
    models = {1: WidgetV1, 2: WidgetV2}

    @router.post("/widgets", **admin_openapi((1, 2), body=models, summary="Widget"))
    def create(call: AdminCall = Depends(admin((1, 2), body=models))) -> Response:
        return call.render({"version": call.version, "body": call.body.model_dump()}, status=201)

    app.include_router(router)


async def test_a_v2_body_sent_as_v1_is_rejected(app: Any, world: World, acme: Credential) -> None:
    _with_widget_route(app)
    v2_body = {"title": "t", "tags": ["a"]}
    misread = await world.http.post(
        "/acme/target/widgets", json=v2_body, headers={**acme.headers, "Content-Type": V.format(1)}
    )
    assert misread.status_code == 406
    assert misread.json()["errors"][0]["errorCode"] == "Unsupported.Feature"
    assert "v2" in misread.json()["errors"][0]["message"]
    plain = await world.http.post("/acme/target/widgets", json=v2_body, headers=acme.headers)
    assert plain.status_code == 406  # application/json is v1
    served = await world.http.post(
        "/acme/target/widgets", json=v2_body, headers={**acme.headers, "Content-Type": V.format(2)}
    )
    assert served.status_code == 201
    assert served.json() == {"version": 2, "body": v2_body}
    v1 = await world.http.post("/acme/target/widgets", json={"label": "x"}, headers=acme.headers)
    assert v1.json() == {"version": 1, "body": {"label": "x"}}
    neither = await world.http.post("/acme/target/widgets", json={"nope": 1}, headers=acme.headers)
    assert neither.status_code == 400
