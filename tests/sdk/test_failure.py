"""Failure behaviour: a down, slow or failing server gives the caller's defaults (or raises, by
option); a corrupt or unreachable artifact keeps the last good one and says so through events."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cible.sdk import (
    ASGITransport,
    AsyncTargetClient,
    DeliveryError,
    HTTPTransport,
    MockTransport,
    TargetClient,
)
from tests.sdk.helpers import (
    CLIENT,
    ORG,
    EngineServer,
    artifact,
    contents,
    offers_request,
    parity_artifact,
    split_rules,
)

DEFAULTS = {"hero": {"banner": "default"}, "promo": "<p>house ad</p>"}


def down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def server_side(transport: Any, **extra: Any) -> TargetClient:
    return TargetClient.create(
        {
            "client": CLIENT,
            "organization_id": ORG,
            "server_domain": "cible.test",
            "transport": transport,
            "defaults": DEFAULTS,
            "timeout": 200,
            **extra,
        }
    )


def test_server_down_gives_defaults() -> None:
    client = server_side(MockTransport(down))
    result = client.get_offers(offers_request("hero", "promo", "other"))
    assert contents(result) == {
        "hero": [{"banner": "default"}],
        "promo": ["<p>house ad</p>"],
        "other": [],
    }
    options = result["response"]["execute"]["mboxes"][1]["options"]
    assert options == [{"type": "html", "content": "<p>house ad</p>"}]
    assert result["meta"]["defaults_used"] is True
    assert "connection refused" in result["meta"]["error"]
    assert result["target_cookie"]["name"] == "mbox"  # the session still gets its cookie
    per_call = client.get_offers(offers_request("hero"), defaults={"hero": {"banner": "call"}})
    assert contents(per_call) == {"hero": [{"banner": "call"}]}
    assert client.stats["cache"]["size"] == 0  # a fallback is never cached
    client.close()


def test_error_status_and_bad_body_give_defaults() -> None:
    for answer in (httpx.Response(500, text="boom"), httpx.Response(200, text="not json")):
        client = server_side(MockTransport(lambda request, answer=answer: answer))
        result = client.get_offers(offers_request("hero"))
        assert contents(result) == {"hero": [{"banner": "default"}]}
        client.close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def test_timeout_over_http_gives_defaults(silent_port: int) -> None:
    client = server_side(HTTPTransport(), server_domain=f"127.0.0.1:{silent_port}", secure=False)
    result = client.get_offers(offers_request("hero"))
    assert contents(result) == {"hero": [{"banner": "default"}]}
    assert "Timeout" in result["meta"]["error"]
    client.close()


def test_timeout_in_process_gives_defaults_or_raises() -> None:
    release = threading.Event()

    async def hanging_app(scope: Any, receive: Any, send: Any) -> None:
        while not release.is_set():
            await asyncio.sleep(0.01)

    transport = ASGITransport(hanging_app)
    client = server_side(transport)
    assert contents(client.get_offers(offers_request("hero"))) == {"hero": [{"banner": "default"}]}
    strict = server_side(transport, raise_on_error=True)
    with pytest.raises(DeliveryError):
        strict.get_offers(offers_request("hero"))
    release.set()
    client.close()
    strict.close()


@pytest.mark.anyio
async def test_async_client_gives_defaults() -> None:
    client = await AsyncTargetClient.create(
        {
            "client": CLIENT,
            "organization_id": ORG,
            "server_domain": "cible.test",
            "transport": MockTransport(down),
            "defaults": DEFAULTS,
        }
    )
    result = await client.get_offers(offers_request("promo"))
    assert contents(result) == {"promo": ["<p>house ad</p>"]}
    await client.aclose()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Events:
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.succeeded = threading.Event()

    def handlers(self) -> dict[str, Any]:
        def record(event: dict[str, Any]) -> None:
            self.seen.append(event)
            if event["type"] == "artifact_download_succeeded":
                self.succeeded.set()

        return {
            name: record
            for name in ("client_ready", "artifact_download_succeeded", "artifact_download_failed")
        }

    def types(self) -> list[str]:
        return [event["type"] for event in self.seen]


def on_device(server: Any, events: Events, **extra: Any) -> TargetClient:
    return TargetClient.create(
        {
            "client": CLIENT,
            "organization_id": ORG,
            "server_domain": "cible.test",
            "decisioning_method": "on-device",
            "polling_interval": 0,
            "transport": MockTransport(server),
            "events": events.handlers(),
            "defaults": DEFAULTS,
            "notification_backoff": 0.001,
            **extra,
        }
    )


def test_corrupt_artifact_keeps_the_last_good_one() -> None:
    server = EngineServer(parity_artifact())
    events = Events()
    client = on_device(server, events)
    assert events.types() == ["artifact_download_succeeded", "client_ready"]
    request = offers_request("promo")
    request["id"] = {"tntId": "steady"}
    before = contents(client.get_offers(request))

    corrupt = [
        httpx.Response(200, content=b'{"version": "1.0.0", "rules": ', headers={"ETag": '"2"'}),
        httpx.Response(200, json={"version": "2.0.0"}, headers={"ETag": '"3"'}),
        httpx.Response(200, json={"version": "1.0.0", "rules": {"mboxes": {"m": [{"x": 1}]}}}),
        httpx.Response(500),
    ]
    for answer in corrupt:
        client.transport = MockTransport(lambda request, answer=answer: answer)
        assert client.refresh_artifact()  # an artifact is still in place
        assert events.types()[-1] == "artifact_download_failed"
        assert (
            events.seen[-1]["artifact_location"]
            == "https://cible.test/acme/production/v1/rules.json"
        )
        assert isinstance(events.seen[-1]["error"], Exception)
        assert contents(client.get_offers(request)) == before
    assert client.stats["artifact_generation"] == 1
    client.close()


def test_unreachable_artifact_then_recovery() -> None:
    server = EngineServer(parity_artifact())
    events = Events()
    reachable = threading.Event()

    def maybe(request: httpx.Request) -> httpx.Response:
        if not reachable.is_set():
            raise httpx.ConnectError("no route", request=request)
        return server(request)

    client = on_device(maybe, events)
    assert events.types() == ["artifact_download_failed"]
    result = client.get_offers(offers_request("hero"))
    assert contents(result) == {"hero": [{"banner": "default"}]}
    assert "no artifact" in result["meta"]["error"]
    reachable.set()
    assert client.refresh_artifact()
    assert events.types()[-2:] == ["artifact_download_succeeded", "client_ready"]
    assert contents(client.get_offers(offers_request("hero")))["hero"] != [{"banner": "default"}]
    client.close()


def test_poller_picks_up_a_new_artifact_and_stops_on_close() -> None:
    server = EngineServer(parity_artifact())
    events = Events()
    client = on_device(server, events, polling_interval=0.02)
    events.succeeded.clear()
    server.set_artifact(artifact({"promo": split_rules(909, "promo", [100])}), etag='"9"')
    assert events.succeeded.wait(10)
    request = offers_request("promo")
    request["id"] = {"tntId": "poll"}
    assert contents(client.get_offers(request))["promo"][0]["activity"] == 909
    poller = client._poller
    assert poller is not None and poller.is_alive()
    client.close()
    assert not poller.is_alive()
    conditional = [r for r in server.requests if r.method == "GET"][1:]
    assert conditional and all("if-none-match" in r.headers for r in conditional)


def test_hybrid_keeps_local_decisions_when_the_server_is_down() -> None:
    import json
    from pathlib import Path

    retail = json.loads(
        (Path(__file__).parents[1] / "spec/decisioning/artifacts/retail.json").read_text()
    )
    client = TargetClient.create(
        {
            "client": "acmeretail",
            "organization_id": ORG,
            "server_domain": "cible.test",
            "decisioning_method": "hybrid",
            "artifact_payload": retail,
            "polling_interval": 0,
            "transport": MockTransport(down),
            "defaults": {"loyalty-offers": {"tier": "none"}},
            "notification_flush_interval": 3600,
        }
    )
    request = {
        "context": {"channel": "web"},
        "id": {"tntId": "hybrid-down"},
        "execute": {
            "mboxes": [
                {"name": "target-global-mbox", "index": 0},
                {"name": "loyalty-offers", "index": 1},
            ]
        },
    }
    local_only = client.get_offers(request, decisioning_method="on-device")
    result = client.get_offers(request)
    mboxes = {m["name"]: m for m in result["response"]["execute"]["mboxes"]}
    local = {m["name"]: m for m in local_only["response"]["execute"]["mboxes"]}
    assert mboxes["target-global-mbox"] == local["target-global-mbox"]
    assert mboxes["loyalty-offers"]["options"] == [{"type": "json", "content": {"tier": "none"}}]
    assert result["meta"]["defaults_used"] is True
    assert client.stats["cache"]["size"] == 1  # only the on-device call was cached
    client._core.queue.take(100)
    client.close()
