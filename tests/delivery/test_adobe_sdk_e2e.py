"""Adobe's unmodified ``target-python-sdk`` against a real Cible server on 127.0.0.1.

The SDK is configured only through its documented options (``client``, ``organization_id``,
``server_domain``, ``secure``, ``decisioning_method``, ``artifact_payload``). Its answers must be
the decisions and response tokens of Cible's engine, server-side and in hybrid mode.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import uvicorn
from delivery_api_client import (
    ChannelType,
    Context,
    DeliveryRequest,
    ExecuteRequest,
    MboxRequest,
    Notification,
    NotificationMbox,
    PrefetchRequest,
    RequestDetails,
    ViewRequest,
    VisitorId,
)
from sqlalchemy import select, text
from target_python_sdk import TargetClient

from cible.engine import decide
from cible.events import drain
from cible.tenants.tables import Tenant
from tests.conftest import count_rows

from . import _scenario as sc

MBOXES = ("hero", "checkout", "vip")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(world: Any, app: Any, database: Any) -> Iterator[tuple[int, str, Any]]:
    world.tenant("acme")
    sc.install(app, sc.artifact())
    with database.session() as s:
        org = s.scalar(select(Tenant.organization_id).where(Tenant.client_code == "acme"))
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)

    def stop() -> None:
        instance.should_exit = True
        thread.join(timeout=20)

    try:
        yield port, str(org), stop
    finally:
        stop()


def target_client(port: int, org: str, method: str) -> Any:
    config: dict[str, Any] = {
        "client": "acme",
        "organization_id": org,
        "server_domain": f"127.0.0.1:{port}",
        "secure": False,
        "decisioning_method": method,
        "telemetry_enabled": False,
    }
    if method != "server-side":
        config["artifact_payload"] = sc.artifact_json(remote=False)
        config["polling_interval"] = 0
    return TargetClient.create(config)


def sdk_request(tnt_id: str, mode: str, names: tuple[str, ...] = MBOXES) -> DeliveryRequest:
    boxes = [MboxRequest(name=name, index=i) for i, name in enumerate(names, start=1)]
    context = Context(channel=ChannelType.WEB)
    ids = VisitorId(tnt_id=tnt_id)
    if mode == "execute":
        return DeliveryRequest(id=ids, context=context, execute=ExecuteRequest(mboxes=boxes))
    views = [ViewRequest()]
    prefetch = PrefetchRequest(mboxes=boxes, views=views, page_load=RequestDetails())
    return DeliveryRequest(id=ids, context=context, prefetch=prefetch)


def engine_view(
    tnt_id: str, mode: str, names: tuple[str, ...] = MBOXES
) -> dict[str, tuple[Any, Any, Any]]:
    """``{mbox: (content, activity.id, experience.id)}`` as Cible's engine decides them."""
    body = {
        "id": {"tntId": tnt_id},
        "context": {"channel": "web"},
        mode: {"mboxes": [{"name": n, "index": i} for i, n in enumerate(names, start=1)]},
    }
    result = decide(sc.artifact(), body, profile={}, now=datetime.now(UTC), client="acme")
    found = {}
    for entry in result[mode]["mboxes"]:
        option = (entry.get("options") or [{}])[0]
        tokens = option.get("responseTokens", {})
        found[entry["name"]] = (
            option.get("content"),
            tokens.get("activity.id"),
            tokens.get("experience.id"),
        )
    return found


def decisioning_methods(response: Any, mode: str) -> set[Any]:
    block = response.execute if mode == "execute" else response.prefetch
    return {
        (option.response_tokens or {}).get("activity.decisioningMethod")
        for entry in block.mboxes
        for option in entry.options or ()
    }


def displays(database: Any, visitor: str) -> int:
    drain(database)  # the events table is filled by the event log's consumer
    with database.session() as s:
        query = text("select count(*) from events where kind = 'display' and visitor = :v")
        return int(s.execute(query, {"v": visitor}).scalar_one())


def sdk_view(response: Any, mode: str) -> dict[str, tuple[Any, Any, Any]]:
    block = response.execute if mode == "execute" else response.prefetch
    found = {}
    for entry in block.mboxes:
        option = (entry.options or [None])[0]
        tokens = (option.response_tokens if option else None) or {}
        found[entry.name] = (
            option.content if option else None,
            tokens.get("activity.id"),
            tokens.get("experience.id"),
        )
    return found


@pytest.mark.anyio
async def test_adobe_sdk_gets_cibles_decisions(server: tuple[int, str, Any], database: Any) -> None:
    # One server for both modes: the SDK's generated API client keeps the first host it was
    # configured with for the whole process, so a second server on another port is not reached.
    port, org, stop = server
    for method in ("server-side", "hybrid"):
        check_mode(target_client(port, org, method), database, method)
    stop()
    # The mbox names seen were buffered, and recorded for the Admin API when the server stopped.
    with database.session() as s:
        names = set(s.execute(text("select name from mboxes")).scalars())
    assert {"hero", "checkout", "vip"} <= names


def check_mode(client: Any, database: Any, method: str) -> None:
    for n in range(12):
        tnt_id = f"{n:031x}a.0"
        for mode in ("execute", "prefetch"):
            result = client.get_offers({"request": sdk_request(tnt_id, mode), "session_id": "s1"})
            response = result["response"]
            assert response.status == 200
            assert response.id.tnt_id == tnt_id
            assert sdk_view(response, mode) == engine_view(tnt_id, mode)
            if mode == "prefetch":
                assert response.prefetch.views is not None or method == "hybrid"
            # "vip" targets a profile attribute: even in hybrid mode the server decides it.
            assert decisioning_methods(response, mode) == {"server-side"}

    if method == "hybrid":
        # Only local mboxes: Adobe's SDK decides on-device from the artifact and reports the
        # executed decisions to Cible with display notifications, sent in the background.
        local = ("hero", "checkout")
        visitor = "d" * 32 + ".0"
        result = client.get_offers({"request": sdk_request(visitor, "execute", local)})
        response = result["response"]
        assert sdk_view(response, "execute") == engine_view(visitor, "execute", local)
        assert decisioning_methods(response, "execute") == {"on-device"}
        deadline = time.monotonic() + 20
        while displays(database, "d" * 32) < 2:
            assert time.monotonic() < deadline, "the SDK's notifications did not arrive"
            time.sleep(0.1)

    # send_notifications: the prefetched eventToken of a visitor's checkout experience.
    prefetched = client.get_offers({"request": sdk_request("f" * 32 + ".0", "prefetch")})
    checkout = next(m for m in prefetched["response"].prefetch.mboxes if m.name == "checkout")
    token = checkout.options[0].event_token
    notification = Notification(
        id="display-1",
        type="display",
        timestamp=int(time.time() * 1000),
        mbox=NotificationMbox(name="checkout"),
        tokens=[token],
    )
    request = DeliveryRequest(
        id=VisitorId(tnt_id="f" * 32 + ".0"),
        context=Context(channel=ChannelType.WEB),
        notifications=[notification],
    )
    sent = client.send_notifications({"request": request})
    assert [n.id for n in sent["response"].notifications] == ["display-1"]

    # get_attributes: the JSON offer of an mbox, read through the SDK's attribute helper.
    attributes = client.get_attributes(
        ["hero"], {"request": sdk_request("e" * 32 + ".0", "execute")}
    )
    expected = engine_view("e" * 32 + ".0", "execute")["hero"][0]
    assert attributes.get_value("hero", "offer") == expected["offer"]
    drain(database)  # the events table is filled by the event log's consumer
    assert count_rows(database, "events") > 0
