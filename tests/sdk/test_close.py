"""`close()` stops the notification sender: queued notifications are flushed, or, when the
flush cannot end within the close's `timeout`, dropped and counted; the thread (or task) is gone
soon after, however the server behaves."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import httpx
import pytest

from cible.sdk import AsyncTargetClient, HTTPTransport, MockTransport, TargetClient
from tests.sdk.helpers import CLIENT, ORG, Recorder, offers_request, parity_artifact


def options(transport: Any, **extra: Any) -> dict[str, Any]:
    return {
        "client": CLIENT,
        "organization_id": ORG,
        "server_domain": "cible.test",
        "decisioning_method": "on-device",
        "artifact_payload": parity_artifact(),
        "target_location_hint": "1",  # no startup call: these servers count notifications only
        "polling_interval": 0,
        "notification_flush_interval": 3600,  # only close() sends
        "notification_endpoint": "single",
        "notification_concurrency": 1,
        "session_cache_size": 0,
        "transport": transport,
        **extra,
    }


def decide(client: TargetClient, *visitors: str) -> None:
    for visitor in visitors:
        request = offers_request("hero", "promo")
        request["id"] = {"tntId": visitor}
        client.get_offers(request, session_id=f"s-{visitor}")


def accounted(stats: dict[str, int]) -> int:
    return stats["sent"] + stats["dropped"] + stats["failed"]


def test_close_flushes_the_queue_and_stops_the_thread() -> None:
    recorder = Recorder()
    client = TargetClient.create(options(MockTransport(recorder)))
    decide(client, "alice", "bob", "carol")
    thread = client._sender.thread
    assert thread is not None and thread.is_alive()
    assert client.stats["notifications"]["pending"] == 6
    client.close()
    assert not thread.is_alive() and client._sender.thread is None
    stats = client.stats["notifications"]
    assert (stats["sent"], stats["dropped"], stats["pending"]) == (6, 0, 0)
    assert len(recorder.notifications()) == 6


def test_a_hung_server_gets_the_drop_counted_and_the_thread_still_ends() -> None:
    release = threading.Event()
    answered: list[str] = []

    def hung(request: httpx.Request) -> httpx.Response:
        release.wait(30)  # the first post hangs until the test lets it go
        answered.append(request.url.params["sessionId"])
        return httpx.Response(200, json={"status": 200})

    client = TargetClient.create(options(MockTransport(hung)))
    decide(client, "alice", "bob")
    thread = client._sender.thread
    assert thread is not None
    client.close(timeout=0.3)  # returns although the first post is still in flight
    assert thread.is_alive()
    release.set()
    thread.join(10)
    assert not thread.is_alive()
    stats = client.stats["notifications"]
    # The post in flight was answered; the other visitor's was not sent once close gave up.
    assert answered == ["s-alice"]
    assert (stats["sent"], stats["dropped"]) == (2, 2)
    assert accounted(stats) == stats["queued"] == 4


def test_a_server_that_is_down_does_not_hold_close_for_its_retries() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nobody listens there
    client = TargetClient.create(
        options(
            HTTPTransport(),
            server_domain=f"127.0.0.1:{port}",
            secure=False,
            notification_retries=5,
            notification_backoff=5.0,  # 5 + 10 + 20 + ... seconds of backoff without close
        )
    )
    decide(client, "alice")
    thread = client._sender.thread
    assert thread is not None
    client.close(timeout=0.5)
    thread.join(10)
    assert not thread.is_alive()
    stats = client.stats["notifications"]
    assert stats["sent"] == 0 and stats["dropped"] == 2 and accounted(stats) == 2


def test_a_hung_server_with_concurrent_senders_ends_cleanly_and_counts_every_drop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()
    uncaught: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: uncaught.append(args.exc_value))

    def hung(request: httpx.Request) -> httpx.Response:
        release.wait(30)
        return httpx.Response(200, json={"status": 200})

    client = TargetClient.create(options(MockTransport(hung), notification_concurrency=2))
    decide(client, *(f"visitor{n}" for n in range(8)))
    thread = client._sender.thread
    assert thread is not None
    client.close(timeout=0.3)  # two posts in flight, six waiting in the pool
    release.set()
    thread.join(10)
    assert not thread.is_alive()
    stats = client.stats["notifications"]
    assert uncaught == []
    assert stats["sent"] + stats["dropped"] == stats["queued"] == 16
    assert stats["dropped"] >= 12


@pytest.mark.anyio
async def test_async_close_cancels_a_hung_flush_and_counts_the_drop() -> None:
    release = asyncio.Event()

    async def hung(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(200, json={"status": 200})

    client = await AsyncTargetClient.create(options(MockTransport(hung), timeout=60_000))
    for visitor in ("alice", "bob"):
        request = offers_request("hero", "promo")
        request["id"] = {"tntId": visitor}
        await client.get_offers(request, session_id=f"s-{visitor}")
    task = client._sender.task
    assert task is not None and not task.done()
    await client.aclose(timeout=0.3)
    assert task.done() and client._sender.task is None
    stats = client.stats["notifications"]
    assert (stats["sent"], stats["dropped"]) == (0, 4)


@pytest.mark.anyio
async def test_async_close_flushes_when_the_server_answers() -> None:
    recorder = Recorder()
    client = await AsyncTargetClient.create(options(MockTransport(recorder)))
    request = offers_request("hero", "promo")
    request["id"] = {"tntId": "alice"}
    await client.get_offers(request, session_id="s")
    task = client._sender.task
    await client.aclose()
    assert task is not None and task.done()
    assert client.stats["notifications"]["sent"] == 2 and len(recorder.notifications()) == 2
