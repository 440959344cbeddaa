"""Display notifications of on-device decisions, sent in the background, at least once.

An executed on-device decision must still be counted by the server, so the engine returns one
display notification per executed mbox (Adobe's `notification_provider.py` does the same) and
the client queues it here instead of calling the server while deciding:

- the queue is bounded (`notification_queue_size` notifications): when full, new notifications
  are dropped and counted (`stats.dropped`) and a warning is logged (the first drop, then one
  line per thousand); a decision never waits;
- a sender (a thread for `TargetClient`, an asyncio task for `AsyncTargetClient`) wakes every
  `notification_flush_interval` seconds, or as soon as `notification_batch_size` notifications
  are waiting, and posts them to `/rest/v1/delivery`. The delivery API takes one visitor per
  request, so a batch becomes one request per (session, visitor), at most 50 notifications each
  (Adobe's recommended maximum), sent `notification_concurrency` at a time;
- a failed post (transport error, timeout, 408, 429, 5xx) is retried `notification_retries`
  times with exponential backoff (`notification_backoff` * 2^attempt seconds); other 4xx
  answers are not retried;
- every notification gets its `id` (32 random hex digits) when queued, and keeps it across
  retries, so a server that dedupes notification ids counts a re-sent notification once;
- closing the client flushes the queue and stops the sender. A flush that has not ended when
  the close's `timeout` runs out is abandoned: retries stop, notifications still queued (or
  waiting for a retry) are dropped and counted in `stats.dropped`, and a request already in
  flight ends at its own timeout (or when the transport closes), after which the thread exits.

Where they go (option `notification_endpoint`, docs/sdk.md): `"single"` posts Adobe's
one-visitor `/rest/v1/delivery` requests above; `"batch"` posts Cible's
`/rest/v1/notifications`, up to `BATCH_MAX_ITEMS` notifications of any visitors per request
(each carrying its visitor's `visitorId` and `sessionId`), within `BATCH_MAX_BYTES`;
`"auto"` (the default) starts single and switches to batch once a 2xx delivery response carries
`X-Cible-Notifications: batch` (Cible's delivery API sends it, Adobe's edge does not), and back
to single if the batch endpoint answers 404 or 405. Per-notification results are counted in
`stats.accepted` and `stats.rejected`; a response with rejections is logged once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from cible.sdk._config import Config
from cible.sdk._delivery import delivery_request, notifications_request
from cible.sdk._flow import Flow, Sleep, run_async, run_sync
from cible.sdk._random import random_id

__all__ = [
    "BATCH_MAX_BYTES",
    "BATCH_MAX_ITEMS",
    "AsyncNotificationSender",
    "Batch",
    "Endpoint",
    "NotificationQueue",
    "NotificationSender",
    "NotificationStats",
    "Pending",
    "batch_bodies",
    "batches",
    "deliver",
    "post_batch",
]

MAX_PER_REQUEST = 50  # Adobe: "recommended ≤ 50 notifications per request"
_RETRIED_STATUSES = frozenset({408, 425, 429})
BATCH_MAX_ITEMS = 1000  # the batch endpoint's limit (docs/delivery.md)
# Under the server's default body limit (CIBLE_MAX_BODY_BYTES, 1 MiB); a server configured
# lower answers 413, and the batch is split in two and sent again.
BATCH_MAX_BYTES = 1_000_000
CAPABILITY_HEADER = "X-Cible-Notifications"
SENT, FAILED, SPLIT, FALLBACK = "sent", "failed", "split", "fallback"


class _Abandoned(Exception):
    """Raised in place of a retry's sleep once a closing client stops waiting for the flush."""


@dataclass(slots=True)
class Pending:
    """Notifications of one decision, with what the delivery API needs to attribute them."""

    session_id: str
    ids: dict[str, Any]
    context: dict[str, Any]
    notifications: list[dict[str, Any]]
    property_token: str | None = None


@dataclass(slots=True)
class NotificationStats:
    queued: int = 0
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    dropped: int = 0
    failed: int = 0
    retries: int = 0
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, count: int = 1) -> None:
        """Count under a lock: several sender threads update the same counters."""
        with self.lock:
            setattr(self, name, getattr(self, name) + count)


@dataclass(slots=True)
class NotificationQueue:
    """A bounded FIFO of `Pending`, counted in notifications; safe across threads."""

    size: int
    stats: NotificationStats = field(default_factory=NotificationStats)
    _items: deque[Pending] = field(default_factory=deque)
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __len__(self) -> int:
        return self._count

    def put(self, pending: Pending) -> bool:
        """Queue `pending`, giving each notification a stable id; False when the queue is full."""
        count = len(pending.notifications)
        with self._lock:
            if self._count + count > self.size:
                self.stats.add("dropped", count)
                return False
            for notification in pending.notifications:
                notification["id"] = random_id()
                # notificationProvider.js: every display notification has its own impressionId;
                # set once here, a retried send keeps it and the server counts it once.
                if "impressionId" not in notification:
                    notification["impressionId"] = random_id()
            self._items.append(pending)
            self._count += count
            self.stats.add("queued", count)
            return True

    def take(self, limit: int) -> list[Pending]:
        """Up to about `limit` notifications, oldest first (whole decisions, at least one)."""
        taken: list[Pending] = []
        with self._lock:
            total = 0
            while self._items and (not taken or total + len(self._items[0].notifications) <= limit):
                pending = self._items.popleft()
                total += len(pending.notifications)
                taken.append(pending)
            self._count -= total
        return taken

    def drop_all(self) -> int:
        """Empty the queue, counting its notifications as dropped; how many there were."""
        with self._lock:
            count = self._count
            self._items.clear()
            self._count = 0
        if count:
            self.stats.add("dropped", count)
        return count

    def after_fork(self) -> None:
        """In a forked child: forget the parent's queue (the parent sends it) and its lock."""
        self._lock = threading.Lock()
        self.stats.lock = threading.Lock()
        self._items = deque()
        self._count = 0


def batches(items: list[Pending]) -> list[tuple[str, dict[str, Any]]]:
    """Group pending notifications into delivery requests: one visitor and session each."""
    groups: dict[tuple[str, str, str | None], list[Pending]] = {}
    for pending in items:
        key = (pending.session_id, json.dumps(pending.ids, sort_keys=True), pending.property_token)
        groups.setdefault(key, []).append(pending)
    requests: list[tuple[str, dict[str, Any]]] = []
    for (session_id, _, token), group in groups.items():
        notifications = [n for pending in group for n in pending.notifications]
        for start in range(0, len(notifications), MAX_PER_REQUEST):
            body: dict[str, Any] = {
                "requestId": random_id(),
                "id": group[0].ids,
                "context": group[0].context,
                "notifications": notifications[start : start + MAX_PER_REQUEST],
            }
            if token:
                body["property"] = {"token": token}
            requests.append((session_id, body))
    return requests


class Endpoint:
    """Where the sender posts: the `notification_endpoint` option, and what responses said.

    >>> endpoint = Endpoint("auto")
    >>> endpoint.batch
    False
    >>> endpoint.observe(httpx.Response(200, headers={CAPABILITY_HEADER: "batch"}))
    >>> endpoint.batch
    True
    """

    def __init__(self, option: str) -> None:
        self.option = option
        self._supported = False
        self._refused = False

    @property
    def batch(self) -> bool:
        return self.option == "batch" or (self.option == "auto" and self._supported)

    def observe(self, response: httpx.Response) -> None:
        """Learn from a 2xx response of the server (delivery or batch endpoint) in "auto"."""
        if self.option != "auto" or self._refused or not 200 <= response.status_code < 300:
            return
        self._supported = response.headers.get(CAPABILITY_HEADER, "").lower() == "batch"

    def unsupported(self) -> None:
        """The batch endpoint is missing (404/405) although the header said otherwise (a proxy
        in between, say): "auto" sends single requests for the rest of the client's life."""
        if self.option == "auto":
            self._supported, self._refused = False, True


@dataclass(slots=True)
class Batch:
    """One batch request: its notifications (with their decision) and their encoded items."""

    entries: list[tuple[Pending, dict[str, Any]]]
    parts: list[bytes]

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def content(self) -> bytes:
        return b'{"notifications":[' + b",".join(self.parts) + b"]}"

    def halves(self) -> tuple[Batch, Batch]:
        half = len(self.entries) // 2
        return (
            Batch(self.entries[:half], self.parts[:half]),
            Batch(self.entries[half:], self.parts[half:]),
        )

    def pending(self) -> list[Pending]:
        """Its notifications regrouped by decision, to be sent as single requests instead."""
        grouped: dict[int, Pending] = {}
        for pending, notification in self.entries:
            group = grouped.get(id(pending))
            if group is None:
                group = grouped[id(pending)] = Pending(
                    pending.session_id,
                    pending.ids,
                    pending.context,
                    [],
                    pending.property_token,
                )
            group.notifications.append(notification)
        return list(grouped.values())


def batch_bodies(
    items: list[Pending], max_items: int = BATCH_MAX_ITEMS, max_bytes: int = BATCH_MAX_BYTES
) -> list[Batch]:
    """Pending notifications as batch requests of at most `max_items` and about `max_bytes`."""
    bodies: list[Batch] = []
    current = Batch([], [])
    size = 0
    for pending in items:
        extra: dict[str, Any] = {"visitorId": pending.ids, "sessionId": pending.session_id}
        if pending.property_token:
            extra["property"] = {"token": pending.property_token}
        for notification in pending.notifications:
            part = json.dumps({**notification, **extra}, separators=(",", ":")).encode()
            if current.entries and (
                len(current) >= max_items or size + len(part) + 1 > max_bytes - 20
            ):
                bodies.append(current)
                current, size = Batch([], []), 0
            current.entries.append((pending, notification))
            current.parts.append(part)
            size += len(part) + 1
    if current.entries:
        bodies.append(current)
    return bodies


def post_batch(
    config: Config, batch: Batch, stats: NotificationStats, endpoint: Endpoint
) -> Flow[str]:
    """Post one batch, retrying as `deliver` does; `SENT`, `FAILED`, `SPLIT` (413: send it
    again in two halves) or `FALLBACK` (no batch endpoint: send it as single requests)."""
    count = len(batch)
    content = batch.content
    for attempt in range(config.notification_retries + 1):
        if attempt:
            stats.add("retries")
            yield Sleep(config.notification_backoff * 2 ** (attempt - 1))
        stats.add("requests")
        try:
            response = yield notifications_request(config, content)
        except Exception as error:
            problem = repr(error)
        else:
            assert response is not None
            status = response.status_code
            if 200 <= status < 300:
                endpoint.observe(response)
                stats.add("sent", count)
                _count_results(config, stats, count, _batch_rejections(response))
                return SENT
            if status == 413 and count > 1:
                return SPLIT
            if status in (404, 405) and endpoint.option == "auto":
                endpoint.unsupported()
                return FALLBACK
            problem = f"HTTP {status}"
            if status < 500 and status not in _RETRIED_STATUSES:
                break
    stats.add("failed", count)
    config.logger.warning("cible.sdk: %d notification(s) not delivered (%s)", count, problem)
    return FAILED


def _batch_rejections(response: httpx.Response) -> list[tuple[Any, Any]]:
    try:
        results = json.loads(response.content).get("results")
    except (ValueError, AttributeError):
        return []
    if not isinstance(results, list):
        return []
    return [
        (r.get("id"), r.get("message"))
        for r in results
        if isinstance(r, dict) and r.get("status") != 200
    ]


def _delivery_rejections(response: httpx.Response) -> list[tuple[Any, Any]]:
    # Cible's delivery API lists refused notifications under the non-Adobe key `cible`
    # (docs/delivery.md, Response); Adobe's edge sends no such list.
    try:
        extra = json.loads(response.content).get("cible") or {}
        rejected = extra.get("rejectedNotifications") or []
    except (ValueError, AttributeError):
        return []
    if not isinstance(rejected, list):
        return []
    return [(r.get("id"), r.get("message")) for r in rejected if isinstance(r, dict)]


def _count_results(
    config: Config, stats: NotificationStats, count: int, rejected: list[tuple[Any, Any]]
) -> None:
    stats.add("accepted", count - len(rejected))
    if not rejected:
        return
    stats.add("rejected", len(rejected))
    nid, message = rejected[0]
    config.logger.warning(
        "cible.sdk: the server rejected %d of %d notification(s) (first: %s: %s)",
        len(rejected),
        count,
        nid,
        message,
    )


def deliver(
    config: Config,
    session_id: str,
    body: dict[str, Any],
    stats: NotificationStats,
    endpoint: Endpoint | None = None,
) -> Flow[bool]:
    """Post one notification request, retrying with exponential backoff; True once accepted."""
    count = len(body["notifications"])
    for attempt in range(config.notification_retries + 1):
        if attempt:
            stats.add("retries")
            yield Sleep(config.notification_backoff * 2 ** (attempt - 1))
        stats.add("requests")
        try:
            response = yield delivery_request(config, session_id, body)
        except Exception as error:
            problem = repr(error)
        else:
            assert response is not None
            status = response.status_code
            if 200 <= status < 300:
                if endpoint is not None:
                    endpoint.observe(response)
                stats.add("sent", count)
                _count_results(config, stats, count, _delivery_rejections(response))
                return True
            problem = f"HTTP {status}"
            if status < 500 and status not in _RETRIED_STATUSES:
                break
    stats.add("failed", count)
    config.logger.warning("cible.sdk: %d notification(s) not delivered (%s)", count, problem)
    return False


class NotificationSender:
    """The background thread of `TargetClient` that empties a `NotificationQueue`."""

    def __init__(
        self,
        config: Config,
        queue: NotificationQueue,
        transport: Callable[[], Any],
        endpoint: Endpoint | None = None,
    ) -> None:
        self.config = config
        self.queue = queue
        self.transport = transport
        self.endpoint = endpoint or Endpoint(config.notification_endpoint)
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._abandon = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    @property
    def thread(self) -> threading.Thread | None:
        """The sender thread while it runs (None before `start` and after `close`)."""
        return self._thread

    def start(self) -> None:
        self._wake, self._closing = threading.Event(), threading.Event()
        self._abandon = threading.Event()
        if self.config.notification_concurrency > 1:
            self._pool = ThreadPoolExecutor(
                self.config.notification_concurrency, thread_name_prefix="cible-sdk-send"
            )
        self._thread = threading.Thread(
            target=self._run, name="cible-sdk-notifications", daemon=True
        )
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._closing.is_set():
            self._wake.wait(self.config.notification_flush_interval)
            self._wake.clear()
            self.flush()
        self.flush()

    def flush(self) -> None:
        while len(self.queue) and not self._abandon.is_set():
            if self.endpoint.batch:
                limit = BATCH_MAX_ITEMS * max(1, self.config.notification_concurrency)
                self._all(self._send_batch, batch_bodies(self.queue.take(limit)))
            else:
                taken = self.queue.take(self.config.notification_batch_size)
                self._all(self._send, batches(taken))

    def _all(self, send: Callable[[Any], None], jobs: list[Any]) -> None:
        pool = self._pool
        if pool is None or len(jobs) == 1:
            for job in jobs:
                send(job)
            return
        try:
            list(pool.map(send, jobs))
        except RuntimeError:  # the pool shut down (closing): finish here
            for job in jobs:
                send(job)

    def _pause(self, seconds: float) -> None:
        # A retry's backoff, cut short when a closing client stops waiting for the flush.
        if self._abandon.wait(seconds):
            raise _Abandoned

    def _send(self, request: tuple[str, dict[str, Any]]) -> None:
        session_id, body = request
        if self._abandon.is_set():  # taken before the close gave up: not sent, counted
            self.queue.stats.add("dropped", len(body["notifications"]))
            return
        flow = deliver(self.config, session_id, body, self.queue.stats, self.endpoint)
        try:
            run_sync(flow, self.transport(), self._pause)
        except _Abandoned:
            self.queue.stats.add("dropped", len(body["notifications"]))
        except Exception:  # a broken transport must not kill the sender
            self.config.logger.exception("cible.sdk: notification sender failed")

    def _send_batch(self, batch: Batch) -> None:
        if self._abandon.is_set():
            self.queue.stats.add("dropped", len(batch))
            return
        flow = post_batch(self.config, batch, self.queue.stats, self.endpoint)
        try:
            outcome = run_sync(flow, self.transport(), self._pause)
        except _Abandoned:
            self.queue.stats.add("dropped", len(batch))
            return
        except Exception:  # a broken transport must not kill the sender
            self.config.logger.exception("cible.sdk: notification sender failed")
            return
        if outcome == SPLIT:
            for half in batch.halves():
                self._send_batch(half)
        elif outcome == FALLBACK:
            for request in batches(batch.pending()):
                self._send(request)

    def close(self, timeout: float) -> None:
        """Flush and stop the thread, waiting at most `timeout` seconds; then what is left is
        dropped and counted (see the module docstring)."""
        thread = self._thread
        self._closing.set()
        self._wake.set()
        if thread is not None:
            thread.join(timeout)
        self._abandon.set()
        dropped = self.queue.drop_all()
        if dropped or (thread is not None and thread.is_alive()):
            self.config.logger.warning(
                "cible.sdk: closing before every notification was sent; %d dropped", dropped
            )
        self._thread = None
        if self._pool is not None:
            # Jobs still queued in the pool run and, seeing the close abandoned, count their
            # notifications as dropped; cancelling them would lose that count and raise
            # CancelledError in the sender thread.
            self._pool.shutdown(wait=False)
            self._pool = None


class AsyncNotificationSender:
    """The asyncio task of `AsyncTargetClient` that empties a `NotificationQueue`."""

    def __init__(
        self,
        config: Config,
        queue: NotificationQueue,
        transport: Callable[[], Any],
        endpoint: Endpoint | None = None,
    ) -> None:
        self.config = config
        self.queue = queue
        self.transport = transport
        self.endpoint = endpoint or Endpoint(config.notification_endpoint)
        self._wake: asyncio.Event | None = None
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._wake = asyncio.Event()
        self._closing = False
        self._task = asyncio.get_running_loop().create_task(self._run())

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.notification_flush_interval)
            self._wake.clear()
            await self.flush()
        await self.flush()

    async def flush(self) -> None:
        limit = asyncio.Semaphore(max(1, self.config.notification_concurrency))
        while len(self.queue):
            if self.endpoint.batch:
                taken = self.queue.take(
                    BATCH_MAX_ITEMS * max(1, self.config.notification_concurrency)
                )
                jobs = [self._send_batch(limit, batch) for batch in batch_bodies(taken)]
            else:
                taken = self.queue.take(self.config.notification_batch_size)
                jobs = [self._send(limit, request) for request in batches(taken)]
            await asyncio.gather(*jobs)

    async def _send(self, limit: asyncio.Semaphore, request: tuple[str, dict[str, Any]]) -> None:
        session_id, body = request
        flow = deliver(self.config, session_id, body, self.queue.stats, self.endpoint)
        try:
            async with limit:
                await run_async(flow, self.transport())
        except asyncio.CancelledError:
            # A close that ran out of time: these were taken from the queue, count them.
            self.queue.stats.add("dropped", len(body["notifications"]))
            raise
        except Exception:  # a broken transport must not kill the sender
            self.config.logger.exception("cible.sdk: notification sender failed")

    async def _send_batch(self, limit: asyncio.Semaphore, batch: Batch) -> None:
        flow = post_batch(self.config, batch, self.queue.stats, self.endpoint)
        async with limit:
            try:
                outcome = await run_async(flow, self.transport())
            except asyncio.CancelledError:
                self.queue.stats.add("dropped", len(batch))
                raise
            except Exception:  # a broken transport must not kill the sender
                self.config.logger.exception("cible.sdk: notification sender failed")
                return
        if outcome == SPLIT:
            for half in batch.halves():
                await self._send_batch(limit, half)
        elif outcome == FALLBACK:
            await asyncio.gather(*(self._send(limit, r) for r in batches(batch.pending())))

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The sender task while it runs (None before `start` and after `close`)."""
        return self._task

    async def close(self, timeout: float) -> None:
        """Flush and stop the task, waiting at most `timeout` seconds; past it the task is
        cancelled and what it had not sent is dropped and counted."""
        self._closing = True
        self.wake()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(task, timeout)
            except TimeoutError:
                self.config.logger.warning("cible.sdk: notification flush timed out on close")
        dropped = self.queue.drop_all()
        if dropped:
            self.config.logger.warning(
                "cible.sdk: closing before every notification was sent; %d dropped", dropped
            )
