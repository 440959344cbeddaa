"""Adobe's own on-device SDK and `cible.engine` choose the same experiences.

Adobe's `TargetClient` (target-python-sdk 1.1.0) runs in `on-device` mode on the realistic
artifact `tests/spec/decisioning/artifacts/retail.json` (A/B and experience-targeting activities
with audiences on mbox parameters, page URL, user agent and dates, a page-load activity with
VEC actions). For 10,000 generated visitors, every prefetched mbox and page-load option (content,
event token, activity and experience tokens) must be identical; a further set of executed
requests compares the display notifications Adobe's SDK sends with the ones the engine returns.

No network: the SDK's location-hint call and its notifications go to a stub delivery server on
127.0.0.1 started here. Adobe's SDK spends most of a call copying; four speed-ups, none of which
changes what it decides, keep 10,000 visitors within about a minute of CPU:
- the artifact payload is dropped from the client's configuration once the engine has loaded it
  (the SDK deep-copies its configuration on every call);
- the delivery models' `__repr__`, formatted for a debug log line on every call, is a constant;
- `RequestTracer.get_trace_result` returns None at once when the request asked for no trace
  (what `TraceProvider.wrap` returns then, after deep-copying the whole trace);
- `rule_evaluator` copies the decisioning context shallowly: it only replaces top-level keys of
  its copy (`page`, `referring`, `mbox`, `allocation`), so a deep copy per rule buys nothing.

The visitors use user agents on which both SDKs' parsers agree (desktop and iOS browsers); Adobe's
Python SDK names Android Chrome "chrome mobile" where Cible, like Adobe's Node SDK, says "chrome".
"""

from __future__ import annotations

import copy
import json
import random
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import delivery_api_client
import pytest
from delivery_api_client import (
    Address,
    ChannelType,
    Context,
    DeliveryRequest,
    ExecuteRequest,
    MboxRequest,
    PrefetchRequest,
    RequestDetails,
    VisitorId,
)
from target_decisioning_engine import rule_evaluator, trace_provider
from target_decisioning_engine.types.decisioning_context import DecisioningContext
from target_python_sdk import TargetClient

from cible.engine import EXTRA_KEY, decide, load_artifact
from tests.stub_http import serving

ARTIFACT_PATH = Path(__file__).parents[1] / "spec" / "decisioning" / "artifacts" / "retail.json"
ARTIFACT_JSON = json.loads(ARTIFACT_PATH.read_text(encoding="utf-8"))
CLIENT = "acmeretail"
VISITORS = 10_000
EXECUTED_VISITORS = 200

USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:118.0) Gecko/20100101 Firefox/118.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.0.0 Safari/537.36 Edg/119.0.2151.72",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
]
REFERRERS = [
    "https://www.google.com/search?q=shoes",
    "https://news.example.net/deals",
    "https://acme-shop.com/",
]
URLS = [
    "https://www.acme-shop.com/",
    "https://www.acme-shop.com/sale/shoes?utm_source=newsletter",
    "https://shop.example.com/Sale/summer",
    "https://www.example.org/product/42?ref=ad",
]
MBOXES = [
    ("hero-banner", [{"pageType": "Home"}, {"pageType": "product"}, {}]),
    ("product-recs", [{"category": "Shoes"}, {"category": "bags"}, {}]),
    ("checkout-cta", [{}, {"step": "2"}]),
]


class _StubDelivery(BaseHTTPRequestHandler):
    """Answers every POST /rest/v1/delivery like an empty Target response; keeps the bodies."""

    received: list[dict[str, Any]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.lock:
            self.received.append(json.loads(body or b"{}"))
        reply = json.dumps({"status": 200, "client": CLIENT, "id": {"tntId": "stub"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def stub_server() -> Iterator[ThreadingHTTPServer]:
    with serving(_StubDelivery) as server:
        yield server


@pytest.fixture(scope="module")
def adobe_client(stub_server: ThreadingHTTPServer) -> Iterator[TargetClient]:
    ready = threading.Event()
    with pytest.MonkeyPatch.context() as patch:
        for name in dir(delivery_api_client):
            model = getattr(delivery_api_client, name)
            if isinstance(model, type) and "__repr__" in vars(model):
                patch.setattr(model, "__repr__", lambda self: "<model>")
        full_trace = trace_provider.RequestTracer.get_trace_result

        def trace_result(tracer: Any) -> Any:
            return full_trace(tracer) if tracer.trace_provider.show_traces else None

        def context_copy(value: Any) -> Any:
            if isinstance(value, DecisioningContext):
                return copy.copy(value)
            return copy.deepcopy(value)

        patch.setattr(trace_provider.RequestTracer, "get_trace_result", trace_result)
        patch.setattr(rule_evaluator, "deepcopy", context_copy)
        client = TargetClient.create(
            {
                "client": CLIENT,
                "organization_id": "6A1D2E3F4B5C6D7E8F901234@AdobeOrg",
                "decisioning_method": "on-device",
                "artifact_payload": json.loads(json.dumps(ARTIFACT_JSON)),
                "server_domain": f"127.0.0.1:{stub_server.server_address[1]}",
                "secure": False,
                "polling_interval": 0,
                "telemetry_enabled": False,
                "events": {"client_ready": lambda _event: ready.set()},
            }
        )
        assert ready.wait(10), "Adobe's client never became ready"
        assert client.decisioning_engine is not None
        client.config.pop("artifact_payload", None)
        client.decisioning_engine.config.artifact_payload = None
        yield client
        client.decisioning_engine.stop_polling()


def _plain(value: Any) -> Any:
    """Adobe models and Cible dicts in one comparable shape (snake_case action keys)."""
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    if isinstance(value, dict):
        renamed = {"cssSelector": "css_selector"}
        return {renamed.get(k, k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _adobe_options(options: Any) -> list[tuple[Any, ...]]:
    return [
        (
            option.type,
            _plain(option.content),
            option.event_token,
            (option.response_tokens or {}).get("activity.id"),
            (option.response_tokens or {}).get("experience.id"),
        )
        for option in options or []
    ]


def _cible_options(options: Any) -> list[tuple[Any, ...]]:
    return [
        (
            option.get("type"),
            _plain(option.get("content")),
            option.get("eventToken"),
            option.get("responseTokens", {}).get("activity.id"),
            option.get("responseTokens", {}).get("experience.id"),
        )
        for option in options or []
    ]


def _visitor(rng: random.Random, number: int) -> dict[str, Any]:
    mbox_name, parameter_choices = MBOXES[number % len(MBOXES)]
    return {
        "tnt_id": uuid.UUID(int=rng.getrandbits(128)).hex,
        "user_agent": rng.choice(USER_AGENTS),
        "url": rng.choice(URLS),
        "referrer": rng.choice(REFERRERS),
        "mbox": mbox_name,
        "parameters": dict(rng.choice(parameter_choices)),
    }


def _adobe_request(visitor: dict[str, Any], mode: str) -> DeliveryRequest:
    mbox = MboxRequest(name=visitor["mbox"], index=1, parameters=visitor["parameters"] or None)
    block: dict[str, Any] = {"mboxes": [mbox], "page_load": RequestDetails()}
    return DeliveryRequest(
        context=Context(
            channel=ChannelType.WEB,
            address=Address(url=visitor["url"], referring_url=visitor["referrer"]),
            user_agent=visitor["user_agent"],
        ),
        id=VisitorId(tnt_id=visitor["tnt_id"]),
        **({"prefetch": PrefetchRequest(**block)} if mode == "prefetch" else {}),
        **({"execute": ExecuteRequest(**block)} if mode == "execute" else {}),
    )


def _cible_request(visitor: dict[str, Any], mode: str) -> dict[str, Any]:
    mbox: dict[str, Any] = {"name": visitor["mbox"], "index": 1}
    if visitor["parameters"]:
        mbox["parameters"] = visitor["parameters"]
    return {
        "context": {
            "channel": "web",
            "address": {"url": visitor["url"], "referringUrl": visitor["referrer"]},
            "userAgent": visitor["user_agent"],
        },
        "id": {"tntId": visitor["tnt_id"]},
        mode: {"mboxes": [mbox], "pageLoad": {}},
    }


def _compare(visitor: dict[str, Any], adobe: Any, cible: dict[str, Any]) -> list[str]:
    problems = []
    adobe_mbox = adobe.mboxes[0]
    cible_mbox = cible["mboxes"][0]
    if _adobe_options(adobe_mbox.options) != _cible_options(cible_mbox.get("options")):
        problems.append(
            f"{visitor}: mbox {_adobe_options(adobe_mbox.options)} != "
            f"{_cible_options(cible_mbox.get('options'))}"
        )
    adobe_page = _adobe_options(adobe.page_load.options if adobe.page_load else None)
    cible_page = _cible_options(cible["pageLoad"].get("options"))
    if adobe_page != cible_page:
        problems.append(f"{visitor}: pageLoad {adobe_page} != {cible_page}")
    return problems


@pytest.mark.slow
def test_same_experiences_as_adobe_for_10000_visitors(adobe_client: TargetClient) -> None:
    artifact = load_artifact(ARTIFACT_JSON)
    rng = random.Random(20261125)
    problems: list[str] = []
    experiences: dict[tuple[str, Any, Any], int] = {}
    for number in range(VISITORS):
        visitor = _visitor(rng, number)
        adobe = adobe_client.get_offers({"request": _adobe_request(visitor, "prefetch")})
        now = datetime.now(UTC)  # Adobe's SDK reads the clock itself; give the engine the same
        cible = decide(artifact, _cible_request(visitor, "prefetch"), now=now)
        problems.extend(_compare(visitor, adobe["response"].prefetch, cible["prefetch"]))
        for option in cible["prefetch"]["mboxes"][0].get("options", []):
            tokens = option["responseTokens"]
            key = (visitor["mbox"], tokens.get("activity.id"), tokens.get("experience.id"))
            experiences[key] = experiences.get(key, 0) + 1
    assert problems[:5] == [], f"{len(problems)} differences"
    # The sample exercises every experience of every activity on the three mboxes.
    assert len(experiences) == 2 + 3 + 1 + 3, experiences


def test_same_notifications_as_adobe_for_executed_decisions(
    adobe_client: TargetClient, stub_server: ThreadingHTTPServer
) -> None:
    artifact = load_artifact(ARTIFACT_JSON)
    rng = random.Random(7)
    expected_tokens: dict[str, set[str]] = {}
    problems: list[str] = []
    with _StubDelivery.lock:
        _StubDelivery.received.clear()
    for number in range(EXECUTED_VISITORS):
        visitor = _visitor(rng, number)
        adobe = adobe_client.get_offers({"request": _adobe_request(visitor, "execute")})
        cible = decide(artifact, _cible_request(visitor, "execute"), now=datetime.now(UTC))
        problems.extend(_compare(visitor, adobe["response"].execute, cible["execute"]))
        tokens = {t for n in cible[EXTRA_KEY]["notifications"] for t in n["tokens"]}
        if tokens:
            expected_tokens[visitor["tnt_id"]] = tokens
    assert problems[:5] == [], f"{len(problems)} differences"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with _StubDelivery.lock:
            received = list(_StubDelivery.received)
        if len(received) >= len(expected_tokens):
            break
        time.sleep(0.05)
    sent_tokens: dict[str, set[str]] = {}
    for body in received:
        for notification in body.get("notifications") or []:
            assert notification["type"] == "display"
            tnt_id = body["id"]["tntId"]
            sent_tokens.setdefault(tnt_id, set()).update(notification["tokens"])
    assert sent_tokens == expected_tokens
