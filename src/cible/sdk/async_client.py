"""`AsyncTargetClient`: the asyncio twin of `TargetClient`, for ASGI backends.

Same flows as `TargetClient` (`_core.py`), driven with `await transport.handle_async_request`;
the artifact poller and the notification sender are asyncio tasks on the loop that created the
client. `create` is a coroutine: `client = await AsyncTargetClient.create(options)`.

Fork safety: a client created before a pre-fork server forks (or on a loop that has since
closed, such as one `asyncio.run`) is moved on its next call to the loop that calls it: in a
forked child it forgets the parent's queued notifications and locks, starts its own sender and
poller tasks, and `HTTPTransport` opens its own connection pool; the parent's loop, tasks and
sockets are never touched there.

Adobe's `callback` option: `await client.get_offers({"request": ..., "callback": f})` returns an
`asyncio.Task` at once (the asyncio form of the `AsyncResult` Adobe's SDK returns); `f(result)`
or `err_callback(error)` is called when it ends, and `aclose()` waits for such calls.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

from cible.sdk._attributes import Attributes, add_mboxes
from cible.sdk._config import Config
from cible.sdk._core import Call, Core, make_call
from cible.sdk._flow import run_async
from cible.sdk._notifications import AsyncNotificationSender
from cible.sdk._transports import HTTPTransport
from cible.sdk.client import _process, _stats

T = TypeVar("T")

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
        self._pid = _process[0]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._background: set[asyncio.Task[Any]] = set()

    @classmethod
    async def create(cls, options: Mapping[str, Any]) -> AsyncTargetClient:
        """Build a client; as `TargetClient.create`, awaiting the first artifact download."""
        client = cls(Config.from_options(options))
        config = client.config
        if config.needs_artifact:
            await run_async(client._core.location_hint_flow(), client.transport)
            if client._core.artifact.current is None:
                wait = config.maximum_wait_ready or config.timeout
                await run_async(client._core.artifact.fetch(wait), client.transport)
        else:
            config.emit("client_ready")
        client._start_tasks()
        return client

    def _start_tasks(self) -> None:
        config = self.config
        loop = asyncio.get_running_loop()
        self._loop = loop
        if (
            config.needs_artifact
            and config.polling_interval > 0
            and (config.artifact_location or config.server_domain or config.cdn_base_path)
        ):
            self._poller = loop.create_task(self._poll())
        self._sender.start()

    def _check_home(self) -> None:
        """Move to the calling loop after a fork, or when the client's loop has closed."""
        loop = self._loop
        if self._pid == _process[0] and loop is not None and not loop.is_closed():
            return
        if self._pid != _process[0]:
            # A forked child: the parent's tasks, loop and locks are not ours to use.
            self._pid = _process[0]
            self._core.cache.reset_lock()
            self._core.queue.after_fork()
            self._background = set()
        self._poller = None
        self._sender = AsyncNotificationSender(
            self.config, self._core.queue, lambda: self.transport, self._core.endpoint
        )
        if self._closed:
            self._loop = asyncio.get_running_loop()
        else:
            self._start_tasks()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.config.polling_interval)
            try:
                await run_async(self._core.artifact.fetch(), self.transport)
            except Exception:  # the poller must outlive any single failure
                self.config.logger.exception("cible.sdk: artifact poll failed")

    async def aclose(self, timeout: float | None = None) -> None:
        """Stop polling, let calls given a `callback` finish, flush queued notifications and
        stop the sender task (each at most `timeout` seconds, default ten times the request
        timeout; notifications left are dropped and counted), close the transport."""
        self._check_home()
        if self._closed:
            return
        self._closed = True
        wait = timeout if timeout is not None else 10 * self.config.timeout
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._background:
            _, late = await asyncio.wait(set(self._background), timeout=wait)
            for task in late:
                task.cancel()
        await self._sender.close(wait)
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
    ) -> Any:
        """As `TargetClient.get_offers`; with a `callback`, returns an `asyncio.Task`."""
        self._check_home()
        call = make_call(request, locals())
        if call.callback is not None:
            return self._in_background(call, run_async(self._core.offers(call), self.transport))
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
    ) -> Any:
        """As `TargetClient.send_notifications`; with a `callback`, returns an `asyncio.Task`."""
        self._check_home()
        call = make_call(request, locals())
        flow = run_async(self._core.notifications(call), self.transport)
        if call.callback is not None:
            return self._in_background(call, flow)
        return await flow

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
    ) -> Any:
        """As `TargetClient.get_attributes`; with a `callback`, returns an `asyncio.Task`."""
        self._check_home()
        arguments = {k: v for k, v in locals().items() if k not in ("self", "mbox_names")}
        call = make_call(arguments.pop("request"), arguments)
        call.request = add_mboxes(call.request, mbox_names)
        if call.callback is not None:
            return self._in_background(call, self._attributes(call))
        return await self._attributes(call)

    async def _attributes(self, call: Call) -> Attributes:
        return Attributes(await run_async(self._core.offers(call), self.transport))

    def _in_background(self, call: Call, work: Awaitable[T]) -> asyncio.Task[T]:
        """Run `work` as a task and hand its outcome to the call's callbacks; the client keeps
        the task (asyncio holds only weak references) until it ends."""
        callback, err_callback = call.callback, call.err_callback
        logger = self.config.logger

        async def run() -> T:
            try:
                result = await work
            except Exception as error:
                if err_callback is not None:
                    _call_back(err_callback, error, "err_callback", logger)
                else:
                    logger.warning("cible.sdk: a call with a callback failed: %r", error)
                raise
            _call_back(callback, result, "callback", logger)
            return result

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._settled)
        return task

    def _settled(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        # Its error went to err_callback (or the log): asyncio need not report it again.
        if not task.cancelled():
            task.exception()

    async def refresh_artifact(self) -> bool:
        """Download the artifact now (as the poller would); True when one is in place."""
        self._check_home()
        return await run_async(self._core.artifact.fetch(), self.transport)

    async def flush_notifications(self) -> None:
        """Send every queued notification now."""
        self._check_home()
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


def _call_back(function: Any, value: Any, name: str, logger: Any) -> None:
    try:
        function(value)
    except Exception:  # a failing callback must not turn a decided call into an error
        logger.exception("cible.sdk: the %s raised", name)
