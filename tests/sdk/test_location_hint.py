"""Adobe's startup location hint call (target_python_sdk `helper.request_location_hint_cookie`).

An on-device or hybrid client without `target_location_hint` asks its delivery host once, when
created and before downloading the artifact, with session `ping123` and an empty request; the
cluster in the answer's `edgeHost` becomes the client's hint: new on-device visitors get tntIds
of that edge (`<id>.<cluster>_0`) and results carry the `mboxEdgeCluster` cookie. Tested
against a stub HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from cible.sdk import AsyncTargetClient, HTTPTransport, TargetClient
from tests.sdk.helpers import CLIENT, ORG, offers_request, parity_artifact
from tests.stub_http import serving


@dataclass
class Edge:
    """What the stub server saw, in order: `(method, path, query, body)`."""

    port: int = 0
    delivery_status: int = 200
    seen: list[tuple[str, str, dict[str, list[str]], Any]] = field(default_factory=list)


@contextmanager
def edge(edge_host: str = "mboxedge35.tt.omtrdc.net", status: int = 200) -> Iterator[Edge]:
    state = Edge(delivery_status=status)
    artifact = json.dumps(parity_artifact()).encode()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return None

        def _reply(self, status: int, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _record(self, body: Any) -> None:
            url = urlsplit(self.path)
            with lock:
                state.seen.append((self.command, url.path, parse_qs(url.query), body))

        def do_GET(self) -> None:
            self._record(None)
            self._reply(200 if self.path.endswith("rules.json") else 404, artifact)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            self._record(body)
            answer = {
                "status": state.delivery_status,
                "requestId": "r",
                "id": {"tntId": "edge-made.35_0"},
                "edgeHost": edge_host,
            }
            self._reply(state.delivery_status, json.dumps(answer).encode())

    with serving(Handler) as server:
        state.port = server.server_address[1]
        yield state


def options(port: int, method: str = "on-device", **extra: Any) -> dict[str, Any]:
    return {
        "client": CLIENT,
        "organization_id": ORG,
        "server_domain": f"127.0.0.1:{port}",
        "secure": False,
        "decisioning_method": method,
        "polling_interval": 0,
        "notification_flush_interval": 3600,
        "transport": HTTPTransport(),
        **extra,
    }


def pings(state: Edge) -> list[tuple[str, str, dict[str, list[str]], Any]]:
    return [s for s in state.seen if s[2].get("sessionId") == ["ping123"]]


def test_on_device_client_asks_for_the_location_hint_before_the_artifact() -> None:
    with edge() as state:
        client = TargetClient.create(options(state.port))
        try:
            first, second = state.seen[:2]
            assert first[:2] == ("POST", "/rest/v1/delivery")
            assert first[2]["sessionId"] == ["ping123"] and first[2]["imsOrgId"] == [ORG]
            assert first[3] == {"context": {"channel": "web"}}
            assert second[:2] == ("GET", f"/{CLIENT}/production/v1/rules.json")

            result = client.get_offers(offers_request("hero"))
            assert result["meta"]["decisioning_method"] == "on-device"
            assert result["response"]["id"]["tntId"].endswith(".35_0")
            assert result["target_location_hint_cookie"] == {
                "name": "mboxEdgeCluster",
                "value": "35",
                "maxAge": 1860,
            }
        finally:
            client.close()
        assert len(pings(state)) == 1


def test_a_configured_hint_or_server_side_makes_no_call() -> None:
    with edge() as state:
        with TargetClient.create(options(state.port, target_location_hint="17")) as client:
            result = client.get_offers(offers_request("hero"))
            assert result["response"]["id"]["tntId"].endswith(".17_0")
        with TargetClient.create(options(state.port, method="server-side")) as client:
            pass
        assert pings(state) == []


def test_hybrid_client_asks_too_and_an_edge_without_cluster_gives_no_hint() -> None:
    with edge(edge_host="cible") as state:  # what Cible's delivery API answers
        with TargetClient.create(options(state.port, method="hybrid")) as client:
            result = client.get_offers(offers_request("hero"))
            assert "." not in result["response"]["id"]["tntId"]
            assert "target_location_hint_cookie" not in result
        assert len(pings(state)) == 1


def test_a_failed_call_is_logged_and_the_client_still_starts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with edge(status=503) as state:
        with caplog.at_level(logging.ERROR, logger="cible.sdk"):
            client = TargetClient.create(options(state.port))
        try:
            assert client.stats["artifact_generation"] == 1
            result = client.get_offers(offers_request("hero"))
            assert "." not in result["response"]["id"]["tntId"]
        finally:
            client.close()
    assert any("location hint request failed" in r.getMessage() for r in caplog.records)


@pytest.mark.anyio
async def test_async_client_asks_for_the_location_hint_too() -> None:
    with edge() as state:
        client = await AsyncTargetClient.create(options(state.port))
        try:
            assert state.seen[0][2]["sessionId"] == ["ping123"]
            result = await client.get_offers(offers_request("hero"))
            assert result["response"]["id"]["tntId"].endswith(".35_0")
        finally:
            await client.aclose()
