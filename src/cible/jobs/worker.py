"""The worker loop: run due jobs, sleep when there are none, stop when told.

``cible worker`` runs it in the foreground; ``cible serve`` also runs one in a background thread
(``--no-worker`` to leave jobs to dedicated workers), so a single-process install rebuilds
artifacts and imports profiles without a second command.
"""

from __future__ import annotations

import logging
import threading

from cible.jobs.outbox import run_pending
from cible.store import Database

log = logging.getLogger("cible.jobs")


def run_forever(db: Database, poll_seconds: float, stop: threading.Event) -> None:
    log.info("worker started", extra={"poll_seconds": poll_seconds})
    while not stop.is_set():
        try:
            ran = run_pending(db)
        except Exception:  # a lost database connection must not end the loop
            log.exception("worker iteration failed")
            ran = 0
        if ran == 0:
            stop.wait(poll_seconds)
    log.info("worker stopped")


def start_background(db: Database, poll_seconds: float) -> tuple[threading.Thread, threading.Event]:
    """A daemon thread running the loop, and the event that stops it."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_forever, args=(db, poll_seconds, stop), name="cible-worker", daemon=True
    )
    thread.start()
    return thread, stop
