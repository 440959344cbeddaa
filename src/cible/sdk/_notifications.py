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
- every notification gets its `id` (a uuid4) when queued, and keeps it across retries, so a
  server that dedupes notification ids counts a re-sent notification once;
- closing the client flushes the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cible.sdk._config import Config
from cible.sdk._delivery import delivery_request
from cible.sdk._flow import Flow, Sleep, run_async, run_sync

__all__ = [
    "AsyncNotificationSender",
    "NotificationQueue",
    "NotificationSender",
    "NotificationStats",
    "Pending",
    "batches",
    "deliver",
]

MAX_PER_REQUEST = 50  # Adobe: "recommended ≤ 50 notifications per request"
_RETRIED_STATUSES = frozenset({408, 425, 429})


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
                notification["id"] = uuid.uuid4().hex
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
                "requestId": uuid.uuid4().hex,
                "id": group[0].ids,
                "context": group[0].context,
                "notifications": notifications[start : start + MAX_PER_REQUEST],
            }
            if token:
                body["property"] = {"token": token}
            requests.append((session_id, body))
    return requests


def deliver(
    config: Config, session_id: str, body: dict[str, Any], stats: NotificationStats
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
                stats.add("sent", count)
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
        self, config: Config, queue: NotificationQueue, transport: Callable[[], Any]
    ) -> None:
        self.config = config
        self.queue = queue
        self.transport = transport
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        self._wake, self._closing = threading.Event(), threading.Event()
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
        while len(self.queue):
            requests = batches(self.queue.take(self.config.notification_batch_size))
            pool = self._pool
            if pool is None or len(requests) == 1:
                for request in requests:
                    self._send(request)
            else:
                try:
                    list(pool.map(self._send, requests))
                except RuntimeError:  # the pool shut down (closing): finish here
                    for request in requests:
                        self._send(request)

    def _send(self, request: tuple[str, dict[str, Any]]) -> None:
        session_id, body = request
        try:
            run_sync(deliver(self.config, session_id, body, self.queue.stats), self.transport())
        except Exception:  # a broken transport must not kill the sender
            self.config.logger.exception("cible.sdk: notification sender failed")

    def close(self, timeout: float) -> None:
        thread = self._thread
        self._closing.set()
        self._wake.set()
        if thread is not None:
            thread.join(timeout)
        self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None


class AsyncNotificationSender:
    """The asyncio task of `AsyncTargetClient` that empties a `NotificationQueue`."""

    def __init__(
        self, config: Config, queue: NotificationQueue, transport: Callable[[], Any]
    ) -> None:
        self.config = config
        self.queue = queue
        self.transport = transport
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
            requests = batches(self.queue.take(self.config.notification_batch_size))
            await asyncio.gather(*(self._send(limit, request) for request in requests))

    async def _send(self, limit: asyncio.Semaphore, request: tuple[str, dict[str, Any]]) -> None:
        session_id, body = request
        async with limit:
            try:
                await run_async(
                    deliver(self.config, session_id, body, self.queue.stats), self.transport()
                )
            except Exception:  # a broken transport must not kill the sender
                self.config.logger.exception("cible.sdk: notification sender failed")

    async def close(self, timeout: float) -> None:
        self._closing = True
        self.wake()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(task, timeout)
            except TimeoutError:
                self.config.logger.warning("cible.sdk: notification flush timed out on close")
