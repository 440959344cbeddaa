"""`AsyncTargetClient`: the asyncio twin of `TargetClient`, for ASGI backends.

Same flows as `TargetClient` (`_core.py`), driven with `await transport.handle_async_request`;
the artifact poller and the notification sender are asyncio tasks on the loop that created the
client. `create` is a coroutine: `client = await AsyncTargetClient.create(options)`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from cible.sdk._attributes import Attributes, add_mboxes
from cible.sdk._config import Config
from cible.sdk._core import Core, make_call
from cible.sdk._flow import run_async
from cible.sdk._notifications import AsyncNotificationSender
from cible.sdk._transports import HTTPTransport
from cible.sdk.client import _stats

__all__ = ["AsyncTargetClient"]


class AsyncTargetClient:
    """Decide experiences from async code; see docs/sdk.md.

    >>> client = await AsyncTargetClient.create({  # doctest: +SKIP
    ...     "client": "acme", "organization_id": "ACME@AdobeOrg",
    ...     "server_domain": "cible.example:8080", "decisioning_method": "hybrid"})
    >>> result = await client.get_offers(request, target_cookie=cookie)  # doctest: +SKIP
    >>> await client.aclose()  # doctest: +SKIP
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.transport: Any = config.transport if config.transport is not None else HTTPTransport()
        self._core = _AsyncCore(config, self)
        self._closed = False
        self._poller: asyncio.Task[None] | None = None
        self._sender = AsyncNotificationSender(
            config, self._core.queue, lambda: self.transport, self._core.endpoint
        )

    @classmethod
    async def create(cls, options: Mapping[str, Any]) -> AsyncTargetClient:
        """Build a client; as `TargetClient.create`, awaiting the first artifact download."""
        client = cls(Config.from_options(options))
        config = client.config
        if config.needs_artifact:
            if client._core.artifact.current is None:
                wait = config.maximum_wait_ready or config.timeout
                await run_async(client._core.artifact.fetch(wait), client.transport)
            if config.polling_interval > 0 and (
                config.artifact_location or config.server_domain or config.cdn_base_path
            ):
                client._poller = asyncio.get_running_loop().create_task(client._poll())
        else:
            config.emit("client_ready")
        client._sender.start()
        return client

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.config.polling_interval)
            try:
                await run_async(self._core.artifact.fetch(), self.transport)
            except Exception:  # the poller must outlive any single failure
                self.config.logger.exception("cible.sdk: artifact poll failed")

    async def aclose(self, timeout: float | None = None) -> None:
        """Stop polling, flush queued notifications (at most `timeout` seconds), close."""
        if self._closed:
            return
        self._closed = True
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        await self._sender.close(timeout if timeout is not None else 10 * self.config.timeout)
        aclose = getattr(self.transport, "aclose", None)
        if callable(aclose):
            await aclose()

    async def __aenter__(self) -> AsyncTargetClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def get_offers(
        self,
        request: Any = None,
        *,
        visitor_cookie: str | None = None,
        target_cookie: str | None = None,
        target_location_hint: str | None = None,
        consumer_id: str | None = None,
        customer_ids: Sequence[Mapping[str, Any]] | None = None,
        session_id: str | None = None,
        decisioning_method: str | None = None,
        defaults: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """As `TargetClient.get_offers`."""
        call = make_call(request, locals())
        return await run_async(self._core.offers(call), self.transport)

    async def send_notifications(
        self,
        request: Any = None,
        *,
        visitor_cookie: str | None = None,
        target_cookie: str | None = None,
        target_location_hint: str | None = None,
        consumer_id: str | None = None,
        customer_ids: Sequence[Mapping[str, Any]] | None = None,
        session_id: str | None = None,
    ) -> dict[str, Any]:
        """As `TargetClient.send_notifications`."""
        call = make_call(request, locals())
        return await run_async(self._core.notifications(call), self.transport)

    async def get_attributes(
        self,
        mbox_names: Sequence[str],
        request: Any = None,
        *,
        visitor_cookie: str | None = None,
        target_cookie: str | None = None,
        target_location_hint: str | None = None,
        consumer_id: str | None = None,
        customer_ids: Sequence[Mapping[str, Any]] | None = None,
        session_id: str | None = None,
        decisioning_method: str | None = None,
        defaults: Mapping[str, Any] | None = None,
    ) -> Attributes:
        """As `TargetClient.get_attributes`."""
        arguments = {k: v for k, v in locals().items() if k not in ("self", "mbox_names")}
        call = make_call(arguments.pop("request"), arguments)
        call.request = add_mboxes(call.request, mbox_names)
        return Attributes(await run_async(self._core.offers(call), self.transport))

    async def refresh_artifact(self) -> bool:
        """Download the artifact now (as the poller would); True when one is in place."""
        return await run_async(self._core.artifact.fetch(), self.transport)

    async def flush_notifications(self) -> None:
        """Send every queued notification now."""
        await self._sender.flush()

    @property
    def stats(self) -> dict[str, Any]:
        """As `TargetClient.stats`."""
        return _stats(self._core)


class _AsyncCore(Core):
    def __init__(self, config: Config, owner: AsyncTargetClient) -> None:
        super().__init__(config)
        self._owner = owner

    def wake_sender(self) -> None:
        self._owner._sender.wake()
