"""At-least-once notification delivery, exactly-once counting: the delivery API dies in the
middle of a flush (after storing a batch, before answering; then refusing connections), comes
back as a new app over the same database, and every on-device display is counted once."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import text

from cible.engine import load_artifact
from cible.events import drain
from cible.sdk import ASGITransport, TargetClient
from cible.tenants import service as tenants
from cible.tenants.tables import Tenant
from cible.web.app import create_app
from tests.delivery import _scenario as scenario
from tests.sdk.helpers import is_ping


class DyingServer:
    """Forwards to the app; the 2nd and 3rd notification posts are processed by the app but
    their answers are lost (the process died), the 4th finds nobody listening; then a restarted
    app answers."""

    def __init__(self, app: Any, restart: Any) -> None:
        self.transport = ASGITransport(app)
        self.restart = restart
        self.posts = 0
        self.ids_sent: list[list[str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if is_ping(request):  # the client's startup location hint call: not a notification
            return self.transport.handle_request(request)
        self.posts += 1
        self.ids_sent.append([n["id"] for n in json.loads(request.content)["notifications"]])
        if self.posts in (2, 3):
            self.transport.handle_request(request)
            raise httpx.RemoteProtocolError("server closed the connection", request=request)
        if self.posts == 4:
            self.transport.close()
            self.transport = ASGITransport(self.restart())
            raise httpx.ConnectError("connection refused", request=request)
        return self.transport.handle_request(request)


def test_every_display_counted_once_across_a_crash(
    app: Any, settings: Any, database: Any, clock: Any
) -> None:
    raw = scenario.artifact_json(remote=False)
    with database.session() as session:
        tenants.create_tenant(session, scenario.CLIENT)
    with database.session() as session:
        organization_id = (
            session.query(Tenant.organization_id)
            .filter(Tenant.client_code == scenario.CLIENT)
            .scalar()
        )
    loaded = load_artifact(raw)
    scenario.install(app, loaded)

    def restarted() -> Any:
        fresh = create_app(settings, database=database, clock=clock)
        scenario.install(fresh, loaded)
        return fresh

    server = DyingServer(app, restarted)
    client = TargetClient.create(
        {
            "client": scenario.CLIENT,
            "organization_id": organization_id,
            "server_domain": "cible.test",
            "decisioning_method": "on-device",
            "artifact_payload": raw,
            "polling_interval": 0,
            "transport": server,
            "notification_flush_interval": 3600,
            "notification_backoff": 0.001,
            "notification_concurrency": 1,  # posts in a known order, so the crash hits one batch
            "notification_endpoint": "single",  # Adobe's one-visitor calls: several posts a flush
            "session_cache_size": 0,
        }
    )
    displays = 0
    for number in range(12):
        request = scenario.request(f"crash-visitor-{number}", execute=scenario.mboxes("hero"))
        result = client.get_offers(request, session_id=f"session-{number}")
        displays += len(result["response"]["execute"]["mboxes"][0].get("options", []))
        if number % 4 == 3:
            client.flush_notifications()  # flushes of four visitors: several posts each
    client.close()

    assert displays == 12
    assert server.posts > 12  # retries happened
    stats = client.stats["notifications"]
    assert stats["sent"] == 12 and stats["failed"] == 0 and stats["retries"] == 3
    # A retried post carried the same notification ids as the one that was lost.
    assert server.ids_sent[1] == server.ids_sent[2] == server.ids_sent[3] == server.ids_sent[4]
    drain(database)  # the events table is filled by the event log's consumer
    with database.session() as session:
        counted = session.execute(
            text("SELECT count(*) FROM events WHERE kind = 'display'")
        ).scalar_one()
    assert counted == 12
