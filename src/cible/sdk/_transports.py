"""Where the SDK's HTTP requests go: one method per transport, as in httpx's `_transports/`.

A transport turns an `httpx.Request` into an `httpx.Response` whose body is already read:
`handle_request` for `TargetClient`, `handle_async_request` for `AsyncTargetClient`. Every
transport here implements both, so one transport object serves either client.

- `HTTPTransport`: real HTTP through httpx. It remembers the process id that opened its
  connection pools and opens new ones in a forked child (sockets must not be shared across a
  fork), so a client created before a pre-fork server forks keeps working in the workers; its
  asynchronous pool is also reopened on another event loop (connections belong to one loop).
- `ASGITransport(app)`: calls an ASGI application in-process (Cible's `create_app(...)`), for
  tests and for embedding the delivery API in the same process. The synchronous side runs the
  app on a private event loop thread.
- `MockTransport(handler)`: `handler(request) -> httpx.Response` (or an awaitable of one).

Timeouts: the request carries `extensions["timeout"]` (httpx's format); `HTTPTransport` hands it
to httpx, the in-process transports wait at most the read timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

import httpx

__all__ = [
    "ASGITransport",
    "AsyncTransport",
    "HTTPTransport",
    "MockTransport",
    "Transport",
    "request_timeout",
]


@runtime_checkable
class Transport(Protocol):
    """Sends one request and returns its response, body read (used by `TargetClient`)."""

    def handle_request(self, request: httpx.Request) -> httpx.Response: ...


@runtime_checkable
class AsyncTransport(Protocol):
    """The `AsyncTargetClient` twin of `Transport`."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response: ...


def request_timeout(request: httpx.Request, fallback: float = 3.0) -> float:
    """The longest a transport may wait for `request` (httpx's timeout extension)."""
    timeout = request.extensions.get("timeout")
    if isinstance(timeout, dict):
        values = [v for v in timeout.values() if isinstance(v, int | float)]
        if values:
            return float(max(values))
    return fallback


class HTTPTransport:
    """HTTP over httpx connection pools, reopened after a fork.

    >>> transport = HTTPTransport()
    >>> client = TargetClient.create({..., "transport": transport})  # doctest: +SKIP
    """

    def __init__(self, **client_options: Any) -> None:
        self._options = client_options
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._client: httpx.Client | None = None
        self._async_client: httpx.AsyncClient | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None

    def _after_fork(self) -> None:
        # The parent's pools hold the parent's sockets: drop them without closing them.
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._client = None
        self._async_client = None
        self._async_loop = None

    def _sync_client(self) -> httpx.Client:
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(**self._options)
            return self._client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._sync_client().send(request)
        response.read()
        return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._pid != os.getpid():
            self._after_fork()
        loop = asyncio.get_running_loop()
        if self._async_client is None or self._async_loop is not loop:
            # First use, or a new loop (asyncio.run again, a forked worker's loop): the old
            # pool's connections belong to their loop and are left to it.
            self._async_client = httpx.AsyncClient(**self._options)
            self._async_loop = loop
        response = await self._async_client.send(request)
        await response.aread()
        return response

    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._pid == os.getpid():
                self._client.close()
            self._client = None

    async def aclose(self) -> None:
        if (
            self._async_client is not None
            and self._pid == os.getpid()
            and self._async_loop is asyncio.get_running_loop()
        ):
            await self._async_client.aclose()
        self._async_client = None
        self._async_loop = None
        self.close()


class ASGITransport:
    """Calls an ASGI app in-process; no socket is opened.

    >>> from cible.web.app import create_app  # doctest: +SKIP
    >>> transport = ASGITransport(create_app(settings))  # doctest: +SKIP
    """

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app
        self._inner = httpx.ASGITransport(app=app)
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await asyncio.wait_for(
            self._inner.handle_async_request(request), request_timeout(request)
        )
        content = await response.aread()  # decoded: drop the encoding it no longer has
        headers = [(k, v) for k, v in response.headers.multi_items() if k != "content-encoding"]
        return httpx.Response(
            response.status_code, headers=headers, content=content, request=request
        )

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._pid != os.getpid():
            self._pid, self._lock = os.getpid(), threading.Lock()
            self._loop = self._thread = None
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="cible-sdk-asgi", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        future = asyncio.run_coroutine_threadsafe(
            self.handle_async_request(request), self._running_loop()
        )
        try:
            return future.result(request_timeout(request) + 1.0)
        except TimeoutError:
            future.cancel()
            raise httpx.ReadTimeout(
                "the ASGI app did not answer in time", request=request
            ) from None

    def close(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None and self._pid == os.getpid():
            with contextlib.suppress(Exception):  # a stuck app must not block close()
                asyncio.run_coroutine_threadsafe(_cancel_pending(), loop).result(5)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            loop.close()

    async def aclose(self) -> None:
        self.close()


async def _cancel_pending() -> None:
    """Cancel the app calls still running on a closing loop, so none is destroyed pending."""
    current = asyncio.current_task()
    pending = [task for task in asyncio.all_tasks() if task is not current]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


class MockTransport:
    """Answers every request with `handler(request)`, which may also be a coroutine function.

    >>> transport = MockTransport(lambda request: httpx.Response(503))
    >>> transport.handle_request(httpx.Request("GET", "http://cible.test/")).status_code
    503
    """

    def __init__(self, handler: Callable[[httpx.Request], Any]) -> None:
        self.handler = handler

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        response = self.handler(request)
        if inspect.isawaitable(response):
            raise TypeError("an async MockTransport handler needs AsyncTargetClient")
        if not isinstance(response, httpx.Response):
            raise TypeError("a MockTransport handler returns an httpx.Response")
        response.read()
        return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        response = self.handler(request)
        if inspect.isawaitable(response):
            response = await asyncio.wait_for(response, request_timeout(request))
        if not isinstance(response, httpx.Response):
            raise TypeError("a MockTransport handler returns an httpx.Response")
        await response.aread()
        return response

    def close(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
