"""Operations endpoints: health reports the database, metrics count requests per route."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Credential, World

pytestmark = pytest.mark.anyio


async def test_health(world: World) -> None:
    response = await world.http.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_health_reports_an_unreachable_database(app: Any, world: World) -> None:
    app.state.db.engine.dispose()
    app.state.db.ping = lambda: False
    response = await world.http.get("/health")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


async def test_metrics_per_route_and_status(world: World, acme: Credential) -> None:
    await world.http.get("/acme/target/offers", headers=acme.headers)
    await world.http.get("/acme/target/offers")
    text = (await world.http.get("/metrics")).text
    assert (
        'cible_http_requests_total{method="GET",route="/{tenant}/target/offers",status="200"} 1.0'
        in text
    )
    assert (
        'cible_http_requests_total{method="GET",route="/{tenant}/target/offers",status="401"} 1.0'
        in text
    )
    assert (
        'cible_http_request_duration_seconds_bucket{le="0.5",method="GET",route="/{tenant}/target/offers"}'
        in text
    )


async def test_request_id_header_on_every_response(world: World) -> None:
    ok = await world.http.get("/health")
    missing = await world.http.get("/missing")
    assert ok.headers["x-request-id"] != missing.headers["x-request-id"]
    assert missing.json()["requestId"] == missing.headers["x-request-id"]


async def test_logs_are_json_lines_with_the_request_id(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    import json

    from cible.web.logs import JSONFormatter

    with caplog.at_level("INFO", logger="cible.http"):
        response = await world.http.get("/health")
    records = [r for r in caplog.records if r.name == "cible.http"]
    assert records, "each request is logged"
    line = json.loads(JSONFormatter().format(records[-1]))
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["route"] == "/health" and line["status"] == 200


async def test_metrics_show_each_event_consumers_lag_and_delivery_calls(world: World) -> None:
    world.tenant("acme")
    body = {"context": {"channel": "web"}, "execute": {"mboxes": [{"index": 1, "name": "a"}]}}
    await world.http.post("/rest/v1/delivery?client=acme&sessionId=s", json=body)
    text = (await world.http.get("/metrics")).text
    assert 'cible_event_consumer_lag{consumer="delivery.events"} 0.0' in text
    assert (
        'cible_http_requests_total{method="POST",route="/rest/v1/delivery",status="200"} 1.0'
        in text
    )
