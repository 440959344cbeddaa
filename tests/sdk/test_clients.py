"""The client surface: the three decisioning methods, Adobe's call forms, attributes,
notifications sent on demand, the async twin, transports and configuration."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from delivery_api_client import (
    ChannelType,
    Context,
    DeliveryRequest,
    ExecuteRequest,
    MboxRequest,
    VisitorId,
)

from cible.sdk import (
    ASGITransport,
    AsyncTargetClient,
    AttributeNotFound,
    DeliveryError,
    MockTransport,
    TargetClient,
)
from tests.sdk.helpers import (
    CLIENT,
    ORG,
    EngineServer,
    contents,
    offers_request,
    parity_artifact,
)

RETAIL = Path(__file__).parents[1] / "spec" / "decisioning" / "artifacts" / "retail.json"


def options(method: str, server: EngineServer, **extra: object) -> dict[str, object]:
    return {
        "client": CLIENT,
        "organization_id": ORG,
        "server_domain": "cible.test",
        "decisioning_method": method,
        "polling_interval": 0,
        "transport": MockTransport(server),
        **extra,
    }


def visitor_request(tnt_id: str, *mboxes: str) -> dict[str, object]:
    request = offers_request(*mboxes, page="home")
    request["id"] = {"tntId": tnt_id}
    return request


def test_server_side_calls_delivery_once_with_adobes_query() -> None:
    server = EngineServer(parity_artifact())
    with TargetClient.create(options("server-side", server)) as client:
        result = client.get_offers(visitor_request("v1", "hero", "promo"), session_id="s-1")
    (request,) = [r for r in server.requests if r.method == "POST"]
    assert request.url.path == "/rest/v1/delivery"
    assert dict(request.url.params) == {"imsOrgId": ORG, "sessionId": "s-1", "client": CLIENT}
    assert request.url.scheme == "https"
    assert request.headers["content-type"] == "application/json"
    assert set(contents(result)) == {"hero", "promo"}
    assert result["meta"]["decisioning_method"] == "server-side"


def test_on_device_decides_without_network_and_agrees_with_server_side() -> None:
    server = EngineServer(parity_artifact())
    remote = TargetClient.create(options("server-side", server))
    local = TargetClient.create(options("on-device", server))
    downloads = len(server.requests)
    for number in range(50):
        request = visitor_request(f"visitor-{number}", "hero", "promo", "loyalty")
        assert contents(local.get_offers(request)) == contents(remote.get_offers(request))
    local.close()
    remote.close()
    bodies = [json.loads(r.content) for r in server.requests[downloads:] if r.method == "POST"]
    assert len([b for b in bodies if "execute" in b]) == 50  # the server-side client's calls
    assert all("notifications" in b for b in bodies if "execute" not in b)


def test_hybrid_decides_locally_and_asks_the_server_for_the_rest_in_one_call() -> None:
    retail = json.loads(RETAIL.read_text())
    server = EngineServer(retail)
    with TargetClient.create(options("hybrid", server, client="acmeretail")) as client:
        before = len(server.requests)
        result = client.get_offers(
            {
                "context": {"channel": "web"},
                "id": {"tntId": "hybrid-visitor"},
                "execute": {
                    "mboxes": [
                        {"name": "hero-banner", "index": 0},
                        {"name": "loyalty-offers", "index": 1},
                    ]
                },
            }
        )
    calls = [json.loads(r.content) for r in server.requests[before:] if r.method == "POST"]
    remote_calls = [c for c in calls if "execute" in c]
    assert len(remote_calls) == 1
    assert [m["name"] for m in remote_calls[0]["execute"]["mboxes"]] == ["loyalty-offers"]
    names = [m["name"] for m in result["response"]["execute"]["mboxes"]]
    assert names == ["hero-banner", "loyalty-offers"]
    assert result["meta"]["remote_mboxes"] == ["loyalty-offers"]
    assert result["response"]["status"] == 200


def test_hybrid_without_artifact_falls_back_to_server_side() -> None:
    server = EngineServer(parity_artifact())
    broken = MockTransport(lambda r: server(r) if r.method == "POST" else httpx.Response(500))
    client = TargetClient.create({**options("hybrid", server), "transport": broken})
    result = client.get_offers(visitor_request("v", "hero"))
    assert result["meta"]["decisioning_method"] == "server-side"
    assert contents(result)["hero"]
    client.close()


def test_adobe_call_forms_options_dict_and_models() -> None:
    server = EngineServer(parity_artifact())
    with TargetClient.create(options("on-device", server)) as client:
        model = DeliveryRequest(
            context=Context(channel=ChannelType.WEB),
            id=VisitorId(tnt_id="model-visitor"),
            execute=ExecuteRequest(
                mboxes=[MboxRequest(name="hero", index=0, parameters={"page": "home"})]
            ),
        )
        from_model = client.get_offers({"request": model, "session_id": "adobe-style"})
        from_dict = client.get_offers(visitor_request("model-visitor", "hero"))
        assert contents(from_model) == contents(from_dict)
        assert "session#adobe-style#" in from_model["target_cookie"]["value"]
        assert from_model["request"]["id"] == {"tntId": "model-visitor"}
        with pytest.raises(TypeError):
            client.get_offers({"request": {}, "callback": "print"})  # not callable
        with pytest.raises(TypeError):
            client.get_offers({"request": {}, "sesion_id": "typo"})


def test_get_attributes_reads_json_offers() -> None:
    server = EngineServer(parity_artifact())
    with TargetClient.create(options("on-device", server)) as client:
        attributes = client.get_attributes(
            ["hero", "promo"], {"context": {"channel": "web"}, "id": {"tntId": "a-visitor"}}
        )
    assert attributes.get_value("promo", "activity") == 201
    assert attributes.as_object("hero")["activity"] == 103  # no page parameter: the open split
    assert set(attributes.as_object()) == {"hero", "promo"}
    with pytest.raises(AttributeNotFound):
        attributes.get_value("promo", "missing")
    with pytest.raises(AttributeNotFound):
        attributes.get_value("nowhere", "activity")
    request = attributes.get_response()["request"]
    assert [m["name"] for m in request["execute"]["mboxes"]] == ["hero", "promo"]


def test_send_notifications_posts_now() -> None:
    server = EngineServer(parity_artifact())
    with TargetClient.create(options("on-device", server)) as client:
        result = client.send_notifications(
            {
                "id": {"tntId": "n-visitor"},
                "context": {"channel": "web"},
                "notifications": [
                    {
                        "id": "n-1",
                        "type": "click",
                        "timestamp": 1,
                        "mbox": {"name": "hero"},
                        "tokens": ["token-101-0"],
                    }
                ],
            },
            session_id="s-n",
        )
    (sent,) = server.deliveries()
    assert sent["notifications"][0]["id"] == "n-1"
    assert result["response"]["notifications"] == [{"id": "n-1"}]


def test_configuration_is_checked() -> None:
    base = {"client": CLIENT, "organization_id": ORG, "server_domain": "cible.test"}
    with pytest.raises(ValueError, match="unknown TargetClient option"):
        TargetClient.create({**base, "polling_intervall": 5})
    with pytest.raises(ValueError, match="client"):
        TargetClient.create({**base, "client": ""})
    with pytest.raises(ValueError, match="organization_id"):
        TargetClient.create({"client": CLIENT, "server_domain": "x"})
    with pytest.raises(ValueError, match="decisioning_method"):
        TargetClient.create({**base, "decisioning_method": "local"})
    with pytest.raises(ValueError, match="server_domain"):
        TargetClient.create({"client": CLIENT, "organization_id": ORG})
    with pytest.raises(ValueError, match="event"):
        TargetClient.create({**base, "events": {"ready": print}})


def test_artifact_url_and_conditional_polling() -> None:
    server = EngineServer(parity_artifact())
    client = TargetClient.create(
        {
            **options("on-device", server),
            "secure": False,
            "environment": "staging",
            "property_token": "prop-1",
        }
    )
    first = server.requests[0]
    assert str(first.url) == "http://cible.test/acme/staging/v1/prop-1/rules.json"
    assert "if-none-match" not in first.headers
    assert client.refresh_artifact()
    assert server.requests[-1].headers["if-none-match"] == '"1"'
    assert client.stats["artifact_generation"] == 1  # 304: the same artifact
    client.close()


@pytest.mark.anyio
async def test_async_client_matches_sync_client() -> None:
    server = EngineServer(parity_artifact())
    sync = TargetClient.create(options("on-device", server))
    async with await AsyncTargetClient.create(options("server-side", server)) as remote:
        local = await AsyncTargetClient.create(options("on-device", server))
        for number in range(20):
            request = visitor_request(f"async-{number}", "hero", "promo")
            expected = contents(sync.get_offers(request))
            assert contents(await local.get_offers(request)) == expected
            assert contents(await remote.get_offers(request)) == expected
        attributes = await local.get_attributes(["promo"], visitor_request("async-0"))
        assert attributes.get_value("promo", "activity") == 201
        await local.aclose()
    assert local.stats["notifications"]["sent"] == 41  # 20 x (hero, promo) + promo; by aclose
    sync.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_asgi_transport_calls_an_app_in_process() -> None:
    server = EngineServer(parity_artifact())
    seen: list[str] = []

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()  # type: ignore[operator]
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen.append(scope["path"])
        request = httpx.Request(scope["method"], f"http://cible.test{scope['path']}", content=body)
        response = server(request)
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,  # type: ignore[operator]
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": response.content})  # type: ignore[operator]

    client = TargetClient.create(
        {**options("server-side", server), "transport": ASGITransport(app)}
    )
    result = client.get_offers(visitor_request("asgi", "promo"))
    client.close()
    assert seen == ["/rest/v1/delivery"]
    assert contents(result)["promo"]


def test_raise_on_error_raises_delivery_error() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = TargetClient.create(
        {
            "client": CLIENT,
            "organization_id": ORG,
            "server_domain": "cible.test",
            "transport": MockTransport(down),
            "raise_on_error": True,
        }
    )
    with pytest.raises(DeliveryError, match="unreachable"):
        client.get_offers(offers_request("hero"))
    client.close()


def test_one_client_shared_by_threads() -> None:
    import threading

    server = EngineServer(parity_artifact())
    client = TargetClient.create(
        {**options("on-device", server), "notification_flush_interval": 0.01}
    )
    expected = {
        number: contents(client.get_offers(visitor_request(f"t-{number}", "hero", "promo")))
        for number in range(40)
    }
    problems: list[object] = []

    def work(offset: int) -> None:
        for round_ in range(50):
            number = (offset + round_) % 40
            request = visitor_request(f"t-{number}", "hero", "promo")
            got = contents(client.get_offers(request, session_id=f"s-{offset}-{number}"))
            if got != expected[number]:
                problems.append((number, got))

    threads = [threading.Thread(target=work, args=(offset,)) for offset in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    client.close()
    assert problems == []
    stats = client.stats
    # 40 + 8 x 50 calls, two executed mboxes each: every notification queued and sent.
    assert stats["notifications"]["queued"] == stats["notifications"]["sent"] == 2 * 440
    assert stats["cache"]["hits"] + stats["cache"]["misses"] == 440
