"""Run Adobe's own `target-python-sdk` on-device against a Cible-compiled artifact, offline.

An on-device `TargetClient` makes one "location hint" delivery call when it is created and posts
display notifications after executed decisions (reference/adobe-target-sdk-facts.md). Both go to
`server_domain`, here a stub delivery server on 127.0.0.1 that records what it receives.

Also the scenario shared by the SDK and engine-equivalence tests: Admin-API-shaped activities
(A/B and XT, audiences on mbox parameters, page URL and browser, priorities, a remote audience)
and a deterministic population of visitors.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

from delivery_api_client import (
    Address,
    ChannelType,
    Context,
    DeliveryRequest,
    DeliveryResponse,
    ExecuteRequest,
    MboxRequest,
    PrefetchRequest,
    VisitorId,
)
from delivery_api_client.configuration import Configuration
from target_python_sdk import TargetClient

from cible.artifacts import compile_artifact
from tests.stub_http import serving

CLIENT = "acme"
ORGANIZATION = "0123456789ABCDEF@AdobeOrg"

USER_AGENTS = {
    "chrome": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "firefox": "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "safari": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.1 Safari/605.1.15",
}
URLS = (
    "https://shop.example.com/sale/shoes?color=red",
    "https://www.example.com/home",
    "https://www.other.org/sale",
)
TIERS = ("Gold", "silver", None)


@dataclass
class StubDelivery:
    """What the stub delivery server received: `(path, JSON body)` pairs."""

    port: int
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[str, dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.01)
        with self.lock:
            return list(self.requests)


@contextmanager
def stub_delivery_server() -> Iterator[StubDelivery]:
    """A delivery API stub on 127.0.0.1 answering every POST with an empty 200 response.

    Adobe's generated `delivery_api_client.Configuration` keeps the first instance ever made
    as a process-wide default and hands out copies of it, whatever host is asked for
    (`TypeWithDefault.__call__`): after one client has called a server, every client in the
    process calls that server. The default is cleared on entry, so the clients created here
    reach this stub, and restored on exit.
    """
    saved_default = Configuration._default
    Configuration._default = None
    stub = StubDelivery(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            with stub.lock:
                stub.requests.append((self.path, body))
            reply = {"status": 200, "requestId": body.get("requestId", ""), "client": CLIENT}
            reply["id"] = body.get("id") or {}
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads `stub.requests` instead."""

    try:
        with serving(Handler) as server:
            stub.port = server.server_address[1]
            yield stub
    finally:
        Configuration._default = saved_default


@contextmanager
def quiet_model_reprs() -> Iterator[None]:
    """Skip the pretty-printing of every request and response Adobe's SDK does for a debug log.

    `DecisionProvider.run` formats the whole request and response into a `logger.debug` message
    before the logger can drop it (`"...".format(self.request, response)`), a third of a
    decision's time. Decisions never read these reprs; only the log line would change.
    """
    saved = DeliveryRequest.__repr__, DeliveryResponse.__repr__
    DeliveryRequest.__repr__ = DeliveryResponse.__repr__ = object.__repr__  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        DeliveryRequest.__repr__, DeliveryResponse.__repr__ = saved  # type: ignore[method-assign]


def on_device_client(artifact: dict[str, Any], stub: StubDelivery) -> Any:
    """Adobe's TargetClient deciding on-device from `artifact`, talking only to `stub`."""
    return TargetClient.create(
        {
            "client": CLIENT,
            "organization_id": ORGANIZATION,
            "decisioning_method": "on-device",
            "artifact_payload": artifact,
            "server_domain": f"127.0.0.1:{stub.port}",
            "secure": False,
            # Geo lookups (https://{cdn_base_path}/v1/geo) fail locally instead of leaving.
            "cdn_base_path": "127.0.0.1:9",
            "polling_interval": 0,
            "telemetry_enabled": False,
        }
    )


# -- the scenario ------------------------------------------------------------------------------

OFFERS: dict[int, dict[str, Any]] = {
    500 + i: {"id": 500 + i, "name": f"offer {i}", "type": "json", "content": {"offer": i}}
    for i in range(12)
}
AUDIENCES: dict[int, dict[str, Any]] = {
    1: {"id": 1, "name": "gold tier", "targetRule": {"mbox": "tier", "equals": ["gold"]}},
    2: {"id": 2, "name": "chrome", "targetRule": {"browser": "type", "equals": ["chrome"]}},
    3: {"id": 3, "name": "sale pages", "targetRule": {"page": "url", "contains": ["/sale"]}},
    # Adobe's page.domain is the registrable domain (target_decisioning_engine/utils.parse_url).
    4: {
        "id": 4,
        "name": "example.com",
        "targetRule": {"page": "domain", "equals": ["example.com"]},
    },
    5: {"id": 5, "name": "firefox", "targetRule": {"browser": "type", "equals": ["firefox"]}},
    6: {"id": 6, "name": "vip", "targetRule": {"profile": "vip", "equals": ["true"]}},
}


def make_activity(
    activity_id: int,
    kind: str,
    mbox: str,
    experiences: list[tuple[int | None, list[int]]],
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": activity_id,
        "type": kind,
        "name": f"{kind} on {mbox}",
        "state": "approved",
        "priority": 5,
        "options": [
            {"optionLocalId": e, "name": f"option {e}", "offerId": 500 + e}
            for e in range(len(experiences))
        ],
        "locations": {"mboxes": [{"locationLocalId": 0, "name": mbox}]},
        "experiences": [
            {
                "experienceLocalId": e,
                "name": f"Experience {chr(65 + e)}",
                "audienceIds": audiences,
                "optionLocations": [{"locationLocalId": 0, "optionLocalId": e}],
                **({} if share is None else {"visitorPercentage": share}),
            }
            for e, (share, audiences) in enumerate(experiences)
        ],
    }
    body.update(extra)
    return body


ACTIVITIES: list[dict[str, Any]] = [
    make_activity(
        101, "ab", "hero", [(50, []), (50, [])], startsAt="2020-01-01", endsAt="2099-12-31"
    ),
    make_activity(102, "xt", "promo", [(None, [1]), (None, [2]), (None, [3]), (None, [])]),
    make_activity(103, "ab", "checkout", [(20, []), (30, []), (50, [])]),
    make_activity(104, "xt", "banner", [(None, [5])], priority=10),
    make_activity(105, "ab", "banner", [(50, []), (50, [])], priority=5),
    make_activity(106, "xt", "vip", [(None, [6]), (None, [])]),
    make_activity(107, "ab", "hero", [(100, [])], state="saved", priority=999),
]
ACTIVITIES[2]["locations"]["mboxes"][0]["audienceIds"] = [4]  # entry audience of "checkout"

MBOXES = ("hero", "promo", "checkout", "banner")


def scenario_artifact() -> dict[str, Any]:
    return compile_artifact(
        client=CLIENT,
        environment="production",
        activities=ACTIVITIES,
        offers=OFFERS,
        audiences=AUDIENCES,
        generated_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


# Geo: XT on "local"; (Adobe SDK `Geo` fields, expected experience). Cities arrive in upper case
# from Adobe's geo service and as written from a request's own context.geo.
GEO_CASES: list[tuple[dict[str, Any], int]] = [
    ({"city": "PARIS", "country_code": "FR", "latitude": 48.85, "longitude": 2.35}, 0),
    ({"city": "Paris", "country_code": "FR"}, 0),
    ({"city": "Villeurbanne", "latitude": 45.77, "longitude": 4.88}, 1),
    ({"city": "SAN FRANCISCO", "country_code": "US", "state_code": "CA"}, 2),
    ({"city": "BERLIN", "country_code": "DE", "latitude": 52.52, "longitude": 13.4}, 3),
]
GEO_AUDIENCES: dict[int, dict[str, Any]] = {
    11: {"id": 11, "name": "paris", "targetRule": {"geo": "city", "equals": ["paris"]}},
    12: {
        "id": 12,
        "name": "near Lyon",
        "targetRule": {
            "geo": "radius",
            "within": [{"latitude": 45.764, "longitude": 4.8357, "radiusKm": 20}],
        },
    },
    13: {
        "id": 13,
        "name": "California",
        "targetRule": {
            "and": [{"geo": "country", "equals": ["us"]}, {"geo": "region", "matches": ["ca"]}]
        },
    },
}


def geo_artifact() -> dict[str, Any]:
    local = make_activity(
        120, "xt", "local", [(None, [11]), (None, [12]), (None, [13]), (None, [])]
    )
    return compile_artifact(
        client=CLIENT,
        environment="production",
        activities=[local],
        offers=OFFERS,
        audiences=GEO_AUDIENCES,
        generated_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


@dataclass(frozen=True)
class Visitor:
    tnt_id: str
    browser: str
    url: str
    tier: str | None

    def request(self, mode: str = "prefetch", mboxes: tuple[str, ...] = MBOXES) -> Any:
        params = {"tier": self.tier} if self.tier else None
        boxes = [
            MboxRequest(name=name, index=i, parameters=params if name == "promo" else None)
            for i, name in enumerate(mboxes, start=1)
        ]
        context = Context(
            channel=ChannelType.WEB,
            user_agent=USER_AGENTS[self.browser],
            address=Address(url=self.url),
        )
        detail = {"prefetch": PrefetchRequest(mboxes=boxes)}
        if mode == "execute":
            detail = {"execute": ExecuteRequest(mboxes=boxes)}
        return DeliveryRequest(id=VisitorId(tnt_id=self.tnt_id), context=context, **detail)

    def request_json(
        self, mode: str = "prefetch", mboxes: tuple[str, ...] = MBOXES
    ) -> dict[str, Any]:
        """The same request as Adobe delivery API JSON (what `cible.engine.decide` reads)."""
        boxes: list[dict[str, Any]] = []
        for i, name in enumerate(mboxes, start=1):
            box: dict[str, Any] = {"name": name, "index": i}
            if name == "promo" and self.tier:
                box["parameters"] = {"tier": self.tier}
            boxes.append(box)
        return {
            "id": {"tntId": self.tnt_id},
            "context": {
                "channel": "web",
                "userAgent": USER_AGENTS[self.browser],
                "address": {"url": self.url},
            },
            mode: {"mboxes": boxes},
        }

    def expected_promo(self) -> int:
        """XT: the first experience whose audience matches, in order."""
        if self.tier and self.tier.lower() == "gold":
            return 0
        if self.browser == "chrome":
            return 1
        if "/sale" in self.url:
            return 2
        return 3


def visitors(count: int, seed: int = 20260101) -> list[Visitor]:
    rng = random.Random(seed)
    return [
        Visitor(
            # No "." in the id: Adobe's SDK would read a location hint from its suffix.
            tnt_id=f"{rng.getrandbits(128):032x}",
            browser=rng.choice(sorted(USER_AGENTS)),
            url=rng.choice(URLS),
            tier=rng.choice(TIERS),
        )
        for _ in range(count)
    ]


def chosen(mbox_response: Any) -> tuple[int, int] | None:
    """`(activity id, experience id)` from an SDK MboxResponse's response tokens."""
    if not mbox_response.options:
        return None
    tokens = mbox_response.options[0].response_tokens
    return int(tokens["activity.id"]), int(tokens["experience.id"])
