"""The ``cible worker`` loop: run due jobs, sleep when there are none, stop on a signal."""

from __future__ import annotations

import logging
import signal
import threading

from cible.jobs.outbox import run_pending
from cible.store import Database

log = logging.getLogger("cible.jobs")


def run_forever(db: Database, poll_seconds: float, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    log.info("worker started", extra={"poll_seconds": poll_seconds})
    while not stop.is_set():
        if run_pending(db) == 0:
            stop.wait(poll_seconds)
    log.info("worker stopped")
