"""Enqueue jobs in the caller's transaction; claim and run them with retries and a dead letter.

A job row is written in the same transaction as the change that needs it, so nothing is sent
unless that change committed. Workers claim due jobs with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL (several workers never take the same job) and with a compare-and-set update on
SQLite. A claimed job holds a lease; a worker that dies mid-job lets the lease lapse and the job
runs again, hence handlers must be idempotent. Failures retry with exponential backoff until
``max_attempts``, then the job is ``dead`` with its last error kept.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from cible.jobs.registry import load_tasks
from cible.jobs.tables import DEAD, DONE, PENDING, RUNNING, Job
from cible.store import Database
from cible.store.base import utcnow

log = logging.getLogger("cible.jobs")

LEASE = timedelta(minutes=5)
MAX_BACKOFF = timedelta(hours=1)


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str | None = None,
    run_at: datetime | None = None,
    max_attempts: int = 8,
) -> Job | None:
    """Adds a job to the caller's transaction; None when a pending job has the same key."""
    if dedupe_key is not None:
        existing = session.scalar(
            select(Job.id).where(Job.dedupe_key == dedupe_key, Job.state == PENDING)
        )
        if existing is not None:
            return None
    now = utcnow()
    job = Job(
        kind=kind,
        payload=orjson.dumps(payload).decode(),
        dedupe_key=dedupe_key,
        state=PENDING,
        attempts=0,
        max_attempts=max_attempts,
        run_at=run_at or now,
        created_at=now,
    )
    session.add(job)
    session.flush()
    return job


def backoff(attempts: int) -> timedelta:
    """2, 4, 8 … seconds after each failed attempt, capped at an hour."""
    return min(timedelta(seconds=2**attempts), MAX_BACKOFF)


def _due(now: datetime) -> Any:
    return or_(
        (Job.state == PENDING) & (Job.run_at <= now),
        # A running job whose lease lapsed belonged to a worker that died.
        (Job.state == RUNNING) & (Job.locked_until < now),
    )


def claim(db: Database, now: datetime) -> Job | None:
    """Takes one due job for this worker, or None."""
    with db.session() as session:
        query = select(Job).where(_due(now)).order_by(Job.run_at, Job.id).limit(1)
        if session.bind is not None and session.bind.dialect.name == "postgresql":
            job = session.scalar(query.with_for_update(skip_locked=True))
            if job is None:
                return None
            job.state, job.locked_until = RUNNING, now + LEASE
            return job
        candidate = session.scalar(query)
        if candidate is None:
            return None
        taken = session.execute(
            update(Job)
            .where(Job.id == candidate.id, _due(now))
            .values(state=RUNNING, locked_until=now + LEASE)
        )
        if getattr(taken, "rowcount", 0) != 1:
            return None  # another worker took it first
        candidate.state = RUNNING
        return candidate


def run_one(db: Database, job: Job, now: datetime) -> bool:
    """Runs a claimed job; True when it succeeded."""
    handler = load_tasks().get(job.kind)
    error: str | None = None
    if handler is None:
        error = f"no handler registered for job kind {job.kind!r}"
    else:
        try:
            handler(db, orjson.loads(job.payload))
        except Exception as exc:
            log.exception("job failed", extra={"job_id": job.id, "kind": job.kind})
            error = f"{type(exc).__name__}: {exc}"
    with db.session() as session:
        row = session.get(Job, job.id)
        if row is None:
            return error is None
        row.attempts += 1
        row.locked_until = None
        if error is None:
            row.state, row.finished_at, row.last_error = DONE, now, None
        elif row.attempts >= row.max_attempts or handler is None:
            row.state, row.finished_at, row.last_error = DEAD, now, error
        else:
            row.state, row.last_error = PENDING, error
            row.run_at = now + backoff(row.attempts)
    return error is None


def run_pending(db: Database, *, now: datetime | None = None, limit: int = 100) -> int:
    """Runs up to ``limit`` due jobs one after another; returns how many ran."""
    ran = 0
    while ran < limit:
        moment = now or utcnow()
        job = claim(db, moment)
        if job is None:
            break
        run_one(db, job, moment)
        ran += 1
    return ran
