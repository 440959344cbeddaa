"""Adobe's `callback` / `err_callback` options (target_python_sdk `get_offers` docstring).

With a `callback` the call runs in the background: `TargetClient` returns an `AsyncResult`
(as Adobe's SDK does) and `AsyncTargetClient` an `asyncio.Task`; the callback gets what the call
would have returned, `err_callback` what it raised. Without a `callback` nothing changes.
"""

from __future__ import annotations

import asyncio
import threading
from multiprocessing.pool import AsyncResult
from typing import Any

import httpx
import pytest

from cible.sdk import AsyncTargetClient, MockTransport, TargetClient
from cible.sdk._attributes import Attributes
from cible.sdk._delivery import DeliveryError
from tests.sdk.helpers import CLIENT, ORG, EngineServer, contents, offers_request, parity_artifact


def options(handler: Any, **extra: Any) -> dict[str, Any]:
    return {
        "client": CLIENT,
        "organization_id": ORG,
        "server_domain": "cible.test",
        "transport": MockTransport(handler),
        **extra,
    }


class Outcome:
    """Collects what the callbacks receive, and in which thread."""

    def __init__(self) -> None:
        self.results: list[Any] = []
        self.errors: list[BaseException] = []
        self.threads: list[int] = []
        self.done = threading.Event()

    def callback(self, value: Any) -> None:
        self.results.append(value)
        self.threads.append(threading.get_ident())
        self.done.set()

    def err_callback(self, error: BaseException) -> None:
        self.errors.append(error)
        self.threads.append(threading.get_ident())
        self.done.set()


def failing(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503, json={"status": 503, "message": "down"})


def test_callback_runs_the_call_in_the_background_and_hands_over_the_result() -> None:
    server = EngineServer(parity_artifact())
    with TargetClient.create(options(server)) as client:
        expected = contents(client.get_offers(offers_request("hero"), session_id="s"))
        outcome = Outcome()
        pending = client.get_offers(
            {
                "request": offers_request("hero"),
                "session_id": "s",
                "callback": outcome.callback,
                "err_callback": outcome.err_callback,
            }
        )
        assert isinstance(pending, AsyncResult)
        result = pending.get(10)
        assert outcome.done.wait(10)
        assert outcome.results == [result] and outcome.errors == []
        assert contents(result) == expected
        assert outcome.threads[0] != threading.get_ident()


def test_err_callback_gets_the_error_and_the_result_raises_it() -> None:
    with TargetClient.create(options(failing, raise_on_error=True)) as client:
        outcome = Outcome()
        pending = client.get_offers(
            {
                "request": offers_request("hero"),
                "callback": outcome.callback,
                "err_callback": outcome.err_callback,
            }
        )
        with pytest.raises(DeliveryError):
            pending.get(10)
        assert outcome.done.wait(10)
        assert outcome.results == [] and isinstance(outcome.errors[0], DeliveryError)


def test_without_a_callback_the_call_is_synchronous() -> None:
    server = EngineServer(parity_artifact())
    with TargetClient.create(options(server)) as client:
        outcome = Outcome()
        # Adobe sends asynchronously only when a callback is given (async_req=bool(callback)).
        result = client.get_offers(
            {"request": offers_request("hero"), "err_callback": outcome.err_callback}
        )
        assert isinstance(result, dict) and contents(result)["hero"]
        assert not outcome.done.is_set()
        with pytest.raises(TypeError, match="callback must be callable"):
            client.get_offers({"request": offers_request("hero"), "callback": "not a function"})


def test_get_attributes_and_send_notifications_take_a_callback() -> None:
    server = EngineServer(parity_artifact())
    with TargetClient.create(options(server)) as client:
        outcome = Outcome()
        attributes = client.get_attributes(
            ["hero"], {"request": offers_request(), "callback": outcome.callback}
        ).get(10)
        assert isinstance(attributes, Attributes) and outcome.results == [attributes]
        sent = Outcome()
        notification = {
            "id": "n1",
            "type": "display",
            "timestamp": 1,
            "mbox": {"name": "hero"},
            "tokens": ["t"],
        }
        request = {"context": {"channel": "web"}, "notifications": [notification]}
        client.send_notifications({"request": request, "callback": sent.callback}).get(10)
        assert sent.results[0]["response"]["notifications"] == [{"id": "n1"}]


def test_a_failing_callback_is_logged_and_the_pool_keeps_working(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = EngineServer(parity_artifact())

    def broken(value: Any) -> None:
        raise RuntimeError("bug in the caller's callback")

    with TargetClient.create(options(server)) as client:
        first = client.get_offers({"request": offers_request("hero"), "callback": broken})
        assert contents(first.get(10))["hero"]
        outcome = Outcome()
        client.get_offers({"request": offers_request("hero"), "callback": outcome.callback})
        assert outcome.done.wait(10)
    assert any("the callback raised" in r.getMessage() for r in caplog.records)


def test_close_lets_background_calls_finish_and_call_back() -> None:
    release = threading.Event()
    server = EngineServer(parity_artifact())

    def slow(request: httpx.Request) -> httpx.Response:
        release.wait(10)
        return server(request)

    client = TargetClient.create(options(slow))
    outcome = Outcome()
    client.get_offers({"request": offers_request("hero"), "callback": outcome.callback})
    threading.Timer(0.2, release.set).start()
    client.close(timeout=10)
    assert outcome.done.is_set() and len(outcome.results) == 1
    with pytest.raises(RuntimeError, match="closed"):
        client.get_offers({"request": offers_request("hero"), "callback": outcome.callback})


@pytest.mark.anyio
async def test_async_client_returns_a_task_and_calls_back() -> None:
    server = EngineServer(parity_artifact())
    client = await AsyncTargetClient.create(options(server))
    outcome = Outcome()
    task = await client.get_offers(
        {"request": offers_request("hero"), "session_id": "s", "callback": outcome.callback}
    )
    assert isinstance(task, asyncio.Task)
    result = await task
    assert outcome.results == [result] and contents(result)["hero"]

    attributes = await (
        await client.get_attributes(
            ["hero"], {"request": offers_request(), "callback": outcome.callback}
        )
    )
    assert isinstance(attributes, Attributes) and outcome.results[-1] is attributes

    # A background call still running when the client closes is waited for.
    pending = await client.get_offers(
        {"request": offers_request("hero"), "callback": outcome.callback}
    )
    await client.aclose()
    assert pending.done() and len(outcome.results) == 3


@pytest.mark.anyio
async def test_async_err_callback() -> None:
    client = await AsyncTargetClient.create(options(failing, raise_on_error=True))
    outcome = Outcome()
    task = await client.get_offers(
        {
            "request": offers_request("hero"),
            "callback": outcome.callback,
            "err_callback": outcome.err_callback,
        }
    )
    with pytest.raises(DeliveryError):
        await task
    assert outcome.results == [] and isinstance(outcome.errors[0], DeliveryError)
    await client.aclose()
