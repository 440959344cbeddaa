"""The worker loop: tick the scheduler, run due jobs, sleep when there are none, stop when told.

``cible worker`` runs it in the foreground; ``cible serve`` also runs one in a background thread
(``--no-worker`` to leave jobs to dedicated workers), so a single-process install rebuilds
artifacts, imports profiles and runs its schedules without a second command. Every loop ticks a
:class:`~cible.jobs.scheduler.Scheduler`; the lease makes one of them, across processes and hosts,
the one that enqueues scheduled runs (docs/jobs.md).
"""

from __future__ import annotations

import logging
import threading
import time

from cible.jobs.outbox import run_pending
from cible.jobs.scheduler import Scheduler
from cible.store import Database

log = logging.getLogger("cible.jobs")


def run_forever(
    db: Database,
    poll_seconds: float,
    stop: threading.Event,
    *,
    scheduler: Scheduler | None = None,
) -> None:
    """Until ``stop`` is set: tick the scheduler every ``poll_seconds``, between jobs."""
    scheduler = scheduler or Scheduler(db)
    log.info("worker started", extra={"poll_seconds": poll_seconds})
    next_tick = time.monotonic()
    while not stop.is_set():
        if time.monotonic() >= next_tick:
            # Ticking between jobs, not only when idle, keeps the lease renewed through a
            # backlog; leaving it to lapse would move leadership for nothing.
            next_tick = time.monotonic() + poll_seconds
            try:
                scheduler.tick()
            except Exception:  # a lost database connection must not end the loop
                log.exception("scheduler tick failed")
        try:
            ran = run_pending(db, limit=1)
        except Exception:
            log.exception("worker iteration failed")
            ran = 0
        if ran == 0:
            stop.wait(max(0.0, min(poll_seconds, next_tick - time.monotonic())))
    try:
        scheduler.stop()
    except Exception:
        log.exception("releasing the scheduler lease failed")
    log.info("worker stopped")


def start_background(db: Database, poll_seconds: float) -> tuple[threading.Thread, threading.Event]:
    """A daemon thread running the loop, and the event that stops it."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_forever, args=(db, poll_seconds, stop), name="cible-worker", daemon=True
    )
    thread.start()
    return thread, stop
