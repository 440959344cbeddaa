"""The same 10,000 visitors get the same experiences from `cible.sdk` on-device, `cible.sdk`
server-side against Cible's real delivery API (in-process), and Adobe's unmodified
`target-python-sdk` on-device, all three from one artifact.

Adobe's client makes a location-hint call when created and would report decisions to its
server: a stub server on 127.0.0.1 takes those calls, so nothing leaves the machine. Requests are
prefetches (no display notifications), over three mboxes whose audiences read mbox parameters
and the browser, with 2-, 3- and 4-way splits.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import pytest
from delivery_api_client import (
    ChannelType,
    Context,
    DeliveryRequest,
    MboxRequest,
    PrefetchRequest,
    VisitorId,
)
from target_python_sdk import TargetClient as AdobeClient

from cible.engine import load_artifact
from cible.sdk import ASGITransport, TargetClient
from cible.tenants import service as tenants
from cible.tenants.tables import Tenant
from tests.delivery import _scenario as scenario
from tests.sdk.helpers import CLIENT, ORG, parity_artifact, stub_server

VISITORS = 10_000
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"


def visitor(number: int) -> dict[str, Any]:
    return {
        "tnt_id": hashlib.sha256(f"visitor-{number}".encode()).hexdigest()[:32],
        "page": "home" if number % 2 else "other",
        "tier": "gold" if number % 5 == 0 else "silver",
        "user_agent": CHROME if number % 3 else FIREFOX,
    }


def cible_request(v: dict[str, Any]) -> dict[str, Any]:
    return {
        "context": {"channel": "web", "userAgent": v["user_agent"]},
        "id": {"tntId": v["tnt_id"]},
        "prefetch": {
            "mboxes": [
                {"name": "hero", "index": 0, "parameters": {"page": v["page"]}},
                {"name": "promo", "index": 1},
                {"name": "loyalty", "index": 2, "parameters": {"tier": v["tier"]}},
            ]
        },
    }


def adobe_request(v: dict[str, Any]) -> DeliveryRequest:
    return DeliveryRequest(
        context=Context(channel=ChannelType.WEB, user_agent=v["user_agent"]),
        id=VisitorId(tnt_id=v["tnt_id"]),
        prefetch=PrefetchRequest(
            mboxes=[
                MboxRequest(name="hero", index=0, parameters={"page": v["page"]}),
                MboxRequest(name="promo", index=1),
                MboxRequest(name="loyalty", index=2, parameters={"tier": v["tier"]}),
            ]
        ),
    )


def cible_experiences(result: dict[str, Any]) -> dict[str, Any]:
    return {
        mbox["name"]: [option["content"] for option in mbox.get("options", [])]
        for mbox in result["response"]["prefetch"]["mboxes"]
    }


def adobe_experiences(result: dict[str, Any]) -> dict[str, Any]:
    return {
        mbox.name: [option.content for option in mbox.options or []]
        for mbox in result["response"].prefetch.mboxes
    }


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_three_clients_agree_on_ten_thousand_visitors(app: Any, database: Any) -> None:
    raw = parity_artifact()
    with database.session() as session:
        tenants.create_tenant(session, CLIENT)
    with database.session() as session:
        organization_id = (
            session.query(Tenant.organization_id).filter(Tenant.client_code == CLIENT).scalar()
        )
    scenario.install(app, load_artifact(raw))
    on_device = TargetClient.create(
        {
            "client": CLIENT,
            "organization_id": ORG,
            "decisioning_method": "on-device",
            "artifact_payload": raw,
            "polling_interval": 0,
        }
    )
    server_side = TargetClient.create(
        {
            "client": CLIENT,
            "organization_id": organization_id,
            "server_domain": "cible.test",
            "transport": ASGITransport(app),
            "session_cache_size": 0,
            "timeout": 30_000,
            "raise_on_error": True,
        }
    )
    with stub_server() as stub:
        ready = threading.Event()
        adobe = AdobeClient.create(
            {
                "client": CLIENT,
                "organization_id": ORG,
                "decisioning_method": "on-device",
                "artifact_payload": raw,
                "server_domain": f"127.0.0.1:{stub.port}",
                "secure": False,
                "telemetry_enabled": False,
                "polling_interval": 0,
                "events": {"client_ready": lambda event: ready.set()},
            }
        )
        assert ready.wait(30)
        disagreements = []
        seen: set[str] = set()
        for number in range(VISITORS):
            v = visitor(number)
            ours = cible_experiences(on_device.get_offers(cible_request(v)))
            served = cible_experiences(server_side.get_offers(cible_request(v)))
            theirs = adobe_experiences(adobe.get_offers({"request": adobe_request(v)}))
            if not ours == served == theirs:
                disagreements.append((number, ours, served, theirs))
            seen.update(f"{name}:{option}" for name, options in ours.items() for option in options)
    on_device.close()
    server_side.close()
    assert disagreements[:5] == []
    # Every experience of every activity was served to someone.
    assert len(seen) == 2 + 3 + 4 + 2 + 2
