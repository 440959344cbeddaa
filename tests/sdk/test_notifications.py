"""The notification queue of on-device decisions: bounded, batched, retried with backoff,
flushed on close, with ids that stay the same across retries."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx

from cible.sdk import MockTransport, TargetClient
from cible.sdk._config import Config
from cible.sdk._flow import Sleep
from cible.sdk._notifications import (
    NotificationQueue,
    NotificationStats,
    Pending,
    batches,
    deliver,
)
from tests.sdk.helpers import CLIENT, ORG, Recorder, offers_request, parity_artifact


def make(handler: Any, **extra: Any) -> TargetClient:
    return TargetClient.create(
        {
            "client": CLIENT,
            "organization_id": ORG,
            "server_domain": "cible.test",
            "decisioning_method": "on-device",
            "artifact_payload": parity_artifact(),
            "polling_interval": 0,
            "notification_flush_interval": 3600,
            "notification_backoff": 0.001,
            "session_cache_size": 0,
            "transport": MockTransport(handler),
            **extra,
        }
    )


def visit(client: TargetClient, visitor: str, session: str = "s") -> dict[str, Any]:
    request = offers_request("hero", "promo")
    request["id"] = {"tntId": visitor}
    return client.get_offers(request, session_id=session)


def test_executed_decisions_are_notified_in_batches_per_visitor() -> None:
    recorder = Recorder()
    client = make(recorder)
    for _ in range(3):
        visit(client, "alice")
    visit(client, "bob", session="t")
    assert recorder.requests == []  # nothing sent while deciding
    client.close()
    bodies = recorder.bodies()
    assert len(bodies) == 2  # one request per (session, visitor)
    by_visitor = {body["id"]["tntId"]: body for body in bodies}
    assert len(by_visitor["alice"]["notifications"]) == 6
    assert len(by_visitor["bob"]["notifications"]) == 2
    for body in bodies:
        assert set(body) >= {"requestId", "id", "context", "notifications"}
        for notification in body["notifications"]:
            assert notification["type"] == "display"
            assert notification["mbox"]["name"] in {"hero", "promo"}
            assert notification["tokens"]
            assert isinstance(notification["timestamp"], int)
    ids = [n["id"] for body in bodies for n in body["notifications"]]
    assert len(set(ids)) == len(ids) == 8
    # notificationProvider.js: every display notification has its own impressionId.
    impressions = [n["impressionId"] for body in bodies for n in body["notifications"]]
    assert len(set(impressions)) == len(impressions) == 8
    assert all(isinstance(value, str) and value for value in impressions)
    sent = recorder.requests[0]
    assert sent.url.path == "/rest/v1/delivery"
    assert sent.url.params["sessionId"] in {"s", "t"}


def test_prefetch_sends_no_notification() -> None:
    recorder = Recorder()
    client = make(recorder)
    request = offers_request("hero", mode="prefetch")
    request["id"] = {"tntId": "alice"}
    result = client.get_offers(request)
    assert result["response"]["prefetch"]["mboxes"][0]["options"][0]["eventToken"]
    client.close()
    assert recorder.requests == []


def test_a_full_batch_wakes_the_sender() -> None:
    arrived = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        arrived.set()
        return httpx.Response(200, json={})

    client = make(handler, notification_batch_size=4)
    visit(client, "alice")
    visit(client, "alice")  # 4 notifications: a batch, sent long before the 1-hour interval
    assert arrived.wait(10)
    client.close()


def test_queue_is_bounded_and_never_blocks() -> None:
    gate = threading.Event()

    def stuck(request: httpx.Request) -> httpx.Response:
        gate.wait(10)
        return httpx.Response(200, json={})

    client = make(stuck, notification_queue_size=5, notification_batch_size=1000)
    for number in range(10):
        visit(client, f"visitor-{number}")  # returns although the sender could never send
    stats = client.stats["notifications"]
    assert stats["pending"] == 4  # two decisions of two notifications fit in five
    assert stats["dropped"] == 16
    gate.set()
    client.close()
    assert client.stats["notifications"]["sent"] == 4


def test_retries_with_backoff_and_stable_ids() -> None:
    attempts: list[list[tuple[str, str]]] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        notifications = json.loads(request.content)["notifications"]
        attempts.append([(n["id"], n["impressionId"]) for n in notifications])
        if len(attempts) == 1:
            raise httpx.ConnectError("down", request=request)
        if len(attempts) == 2:
            return httpx.Response(503)
        return httpx.Response(200, json={})

    client = make(flaky)
    visit(client, "alice")
    client.close()
    assert len(attempts) == 3
    assert attempts[0] == attempts[1] == attempts[2]
    stats = client.stats["notifications"]
    assert stats["sent"] == 2
    assert stats["retries"] == 2


def test_backoff_doubles_and_gives_up() -> None:
    config = Config.from_options(
        {
            "client": CLIENT,
            "organization_id": ORG,
            "server_domain": "cible.test",
            "notification_retries": 3,
            "notification_backoff": 0.5,
        }
    )
    stats = NotificationStats()
    flow = deliver(config, "s", {"notifications": [{"id": "n1"}]}, stats)
    steps: list[Any] = [next(flow)]
    try:
        while True:
            if isinstance(steps[-1], Sleep):
                steps.append(flow.send(None))
            else:
                steps.append(flow.send(httpx.Response(500)))
    except StopIteration as stop:
        assert stop.value is False
    sleeps = [step.seconds for step in steps if isinstance(step, Sleep)]
    assert sleeps == [0.5, 1.0, 2.0]
    assert stats.failed == 1
    assert stats.requests == 4


def test_client_errors_are_not_retried() -> None:
    attempts = []

    def refused(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        return httpx.Response(400, json={"status": 400, "message": "bad token"})

    client = make(refused, target_location_hint="1")  # no startup location hint call
    visit(client, "alice")
    client.close()
    assert len(attempts) == 1
    assert client.stats["notifications"]["failed"] == 2


def test_batches_split_at_fifty_per_request() -> None:
    queue = NotificationQueue(size=1000)
    for _ in range(60):
        queue.put(Pending("s", {"tntId": "v"}, {"channel": "web"}, [{"type": "display"}]))
    queue.put(Pending("s", {"tntId": "w"}, {"channel": "web"}, [{"type": "display"}], "prop"))
    requests = batches(queue.take(1000))
    assert [len(body["notifications"]) for _, body in requests] == [50, 10, 1]
    assert requests[2][1]["property"] == {"token": "prop"}
    assert len(queue) == 0


def test_close_flushes_what_is_queued() -> None:
    recorder = Recorder()
    client = make(recorder)  # the flush interval is one hour
    visit(client, "alice")
    assert client.stats["notifications"]["pending"] == 2
    client.close()
    assert len(recorder.notifications()) == 2
    assert client.stats["notifications"]["pending"] == 0


def test_drops_are_logged_once_then_per_thousand() -> None:
    import logging

    class Capture(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.messages: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.messages.append(record.getMessage())

    logger = logging.getLogger("tests.sdk.drops")
    capture = Capture()
    logger.addHandler(capture)
    gate = threading.Event()

    def stuck(request: httpx.Request) -> httpx.Response:
        gate.wait(10)
        return httpx.Response(200, json={})

    client = make(stuck, notification_queue_size=2, notification_batch_size=1000, logger=logger)
    try:
        for number in range(601):  # 600 dropped decisions of two notifications: 1,200 dropped
            visit(client, f"visitor-{number}")
    finally:
        gate.set()
        client.close()
        logger.removeHandler(capture)
    drops = [m for m in capture.messages if "queue full" in m]
    assert client.stats["notifications"]["dropped"] == 1200
    assert len(drops) == 2
    assert drops[0].endswith("2 notification(s) dropped so far")
    assert drops[1].endswith("1000 notification(s) dropped so far")
