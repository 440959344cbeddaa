"""Artifacts, stub servers and requests shared by the SDK tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx

from tests.stub_http import serving

CLIENT = "acme"
PING_SESSION = "ping123"  # the session of the SDK's startup location hint call


def is_ping(request: httpx.Request) -> bool:
    """The location hint call an on-device client makes when created (tests/sdk/
    test_location_hint.py counts it); the other tests' servers answer it but do not record it."""
    return request.url.params.get("sessionId") == PING_SESSION


ORG = "0123456789ABCDEF01234567@AdobeOrg"
START_MS = 1577836800000  # 2020-01-01
END_MS = 4102444799000  # 2099-12-31


def split_rules(
    activity_id: int,
    mbox: str,
    weights: list[float],
    audience: dict[str, Any] | None = None,
    content: Callable[[int], Any] | None = None,
) -> list[dict[str, Any]]:
    """An A/B activity in Adobe's rules.json form: one rule per experience, traffic split by
    `allocation` ranges, optionally behind an audience condition and a live date range."""
    rules = []
    low = 0.0
    for experience, weight in enumerate(weights):
        high = round(low + weight, 2)
        condition: list[Any] = [
            {"<=": [low, {"var": "allocation"}]},
            {">": [high, {"var": "allocation"}]}
            if high < 100
            else {">=": [100, {"var": "allocation"}]},
            {"<=": [START_MS, {"var": "current_timestamp"}, END_MS]},
        ]
        if audience is not None:
            condition.append(audience)
        body = (
            content(experience) if content else {"activity": activity_id, "experience": experience}
        )
        rules.append(
            {
                "ruleKey": f"{activity_id}-{experience}",
                "activityId": activity_id,
                "meta": {
                    "activity.id": activity_id,
                    "activity.name": f"Activity {activity_id}",
                    "activity.type": "ab",
                    "experience.id": experience,
                    "experience.name": f"Experience {experience}",
                    "location.name": mbox,
                    "location.type": "mbox",
                    "location.id": 0,
                    "audience.ids": [],
                    "offer.id": activity_id * 10 + experience,
                    "offer.name": f"offer-{activity_id}-{experience}",
                    "option.id": experience + 1,
                    "option.name": f"Offer{experience + 1}",
                },
                "condition": {"and": condition},
                "consequence": {
                    "name": mbox,
                    "options": [
                        {
                            "type": "json" if isinstance(body, dict) else "html",
                            "eventToken": f"token-{activity_id}-{experience}",
                            "content": body,
                        }
                    ],
                    "metrics": [],
                },
            }
        )
        low = high
    return rules


def artifact(
    mboxes: dict[str, list[dict[str, Any]]],
    *,
    remote: list[str] | None = None,
    client: str = CLIENT,
    generated: str = "2026-11-20T09:30:00.000Z",
) -> dict[str, Any]:
    return {
        "version": "1.0.0",
        "meta": {
            "clientCode": client,
            "environment": "production",
            "generatedAt": generated,
            "organizationId": ORG,
            "workspace": 1,
        },
        "globalMbox": "target-global-mbox",
        "geoTargetingEnabled": False,
        "responseTokens": ["activity.id", "experience.id"],
        "remoteMboxes": remote or [],
        "remoteViews": [],
        "localMboxes": sorted(mboxes),
        "localViews": [],
        "rules": {"mboxes": mboxes, "views": {}},
    }


def parity_artifact() -> dict[str, Any]:
    """Three mboxes, five activities: audiences on mbox parameters and the browser; 2-, 3- and
    4-way splits; a first-match chain on `hero`. (No profile audience: Adobe's on-device engine
    ignores `profileParameters`, and Adobe marks such activities remote anyway.)"""
    hero = [
        *split_rules(101, "hero", [50, 50], {"==": [{"var": "mbox.page"}, "home"]}),
        *split_rules(
            102, "hero", [33.33, 33.33, 33.34], {"==": [{"var": "user.browserType"}, "chrome"]}
        ),
        *split_rules(103, "hero", [25, 25, 25, 25]),
    ]
    promo = split_rules(201, "promo", [10, 90])
    loyalty = split_rules(301, "loyalty", [60, 40], {"==": [{"var": "mbox.tier"}, "gold"]})
    return artifact({"hero": hero, "promo": promo, "loyalty": loyalty})


def profile_artifact() -> dict[str, Any]:
    """`hero` behind a `profile.tier` audience, `promo` open to all: for session cache tests."""
    hero = split_rules(401, "hero", [50, 50], {"==": [{"var": "profile.tier"}, "gold"]})
    fallback = split_rules(402, "hero", [100])
    return artifact({"hero": [*hero, *fallback], "promo": split_rules(201, "promo", [10, 90])})


def bench_artifact(activities: int = 10) -> dict[str, Any]:
    """One mbox with `activities` live A/B activities behind `mbox.segment` audiences: a visitor
    of segment `s` walks the rules of the activities before hers, then gets a 50/50 split."""
    rules = []
    for number in range(activities):
        audience = {"==": [{"var": "mbox.segment"}, str(number)]}
        rules.extend(split_rules(1000 + number, "hero", [50, 50], audience))
    return artifact({"hero": rules})


def offers_request(*mboxes: str, mode: str = "execute", **parameters: str) -> dict[str, Any]:
    entries = [
        {"name": name, "index": index, **({"parameters": parameters} if parameters else {})}
        for index, name in enumerate(mboxes)
    ]
    return {"context": {"channel": "web"}, mode: {"mboxes": entries}}


def contents(result: dict[str, Any], mode: str = "execute") -> dict[str, list[Any]]:
    """`{mbox name: [option contents]}` of a get_offers result."""
    block = result["response"].get(mode) or {}
    return {
        mbox["name"]: [option.get("content") for option in mbox.get("options", [])]
        for mbox in block.get("mboxes", [])
    }


@dataclass
class Recorder:
    """A MockTransport handler that records requests and answers from a script."""

    answer: Callable[[httpx.Request], httpx.Response] = field(
        default=lambda request: httpx.Response(200, json={"status": 200})
    )
    requests: list[httpx.Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if is_ping(request):
            return httpx.Response(200, json={"status": 200})
        with self.lock:
            self.requests.append(request)
        return self.answer(request)

    def bodies(self, path: str = "/rest/v1/delivery") -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(r.content) for r in self.requests if r.url.path == path]

    def notifications(self) -> list[dict[str, Any]]:
        return [n for body in self.bodies() for n in body.get("notifications", [])]


@dataclass
class StubServer:
    """A real HTTP server on 127.0.0.1 answering `/rest/v1/delivery` with an empty delivery
    response and `/{client}/.../rules.json` with `artifact`; records delivery bodies."""

    artifact: dict[str, Any] | None = None
    bodies: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0


@contextmanager
def stub_server(artifact_body: dict[str, Any] | None = None) -> Iterator[StubServer]:
    """Also clears Adobe's process-wide `delivery_api_client.Configuration` default (its first
    instance pins every later client to the first host any client called) and restores it."""
    from delivery_api_client.configuration import Configuration

    saved_default = Configuration._default
    Configuration._default = None
    state = StubServer(artifact=artifact_body)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return None

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("ETag", '"v1"')
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.endswith("rules.json") and state.artifact is not None:
                self._send(200, state.artifact)
            else:
                self._send(404, {})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if f"sessionId={PING_SESSION}" not in self.path:
                with lock:
                    state.bodies.append(body)
            answer = {
                "status": 200,
                "requestId": body.get("requestId", "r"),
                "id": body.get("id") or {},
                "notifications": [{"id": n["id"]} for n in body.get("notifications", [])],
            }
            self._send(200, answer)

    try:
        with serving(Handler) as server:
            state.port = server.server_address[1]
            yield state
    finally:
        Configuration._default = saved_default


class EngineServer:
    """A MockTransport handler playing Cible's delivery API with `cible.engine.decide`, for
    server-side tests that must not depend on the delivery package; also serves the artifact
    (with an ETag, answering 304 to a matching If-None-Match)."""

    def __init__(self, artifact_body: dict[str, Any]) -> None:
        self.set_artifact(artifact_body)
        self.requests: list[httpx.Request] = []
        self.lock = threading.Lock()

    def set_artifact(self, artifact_body: dict[str, Any], etag: str = '"1"') -> None:
        from cible.engine import load_artifact

        self.raw = json.dumps(artifact_body).encode()
        self.etag = etag
        self.artifact = load_artifact(artifact_body)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        from datetime import UTC, datetime

        from cible.engine import decide

        if is_ping(request):
            return httpx.Response(200, json={"status": 200})
        with self.lock:
            self.requests.append(request)
        if request.method == "GET":
            if request.headers.get("if-none-match") == self.etag:
                return httpx.Response(304)
            return httpx.Response(200, content=self.raw, headers={"ETag": self.etag})
        body = json.loads(request.content)
        ids = dict(body.get("id") or {})
        if not any(ids.get(k) for k in ("tntId", "marketingCloudVisitorId", "thirdPartyId")):
            ids["tntId"] = f"server{len(self.requests)}"
        body["id"] = ids
        result = decide(self.artifact, body, now=datetime.now(UTC), client=CLIENT)
        result.pop("cible", None)
        result["status"] = 200  # a delivery API decides everything it is asked
        if body.get("notifications"):
            result["notifications"] = [{"id": n["id"]} for n in body["notifications"]]
        return httpx.Response(200, json=result)

    def deliveries(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(r.content) for r in self.requests if r.method == "POST"]
