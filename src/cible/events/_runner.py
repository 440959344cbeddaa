"""A background thread that keeps every consumer applied, for ``cible serve`` and ``cible worker``.

It polls with one cheap read (the log's last offset against the stored offsets) every
``idle_seconds`` and runs at once again while a consumer has work, so the lag goes back to zero
within a poll interval of the load stopping (docs/events.md, "Consumers").

Given the process's :class:`GroupCommitter`, it applies each batch as a unit of the group commit
instead of in a transaction of its own. On SQLite that keeps one writer per process: a second
writer would make the committer wait for the write lock, and SQLite's busy handler sleeps up to
100 ms between retries (https://sqlite.org/c3ref/busy_timeout.html).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from sqlalchemy import Connection, Engine

from cible.events._committer import GroupCommitter
from cible.events._consumers import (
    Consumer,
    apply_next,
    as_engine,
    behind,
    chosen_consumers,
    step,
)
from cible.store import Database

log = logging.getLogger("cible.events")


class ConsumerRunner:
    """Applies the registered consumers (or ``consumers``) on a daemon thread.

    >>> runner = ConsumerRunner(database.engine)          # or committer=the process's one
    >>> runner.start()
    >>> runner.stop()            # waits for the batch in progress

    ``batch_size`` defaults to 5,000 records per transaction on PostgreSQL, and to 500 on
    SQLite or through a committer, where a batch delays the requests' writes. Stop the runner
    before closing the committer it uses.
    """

    def __init__(
        self,
        engine: Engine | Database,
        *,
        consumers: Iterable[Consumer] | None = None,
        committer: GroupCommitter | None = None,
        batch_size: int | None = None,
        idle_seconds: float = 0.05,
        error_backoff_seconds: float = 1.0,
    ) -> None:
        self._engine = as_engine(engine)
        self._given = None if consumers is None else list(consumers)
        self._committer = committer
        # On SQLite a consumer's transaction holds the database's only write lock, and through a
        # committer the requests' units queue behind it: short batches keep their wait short.
        short = committer is not None or self._engine.dialect.name == "sqlite"
        self.batch_size = batch_size or (500 if short else 5000)
        self.idle_seconds = idle_seconds
        self.error_backoff_seconds = error_backoff_seconds
        self.passes = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._retry_at: dict[str, float] = {}

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the consumer runner is already started")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, name="cible-event-consumers", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stops after the batch in progress and waits for the thread (at most ``timeout``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_pending(self) -> bool:
        """One pass over the consumers that are behind; whether any offset moved.

        A consumer whose ``apply`` raises is logged and left alone for
        ``error_backoff_seconds``; the others keep running.
        """
        chosen = chosen_consumers(self._given)
        moved = False
        for each in behind(self._engine, chosen):
            if self._stop.is_set():
                break
            if self._retry_at.get(each.name, 0.0) > time.monotonic():
                continue
            try:
                moved = self._step(each) or moved
            except Exception:
                if self._stop.is_set():
                    break  # shutting down: the committer may already be closed
                self.errors += 1
                self._retry_at[each.name] = time.monotonic() + self.error_backoff_seconds
                log.exception("event consumer %s failed; retrying", each.name)
        self.passes += 1
        return moved

    def _step(self, consumer: Consumer) -> bool:
        if self._committer is None:
            return step(self._engine, consumer, self.batch_size)[1]
        size = self.batch_size

        def unit(conn: Connection) -> bool:
            return apply_next(conn, consumer, size)[1]

        return self._committer.submit(unit).result()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                moved = self.run_pending()
            except Exception:
                # The database itself failed (the read of the offsets): wait, then retry.
                self.errors += 1
                log.exception("event consumer pass failed; retrying")
                self._stop.wait(self.error_backoff_seconds)
                continue
            if not moved:
                self._stop.wait(self.idle_seconds)
