"""The scheduler: one leader among all workers turns due schedules into outbox jobs.

Every worker process (``cible worker``, or the thread of ``cible serve``) ticks a
:class:`Scheduler`; only the holder of the ``scheduler`` row of ``job_leases`` enqueues. The lease
is taken and renewed with a compare-and-set ``UPDATE`` (holder is me, or the lease has expired),
which behaves the same on SQLite and PostgreSQL, so leadership moves to another worker or host
within one lease period when the leader dies.

A lease alone cannot rule out two leaders: a leader that stalls past its lease (a long pause, a
slow disk) resumes believing it still leads. Each run is therefore enqueued in one transaction
with the advance of the schedule's ``next_run_at``, guarded by a compare-and-set on the
``next_run_at`` it read; of two leaders firing the same run, one wins and the other's transaction
rolls back with its job. The job also carries the dedupe key ``schedule:<name>:<scheduled time>``.

>>> scheduler = Scheduler(db)            # clock=... in tests
>>> scheduler.tick()                      # sync declared schedules once, lead, enqueue due runs
[Fired(name='events.retention', scheduled_at=..., job_id=12, missed=0)]
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cible.errors import Conflict, NotFound
from cible.isotime import iso_millis
from cible.jobs.outbox import LEASE, enqueue, run_one
from cible.jobs.registry import load_tasks
from cible.jobs.schedules import Schedule, ensure_schedule, load_schedules, timing_of
from cible.jobs.tables import PENDING, RUNNING, Job, JobLease, JobSchedule
from cible.store import Database
from cible.store.base import utcnow

log = logging.getLogger("cible.jobs")

Clock = Callable[[], datetime]

LEADER = "scheduler"
LEASE_TTL = timedelta(seconds=30)


def holder_id() -> str:
    """Names this process in ``job_leases``: host, pid and a random suffix (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def dedupe_key(name: str, scheduled_at: datetime) -> str:
    return f"schedule:{name}:{iso_millis(scheduled_at)}"


@dataclass(frozen=True)
class Fired:
    """One run enqueued; ``missed`` earlier due times were folded into it after downtime."""

    name: str
    scheduled_at: datetime
    job_id: int | None  # None when a job with this run's key already existed
    missed: int


class Lease:
    """A named lease in ``job_leases``, held by one holder at a time.

    Host clocks must agree to well within ``ttl`` (NTP does): an expiry written by one host is
    read against another's clock. A disagreement can give two leaders for a while, never a run
    enqueued twice.
    """

    def __init__(self, db: Database, name: str, holder: str, ttl: timedelta) -> None:
        self.db, self.name, self.holder, self.ttl = db, name, holder, ttl
        self.expires_at: datetime | None = None

    def acquire(self, now: datetime) -> bool:
        """Takes or renews the lease; True while this holder has it."""
        # Renewing at half the lease spares a write per tick; nobody else can take it before
        # it expires.
        if self.expires_at is not None and now < self.expires_at - self.ttl / 2:
            return True
        held = self._try(now)
        if held != (self.expires_at is not None):
            log.info("scheduler leadership " + ("taken" if held else "lost"))
        self.expires_at = now + self.ttl if held else None
        return held

    def _try(self, now: datetime) -> bool:
        try:
            with self.db.session() as s:
                current = s.get(JobLease, self.name)
                if current is None:
                    s.add(JobLease(name=self.name, holder=self.holder, expires_at=now + self.ttl))
                    s.flush()
                    return True
                if current.holder != self.holder and current.expires_at > now:
                    return False
                taken = s.execute(
                    update(JobLease)
                    .where(
                        JobLease.name == self.name,
                        or_(JobLease.holder == self.holder, JobLease.expires_at <= now),
                    )
                    .values(holder=self.holder, expires_at=now + self.ttl)
                    .execution_options(synchronize_session=False)
                )
                return getattr(taken, "rowcount", 0) == 1
        except IntegrityError:  # another process created the row first
            return False

    def release(self, now: datetime) -> None:
        """Lets the lease go at once, so another worker leads without waiting for it to expire."""
        with self.db.session() as s:
            s.execute(
                update(JobLease)
                .where(JobLease.name == self.name, JobLease.holder == self.holder)
                .values(expires_at=now)
                .execution_options(synchronize_session=False)
            )
        self.expires_at = None


class Scheduler:
    """Syncs declared schedules once, then on each :meth:`tick` leads or waits."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock = utcnow,
        holder: str | None = None,
        lease_ttl: timedelta = LEASE_TTL,
        schedules: Sequence[Schedule] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.lease = Lease(db, LEADER, holder or holder_id(), lease_ttl)
        self._declared = schedules
        self._synced = False

    @property
    def is_leader(self) -> bool:
        return self.lease.expires_at is not None

    def sync(self, now: datetime, *, warn: bool = True) -> None:
        """Writes the schedules declared in code to ``job_schedules`` (every worker, at start);
        ``warn`` logs each schedule whose job kind no ``@task`` handles."""
        declared = load_schedules() if self._declared is None else list(self._declared)
        handlers = load_tasks() if warn else {}
        for schedule in declared:
            if warn and schedule.kind not in handlers:
                log.warning(
                    "scheduled job kind has no handler; its runs will be dead-lettered",
                    extra={"schedule": schedule.name, "kind": schedule.kind},
                )
            for attempt in (1, 2):
                try:
                    with self.db.session() as s:
                        ensure_schedule(
                            s,
                            schedule.name,
                            schedule.kind,
                            schedule.payload,
                            every=schedule.every,
                            cron=schedule.cron,
                            now=now,
                        )
                    break
                except IntegrityError:  # another worker inserted it first: now an update
                    if attempt == 2:
                        raise
        self._synced = True

    def tick(self) -> list[Fired]:
        """One round: sync at first, renew or take the lease, enqueue due runs if leading."""
        now = self.clock()
        if not self._synced:
            self.sync(now)
        if not self.lease.acquire(now):
            return []
        return self.fire_due(now)

    def fire_due(self, now: datetime) -> list[Fired]:
        """Enqueues every due run (the lease is checked by :meth:`tick`)."""
        with self.db.session() as s:
            names = list(
                s.scalars(
                    select(JobSchedule.name)
                    .where(JobSchedule.enabled.is_(True), JobSchedule.next_run_at <= now)
                    .order_by(JobSchedule.next_run_at, JobSchedule.name)
                )
            )
        fired: list[Fired] = []
        for name in names:
            try:
                run = self.fire(name, now)
            except Exception:  # one broken schedule must not hold up the others
                log.exception("schedule failed to fire", extra={"schedule": name})
                continue
            if run is not None:
                fired.append(run)
        return fired

    def fire(self, name: str, now: datetime) -> Fired | None:
        """Enqueues schedule ``name``'s due run and advances it, or None if it is not due or
        another leader fired it first."""
        with self.db.session() as s:
            row = s.get(JobSchedule, name)
            if row is None or not row.enabled or row.next_run_at > now:
                return None
            timing = timing_of(row)
            scheduled = timing.latest_due(row.next_run_at, now)
            won = s.execute(
                update(JobSchedule)
                .where(
                    JobSchedule.name == name,
                    JobSchedule.next_run_at == row.next_run_at,
                    JobSchedule.enabled.is_(True),
                )
                .values(next_run_at=timing.next_after(scheduled), last_run_at=scheduled)
                .execution_options(synchronize_session=False)
            )
            if getattr(won, "rowcount", 0) != 1:
                return None
            missed = timing.count_between(row.next_run_at, scheduled)
            key = dedupe_key(name, scheduled)
            job_id: int | None = None
            if s.scalar(select(Job.id).where(Job.dedupe_key == key).limit(1)) is None:
                job = enqueue(
                    s, row.kind, orjson.loads(row.payload), dedupe_key=key, run_at=scheduled
                )
                assert job is not None
                job_id = job.id
                s.execute(
                    update(JobSchedule)
                    .where(JobSchedule.name == name)
                    .values(last_job_id=job_id)
                    .execution_options(synchronize_session=False)
                )
        if missed:
            log.warning(
                "missed scheduled runs folded into one",
                extra={"schedule": name, "missed": missed, "scheduled_at": iso_millis(scheduled)},
            )
        return Fired(name, scheduled, job_id, missed)

    def stop(self) -> None:
        """Releases the lease if held."""
        if self.is_leader:
            self.lease.release(self.clock())


def list_schedules(session: Session) -> list[tuple[JobSchedule, Job | None]]:
    """Every schedule by name, with the job of its last scheduled run (None once purged)."""
    rows = session.scalars(select(JobSchedule).order_by(JobSchedule.name)).all()
    ids = [r.last_job_id for r in rows if r.last_job_id is not None]
    jobs = {j.id: j for j in session.scalars(select(Job).where(Job.id.in_(ids)))} if ids else {}
    return [(r, jobs.get(r.last_job_id) if r.last_job_id else None) for r in rows]


def leader(session: Session) -> JobLease | None:
    return session.get(JobLease, LEADER)


def run_now(db: Database, name: str, *, now: datetime | None = None, wait: bool = False) -> Job:
    """Enqueues one run of schedule ``name`` now, outside its timing (which stays as it was).

    With ``wait``, runs it in this process and returns it finished (done, pending for a retry,
    or dead); otherwise a worker picks it up.
    """
    moment = now or utcnow()
    with db.session() as s:
        row = s.get(JobSchedule, name)
        if row is None:
            raise NotFound(f"no schedule named {name!r}")
        job = enqueue(
            s,
            row.kind,
            orjson.loads(row.payload),
            dedupe_key=f"schedule:{name}:manual:{iso_millis(moment)}",
            run_at=moment,
        )
        if job is None:
            raise Conflict(f"a run of {name!r} requested at this instant is already pending")
        job_id = job.id
    if wait:
        with db.session() as s:
            claimed = s.execute(
                update(Job)
                .where(Job.id == job_id, Job.state == PENDING)
                .values(state=RUNNING, locked_until=moment + LEASE)
                .execution_options(synchronize_session=False)
            )
            mine = getattr(claimed, "rowcount", 0) == 1
        if mine:
            with db.session() as s:
                taken = s.get(Job, job_id)
                assert taken is not None
            run_one(db, taken, moment)
    with db.session() as s:
        final = s.get(Job, job_id)
        assert final is not None
        return final
