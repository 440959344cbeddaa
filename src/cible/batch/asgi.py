"""The dispatcher the server uses: each operation is a request to the app itself, in-process.

Going through the ASGI app, rather than calling services, is what makes an operation behave
exactly like the same call made directly (Adobe: "the usual throttling policies are applied ...
as if each operation had been made individually"): middleware, routing, authentication,
throttling, versioning and validation all apply, and each operation gets its own request id.
httpx's ASGI transport is the client (the same one the tests use), so no socket is opened.

The batch route has already taken one throttle token per operation from the caller's bucket
(all or nothing, before anything ran); it passes the scope entries that say so
(``cible.web.throttle.PREPAID_SCOPE_KEY``) as ``scope_extra``, and each operation's ASGI scope
carries them, so the same call is not charged twice.

>>> async with AsgiDispatcher(request.app) as dispatcher:  # doctest: +SKIP
...     reply = await dispatcher.send("GET", "/acme/target/offers", headers, None)
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import httpx

from cible.batch.run import Reply

# Not a real host: requests never leave the process.
BASE_URL = "http://batch.cible.internal"


class AsgiDispatcher:
    """Sends batch operations to ``app`` through httpx's in-process ASGI transport."""

    def __init__(self, app: Any, scope_extra: dict[str, Any] | None = None) -> None:
        async def marked(scope: Any, receive: Any, send: Any) -> None:
            await app({**scope, **(scope_extra or {})}, receive, send)

        # An exception escaping the app becomes a 500 reply for that operation alone.
        transport = httpx.ASGITransport(
            app=marked if scope_extra else app, raise_app_exceptions=False
        )
        self._client = httpx.AsyncClient(transport=transport, base_url=BASE_URL)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.aclose()

    async def send(
        self, method: str, url: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> Reply:
        response = await self._client.request(method, url, headers=headers, content=body)
        return Reply(response.status_code, list(response.headers.multi_items()), response.content)
