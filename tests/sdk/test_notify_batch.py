"""`notification_endpoint`: the SDK's notifications through Cible's batch endpoint ("batch"),
Adobe's one-visitor delivery calls ("single"), or whichever the server says it takes ("auto")."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from cible.engine import load_artifact
from cible.events import drain, load_consumers
from cible.sdk import ASGITransport, AsyncTargetClient, MockTransport, TargetClient
from cible.sdk._notifications import Pending, batch_bodies
from cible.tenants import service as tenants
from tests.delivery import _scenario as scenario
from tests.sdk.helpers import CLIENT, ORG, Recorder, is_ping, offers_request, parity_artifact

BATCH = "/rest/v1/notifications"
DELIVERY = "/rest/v1/delivery"


class Recording(ASGITransport):
    """The in-process app, with every request's path and response kept."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.seen: list[tuple[str, httpx.Response]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if not is_ping(request):  # the client's startup location hint call
            self.seen.append((request.url.path, response))
        return response

    def paths(self) -> list[str]:
        return [path for path, _ in self.seen if path in (BATCH, DELIVERY)]


@pytest.fixture
def cible_app(app: Any, database: Any) -> Any:
    with database.session() as session:
        tenants.create_tenant(session, scenario.CLIENT)
    scenario.install(app, load_artifact(scenario.artifact_json(remote=False)))
    return app


def options(transport: Any, endpoint: str | None, **extra: Any) -> dict[str, Any]:
    chosen = {} if endpoint is None else {"notification_endpoint": endpoint}
    return {
        "client": scenario.CLIENT,
        "organization_id": ORG,
        "server_domain": "cible.test",
        "secure": False,
        "decisioning_method": "on-device",
        "artifact_payload": scenario.artifact_json(remote=False),
        "polling_interval": 0,
        "notification_flush_interval": 3600,
        "notification_batch_size": 10_000,  # the sender waits for flush() or close()
        "notification_backoff": 0.001,
        "session_cache_size": 0,
        "transport": transport,
        **chosen,
        **extra,
    }


def visit(client: TargetClient, n: int) -> None:
    request = scenario.request(f"visitor-{n}", execute=scenario.mboxes("hero", "checkout"))
    client.get_offers(request, session_id=f"session-{n}")


def stored(database: Any) -> tuple[int, int]:
    """(display events, distinct visitors among them), once the event consumers (a server runs
    them in the background) applied the log."""
    load_consumers()
    drain(database)
    with database.session() as session:
        row = session.execute(
            text("SELECT count(*), count(DISTINCT visitor) FROM events WHERE kind = 'display'")
        ).one()
    return int(row[0]), int(row[1])


def test_batch_posts_many_visitors_per_request(cible_app: Any, database: Any) -> None:
    transport = Recording(cible_app)
    client = TargetClient.create(options(transport, "batch"))
    for n in range(30):
        visit(client, n)
    client.close()
    assert transport.paths() == [BATCH]
    stats = client.stats["notifications"]
    assert (stats["sent"], stats["accepted"], stats["rejected"], stats["dropped"]) == (60, 60, 0, 0)
    assert stored(database) == (60, 30)


def test_single_posts_one_visitor_per_request(cible_app: Any, database: Any) -> None:
    transport = Recording(cible_app)
    client = TargetClient.create(options(transport, "single"))
    for n in range(5):
        visit(client, n)
    client.close()
    assert transport.paths() == [DELIVERY] * 5
    stats = client.stats["notifications"]
    assert (stats["sent"], stats["accepted"], stats["rejected"]) == (10, 10, 0)
    assert stored(database) == (10, 5)


def test_auto_switches_to_batch_once_cibles_delivery_api_says_so(
    cible_app: Any, database: Any
) -> None:
    transport = Recording(cible_app)
    # No startup location hint call (a hint is configured): nothing is known at first.
    client = TargetClient.create(options(transport, None, target_location_hint="1"))
    assert client.config.notification_endpoint == "auto"
    visit(client, 1)
    visit(client, 2)
    client.flush_notifications()
    assert transport.paths() == [DELIVERY, DELIVERY]  # nothing known yet: Adobe's calls
    assert transport.seen[-1][1].headers["X-Cible-Notifications"] == "batch"
    for n in range(3, 10):
        visit(client, n)
    client.close()
    assert transport.paths()[2:] == [BATCH]
    assert stored(database) == (18, 9)

    # The startup location hint call is a delivery call too: its answer already says so.
    transport = Recording(cible_app)
    client = TargetClient.create(options(transport, None))
    visit(client, 10)
    client.close()
    assert transport.paths() == [BATCH]
    assert stored(database) == (20, 10)


def test_auto_against_a_server_without_the_header_stays_single() -> None:
    recorder = Recorder()  # Adobe's edge: a delivery response without X-Cible-Notifications
    client = TargetClient.create(
        {
            **options(MockTransport(recorder), "auto"),
            "artifact_payload": parity_artifact(),
            "client": CLIENT,
        }
    )
    for round_ in range(3):
        for n in range(4):
            request = offers_request("hero", "promo")
            request["id"] = {"tntId": f"v{n}"}
            client.get_offers(request, session_id=f"s{round_}-{n}")
        client.flush_notifications()
    client.close()
    paths = {request.url.path for request in recorder.requests}
    assert paths == {DELIVERY}
    assert client.stats["notifications"]["sent"] == 24


def answering(batch: Any) -> Recorder:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == BATCH:
            return batch(request)
        return httpx.Response(200, json={"status": 200}, headers={"X-Cible-Notifications": "batch"})

    return Recorder(answer=answer)


def decide_some(client: TargetClient, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        request = offers_request("hero")
        request["id"] = {"tntId": f"v{n}"}
        client.get_offers(request, session_id=f"s{n}")


def mocked(recorder: Recorder, endpoint: str) -> TargetClient:
    return TargetClient.create(
        {
            **options(MockTransport(recorder), endpoint),
            "artifact_payload": parity_artifact(),
            "client": CLIENT,
        }
    )


def test_auto_goes_back_to_single_when_the_batch_endpoint_is_missing() -> None:
    recorder = answering(lambda request: httpx.Response(404))
    client = mocked(recorder, "auto")
    decide_some(client, 1)
    client.flush_notifications()  # single: learns the header
    decide_some(client, 3, start=1)
    client.flush_notifications()  # batch: 404, sent again as single requests
    decide_some(client, 2, start=4)
    client.close()  # single from now on
    paths = [request.url.path for request in recorder.requests]
    assert paths == [DELIVERY, BATCH, DELIVERY, DELIVERY, DELIVERY, DELIVERY, DELIVERY]
    stats = client.stats["notifications"]
    assert (stats["sent"], stats["failed"], stats["dropped"]) == (6, 0, 0)


def test_per_item_rejections_are_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def results(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)["notifications"]
        return httpx.Response(
            200,
            json={
                "results": [
                    {"id": item["id"], "status": 422 if i % 2 else 200, "message": "no token"}
                    for i, item in enumerate(items)
                ]
            },
            headers={"X-Cible-Notifications": "batch"},
        )

    recorder = answering(results)
    client = mocked(recorder, "batch")
    decide_some(client, 10)
    with caplog.at_level(logging.WARNING, logger="cible.sdk"):
        client.close()
    stats = client.stats["notifications"]
    assert (stats["sent"], stats["accepted"], stats["rejected"]) == (10, 5, 5)
    rejected = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert len(rejected) == 1
    assert "5 of 10" in rejected[0].getMessage()
    # Each item carries its visitor and session.
    items = [i for body in recorder.bodies(BATCH) for i in body["notifications"]]
    assert {i["visitorId"]["tntId"] for i in items} == {f"v{n}" for n in range(10)}
    assert all(i["sessionId"] == f"s{i['visitorId']['tntId'][1:]}" for i in items)


def test_a_batch_over_the_servers_body_limit_is_split() -> None:
    def limited(request: httpx.Request) -> httpx.Response:
        if len(json.loads(request.content)["notifications"]) > 3:
            return httpx.Response(413)
        return httpx.Response(200, json={"results": []})

    recorder = answering(limited)
    client = mocked(recorder, "batch")
    decide_some(client, 10)
    client.close()
    sizes = [len(body["notifications"]) for body in recorder.bodies(BATCH)]
    assert sum(size for size in sizes if size <= 3) == 10
    stats = client.stats["notifications"]
    assert (stats["sent"], stats["failed"]) == (10, 0)


def test_batch_bodies_respect_item_and_byte_limits() -> None:
    pending = [
        Pending(
            f"s{n}", {"tntId": f"v{n}"}, {}, [{"id": f"n{n}-{k}", "x": "y" * 90} for k in (1, 2)]
        )
        for n in range(50)
    ]
    by_count = batch_bodies(pending, max_items=30)
    assert [len(b) for b in by_count] == [30, 30, 30, 10]
    by_size = batch_bodies(pending, max_bytes=2_000)
    assert len(by_size) > 4
    for body in by_size:
        assert len(body.content) <= 2_000
        decoded = json.loads(body.content)["notifications"]
        assert all(
            item["visitorId"]["tntId"] == f"v{item['id'][1:].split('-')[0]}" for item in decoded
        )
    assert sum(len(b) for b in by_size) == 100


def test_unknown_endpoint_option_is_refused() -> None:
    with pytest.raises(ValueError, match="notification_endpoint"):
        TargetClient.create(options(MockTransport(Recorder()), "bulk"))


@pytest.mark.anyio
async def test_async_client_batches_too(cible_app: Any, database: Any) -> None:
    transport = Recording(cible_app)
    client = await AsyncTargetClient.create(options(transport, "batch"))
    for n in range(12):
        request = scenario.request(f"visitor-{n}", execute=scenario.mboxes("hero", "checkout"))
        await client.get_offers(request, session_id=f"session-{n}")
    await client.aclose()
    assert transport.paths() == [BATCH]
    assert client.stats["notifications"]["accepted"] == 24
    assert stored(database) == (24, 12)


def test_a_batch_lost_in_a_crash_is_resent_and_counted_once(
    app: Any, settings: Any, database: Any, clock: Any
) -> None:
    from cible.web.app import create_app
    from tests.sdk.test_delivery_once import DyingServer

    with database.session() as session:
        tenants.create_tenant(session, scenario.CLIENT)
    loaded = load_artifact(scenario.artifact_json(remote=False))
    scenario.install(app, loaded)

    def restarted() -> Any:
        fresh = create_app(settings, database=database, clock=clock)
        scenario.install(fresh, loaded)
        return fresh

    server = DyingServer(app, restarted)
    client = TargetClient.create(options(server, "batch", notification_concurrency=1))
    for n in range(12):
        visit(client, n)
        if n % 4 == 3:
            client.flush_notifications()  # one batch of four visitors per flush
    client.close()
    stats = client.stats["notifications"]
    assert (stats["sent"], stats["failed"], stats["retries"]) == (24, 0, 3)
    # The post whose answer was lost went again with the same notification ids, three times.
    assert server.ids_sent[1] == server.ids_sent[2] == server.ids_sent[3] == server.ids_sent[4]
    assert server.posts == 6
    assert stored(database) == (24, 12)


def test_single_requests_count_the_delivery_apis_rejections() -> None:
    def delivery(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)["notifications"]
        return httpx.Response(
            200,
            json={
                "status": 200,
                "notifications": [{"id": n["id"]} for n in sent[1:]],
                "cible": {"rejectedNotifications": [{"id": sent[0]["id"], "message": "forged"}]},
            },
        )

    recorder = Recorder(answer=delivery)
    client = mocked(recorder, "single")
    decide_some(client, 3)
    client.close()
    stats = client.stats["notifications"]
    assert (stats["sent"], stats["accepted"], stats["rejected"]) == (3, 0, 3)
    assert {request.url.path for request in recorder.requests} == {DELIVERY}
