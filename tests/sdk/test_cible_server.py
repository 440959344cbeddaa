"""On-device against Cible itself: the SDK downloads the artifact from the real
`/{client}/{environment}/v1/rules.json` route (gzip, ETag, 304), decides locally, and reports
its executed decisions to the real delivery API, which counts them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from cible.artifacts import store
from cible.engine import load_artifact
from cible.events import drain
from cible.sdk import ASGITransport, TargetClient
from cible.tenants import service as tenants
from cible.tenants.tables import Tenant
from tests.delivery import _scenario as scenario


def test_on_device_from_cibles_artifact_route(app: Any, database: Any) -> None:
    with database.session() as session:
        tenants.create_tenant(session, scenario.CLIENT)
    with database.session() as session:
        tenant = session.query(Tenant).filter(Tenant.client_code == scenario.CLIENT).one()
        tenant_id, organization_id = tenant.id, tenant.organization_id
        first = scenario.artifact_json((100, 0), remote=False)
        store.replace(
            session, tenant_id, "production", json.dumps(first).encode(), datetime.now(UTC)
        )
    scenario.install(app, load_artifact(first))  # what the delivery API counts displays against

    transport = ASGITransport(app)
    seen: list[Any] = []
    original = transport.handle_request

    def recording(request: Any) -> Any:
        response = original(request)
        seen.append((request, response))
        return response

    transport.handle_request = recording  # type: ignore[method-assign]
    client = TargetClient.create(
        {
            "client": scenario.CLIENT,
            "organization_id": organization_id,
            "server_domain": "cible.test",
            "decisioning_method": "on-device",
            "polling_interval": 0,
            "transport": transport,
            "notification_flush_interval": 3600,
        }
    )
    ping, answer = seen[0]  # Adobe's startup location hint call, answered by Cible
    assert ping.url.params["sessionId"] == "ping123" and answer.status_code == 200
    download, response = seen[1]
    assert download.url.path == "/acme/production/v1/rules.json"
    assert download.headers["accept-encoding"] == "gzip"
    assert response.status_code == 200
    assert client.stats["artifact_generation"] == 1

    request = scenario.request("route-visitor", execute=scenario.mboxes("hero"))
    assert scenario.content(client.get_offers(request)["response"]) == {"hero": {"offer": 0}}
    client.flush_notifications()

    assert client.refresh_artifact()
    assert seen[-1][1].status_code == 304  # unchanged: the ETag matched
    with database.session() as session:
        second = scenario.artifact_json((0, 100), remote=False)
        store.replace(
            session, tenant_id, "production", json.dumps(second).encode(), datetime.now(UTC)
        )
    scenario.install(app, load_artifact(second))
    assert client.refresh_artifact()
    assert seen[-1][1].status_code == 200
    assert client.stats["artifact_generation"] == 2
    assert scenario.content(client.get_offers(request)["response"]) == {"hero": {"offer": 1}}

    client.close()  # flushes the second display notification to the delivery API
    drain(database)  # the events table is filled by the event log's consumer
    with database.session() as session:
        counted = session.execute(
            text("SELECT count(*) FROM events WHERE kind = 'display'")
        ).scalar_one()
    assert counted == 2
