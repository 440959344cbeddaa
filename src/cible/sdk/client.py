"""`TargetClient`: Cible's synchronous SDK client, a drop-in for Adobe's `TargetClient`.

The network steps live in `_core.py` as flows; this class drives them with a synchronous
transport and owns two daemon threads: the artifact poller (on-device and hybrid, every
`polling_interval` seconds, 0 disables) and the notification sender, plus a pool for calls given
Adobe's `callback` option (`_callbacks.py`). They are restarted in a forked child on its first
call (threads do not survive `fork()`), and every lock is replaced there, so a client created
before a pre-fork server forks keeps working in each worker.

An on-device or hybrid client without `target_location_hint` makes Adobe's startup location
hint call when created (`Core.location_hint_flow`), before it downloads the artifact.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.pool import AsyncResult
from types import TracebackType
from typing import Any, TypeVar

from cible.sdk._attributes import Attributes, add_mboxes
from cible.sdk._callbacks import CallbackPool
from cible.sdk._config import Config
from cible.sdk._core import Call, Core, make_call
from cible.sdk._flow import run_sync
from cible.sdk._notifications import NotificationSender
from cible.sdk._transports import HTTPTransport

__all__ = ["TargetClient"]

T = TypeVar("T")

# The current process id, kept by a fork hook: `os.getpid()` is a system call, and every
# get_offers checks whether it runs in a forked child.
_process = [os.getpid()]


def _after_fork() -> None:
    _process[0] = os.getpid()


os.register_at_fork(after_in_child=_after_fork)


class TargetClient:
    """Decide experiences server-side, on-device or both; see docs/sdk.md.

    >>> client = TargetClient.create({  # doctest: +SKIP
    ...     "client": "acme", "organization_id": "ACME@AdobeOrg",
    ...     "server_domain": "cible.example:8080", "decisioning_method": "on-device"})
    >>> result = client.get_offers(  # doctest: +SKIP
    ...     {"context": {"channel": "web"}, "execute": {"mboxes": [{"name": "hero", "index": 0}]}},
    ...     target_cookie=request.cookies.get("mbox"))
    >>> result["response"]["execute"]["mboxes"][0]["options"]  # doctest: +SKIP
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.transport: Any = config.transport if config.transport is not None else HTTPTransport()
        self._core = _SyncCore(config, self)
        self._pid = _process[0]
        self._lock = threading.Lock()
        self._closed = False
        self._poll_stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._sender = NotificationSender(
            config, self._core.queue, lambda: self.transport, self._core.endpoint
        )
        self._callbacks = CallbackPool(config.callback_threads, config.logger)

    @classmethod
    def create(cls, options: Mapping[str, Any]) -> TargetClient:
        """Build a client from Adobe's options (plus Cible's); on-device and hybrid clients
        download the artifact before returning (waiting at most `maximum_wait_ready`, else
        `timeout`), unless `artifact_payload` is given. A failed download fires
        `artifact_download_failed` and the poller keeps trying."""
        client = cls(Config.from_options(options))
        client._start(first_download=True)
        return client

    # -- lifecycle ------------------------------------------------------------------------------

    def _start(self, *, first_download: bool) -> None:
        config = self.config
        if config.needs_artifact:
            if first_download:
                run_sync(self._core.location_hint_flow(), self.transport)
            if first_download and self._core.artifact.current is None:
                wait = config.maximum_wait_ready or config.timeout
                run_sync(self._core.artifact.fetch(wait), self.transport)
            if config.polling_interval > 0 and (
                config.artifact_location or config.server_domain or config.cdn_base_path
            ):
                self._poll_stop = threading.Event()
                self._poller = threading.Thread(
                    target=self._poll, name="cible-sdk-artifact", daemon=True
                )
                self._poller.start()
        elif first_download:
            config.emit("client_ready")
        self._sender.start()

    def _poll(self) -> None:
        stop = self._poll_stop
        while not stop.wait(self.config.polling_interval):
            try:
                run_sync(self._core.artifact.fetch(), self.transport)
            except Exception:  # the poller must outlive any single failure
                self.config.logger.exception("cible.sdk: artifact poll failed")

    def _check_fork(self) -> None:
        if self._pid == _process[0]:
            return
        # A forked child: the parent's threads are gone and its locks may be held forever.
        self._pid = _process[0]
        self._lock = threading.Lock()
        self._core.cache.reset_lock()
        self._core.queue.after_fork()
        self._callbacks.after_fork()
        self._sender = NotificationSender(
            self.config, self._core.queue, lambda: self.transport, self._core.endpoint
        )
        if not self._closed:
            self._start(first_download=False)

    def close(self, timeout: float | None = None) -> None:
        """Stop polling, let calls given a `callback` finish, flush queued notifications and
        stop the sender thread, then close the transport. Each wait lasts at most `timeout`
        seconds (default ten times the request timeout); notifications still queued when the
        flush runs out of time are dropped and counted in `stats["notifications"]["dropped"]`."""
        self._check_fork()
        if self._closed:
            return
        self._closed = True
        self._poll_stop.set()
        wait = timeout if timeout is not None else 10 * self.config.timeout
        self._callbacks.close(wait)
        self._sender.close(wait)
        if self._poller is not None:
            self._poller.join(wait)
        close = getattr(self.transport, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> TargetClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- Adobe's API ----------------------------------------------------------------------------

    def get_offers(
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
        """Decide `request` (a delivery request dict, an Adobe `DeliveryRequest` model, or Adobe's
        whole options dict `{"request": ..., "session_id": ...}`); returns Adobe's result dict:
        `response`, `target_cookie`, `target_location_hint_cookie`, `response_tokens`, `meta`…

        With Adobe's `callback` option (in the options dict) the call runs in the background
        and a `multiprocessing.pool.AsyncResult` is returned at once; `callback(result)` gets
        the result dict, `err_callback(error)` what the call raised."""
        self._check_fork()
        if type(request) is dict and "request" not in request and decisioning_method is None:
            # The common call, a delivery request dict and keywords: what make_call would build.
            call = Call(
                dict(request),
                visitor_cookie,
                target_cookie,
                target_location_hint,
                consumer_id,
                customer_ids,
                session_id,
                None,
                defaults,
            )
        else:
            call = make_call(request, locals())
            if call.callback is not None:
                return self._background(
                    call, lambda: run_sync(self._core.offers(call), self.transport)
                )
        return run_sync(self._core.offers(call), self.transport)

    def send_notifications(
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
        """Send a request's `notifications` to the delivery API now (always server-side); with
        a `callback`, in the background as `get_offers`."""
        self._check_fork()
        call = make_call(request, locals())
        if call.callback is not None:
            return self._background(
                call, lambda: run_sync(self._core.notifications(call), self.transport)
            )
        return run_sync(self._core.notifications(call), self.transport)

    def get_attributes(
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
        """`get_offers` with `mbox_names` added to `execute.mboxes`; read the JSON offers with
        `get_value(mbox, key)` and `as_object(mbox)` of the `Attributes` returned (or handed to
        the `callback`, as `get_offers`)."""
        self._check_fork()
        arguments = {k: v for k, v in locals().items() if k not in ("self", "mbox_names")}
        call = make_call(arguments.pop("request"), arguments)
        call.request = add_mboxes(call.request, mbox_names)
        if call.callback is not None:
            return self._background(
                call, lambda: Attributes(run_sync(self._core.offers(call), self.transport))
            )
        return Attributes(run_sync(self._core.offers(call), self.transport))

    def _background(self, call: Call, run: Callable[[], T]) -> AsyncResult[T]:
        return self._callbacks.submit(run, call.callback, call.err_callback)

    # -- Cible additions ------------------------------------------------------------------------

    def refresh_artifact(self) -> bool:
        """Download the artifact now (as the poller would); True when one is in place."""
        self._check_fork()
        return run_sync(self._core.artifact.fetch(), self.transport)

    def flush_notifications(self) -> None:
        """Send every queued notification now, in the calling thread."""
        self._check_fork()
        self._sender.flush()

    @property
    def stats(self) -> dict[str, Any]:
        """Counters: session cache hits/misses/evictions, notifications queued/sent/dropped."""
        return _stats(self._core)


class _SyncCore(Core):
    def __init__(self, config: Config, owner: TargetClient) -> None:
        super().__init__(config)
        self._owner = owner

    def wake_sender(self) -> None:
        self._owner._sender.wake()


def _stats(core: Core) -> dict[str, Any]:
    cache, queue = core.cache, core.queue
    loaded = core.artifact.current
    return {
        "artifact_generation": loaded.generation if loaded else 0,
        "cache": {
            "size": len(cache),
            "hits": cache.hits,
            "misses": cache.misses,
            "evictions": cache.evictions,
            "expirations": cache.expirations,
            "invalidations": cache.invalidations,
        },
        "notifications": {
            "pending": len(queue),
            "queued": queue.stats.queued,
            "sent": queue.stats.sent,
            "accepted": queue.stats.accepted,
            "rejected": queue.stats.rejected,
            "dropped": queue.stats.dropped,
            "failed": queue.stats.failed,
            "retries": queue.stats.retries,
            "requests": queue.stats.requests,
        },
    }
