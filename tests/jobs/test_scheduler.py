"""The scheduler over a real database: declared schedules, one leader, each run enqueued once."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from cible.errors import BadRequest, Conflict, NotFound
from cible.jobs import (
    Schedule,
    Scheduler,
    enqueue,
    ensure_schedule,
    remove_schedule,
    run_now,
    task,
)
from cible.jobs import scheduler as scheduler_module
from cible.jobs.outbox import backoff, run_pending
from cible.jobs.scheduler import LEADER, list_schedules
from cible.jobs.schedules import set_enabled
from cible.jobs.tables import DEAD, DONE, PENDING, Job, JobLease, JobSchedule
from cible.jobs.worker import run_forever
from cible.store import Database
from tests.conftest import BACKENDS, FakeClock

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

CALLS: list[dict[str, Any]] = []
FAILURES = {"left": 0}


@task("test.scheduled")
def _scheduled(db: Database, payload: dict[str, Any]) -> None:
    if FAILURES["left"] > 0:
        FAILURES["left"] -= 1
        raise RuntimeError("flaky destination")
    CALLS.append(payload)


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()
    FAILURES["left"] = 0


HOURLY = Schedule("test.hourly", kind="test.scheduled", every=timedelta(hours=1), payload={"n": 1})


def scheduler(database: Database, clock: FakeClock, holder: str = "a", **kw: Any) -> Scheduler:
    kw.setdefault("schedules", [HOURLY])
    return Scheduler(database, clock=clock, holder=holder, **kw)


def jobs(database: Database) -> list[Job]:
    with database.session() as s:
        return list(s.scalars(select(Job).order_by(Job.id)))


def schedule_row(database: Database, name: str = "test.hourly") -> JobSchedule:
    with database.session() as s:
        row = s.get(JobSchedule, name)
        assert row is not None
        return row


def test_ensure_schedule_is_idempotent_and_keeps_the_next_run(
    database: Database, clock: FakeClock
) -> None:
    start = clock.now
    with database.session() as s:
        ensure_schedule(s, "t", "test.scheduled", {"a": 1}, every=timedelta(minutes=5), now=start)
    assert schedule_row(database, "t").next_run_at == start + timedelta(minutes=5)

    clock.advance(minutes=3)
    with database.session() as s:  # same timing, new payload and kind
        ensure_schedule(s, "t", "test.other", {"a": 2}, every=timedelta(minutes=5), now=clock.now)
    row = schedule_row(database, "t")
    assert row.next_run_at == start + timedelta(minutes=5)
    assert (row.kind, orjson.loads(row.payload)) == ("test.other", {"a": 2})

    with database.session() as s:  # a new timing starts from now
        ensure_schedule(s, "t", "test.other", {"a": 2}, cron="30  *  * * *", now=clock.now)
    row = schedule_row(database, "t")
    assert (row.every_seconds, row.cron) == (None, "30 * * * *")
    assert row.next_run_at == start.replace(minute=30)

    with database.session() as s:
        set_enabled(s, "t", False, now=clock.now)
        ensure_schedule(s, "t", "test.other", {"a": 3}, cron="30 * * * *", now=clock.now)
    assert schedule_row(database, "t").enabled is False  # the operator's choice stays

    with pytest.raises(BadRequest), database.session() as s:
        ensure_schedule(s, "t", "test.other", {}, every=timedelta(0))
    assert orjson.loads(schedule_row(database, "t").payload) == {"a": 3}  # nothing changed

    with database.session() as s:
        assert remove_schedule(s, "t") is True
        assert remove_schedule(s, "t") is False


def test_interval_schedule_enqueues_each_run_once_with_its_time(
    database: Database, clock: FakeClock
) -> None:
    sched = scheduler(database, clock)
    start = clock.now
    assert sched.tick() == []  # synced, leading, nothing due for an hour
    assert sched.is_leader
    clock.advance(minutes=59)
    assert sched.tick() == []
    clock.advance(minutes=1)
    [fired] = sched.tick()
    assert (fired.name, fired.scheduled_at, fired.missed) == (
        "test.hourly",
        start + timedelta(hours=1),
        0,
    )
    assert sched.tick() == []  # the same instant: nothing new

    [job] = jobs(database)
    assert job.id == fired.job_id and job.kind == "test.scheduled"
    assert job.run_at == start + timedelta(hours=1)
    assert job.dedupe_key == "schedule:test.hourly:2026-01-15T13:00:00.000Z"
    row = schedule_row(database)
    assert row.next_run_at == start + timedelta(hours=2)
    assert row.last_run_at == start + timedelta(hours=1) and row.last_job_id == job.id

    assert run_pending(database, now=clock.now) == 1
    assert CALLS == [{"n": 1}]


def test_missed_runs_after_downtime_are_enqueued_once(database: Database, clock: FakeClock) -> None:
    sched = scheduler(database, clock)
    start = clock.now
    sched.tick()
    clock.advance(hours=5, minutes=30)  # runs at 13:00 … 17:00 were missed
    [fired] = sched.tick()
    assert fired.scheduled_at == start + timedelta(hours=5)
    assert fired.missed == 4
    assert [j.run_at for j in jobs(database)] == [start + timedelta(hours=5)]
    assert schedule_row(database).next_run_at == start + timedelta(hours=6)


def test_cron_schedule_due_times(database: Database, clock: FakeClock) -> None:
    quarter = Schedule("test.quarter", kind="test.scheduled", cron="*/15 * * * *")
    sched = scheduler(database, clock, schedules=[quarter])
    sched.tick()
    assert schedule_row(database, "test.quarter").next_run_at == clock.now + timedelta(minutes=15)
    clock.advance(minutes=15)
    assert [f.scheduled_at for f in sched.tick()] == [clock.now]
    clock.advance(minutes=50)  # 12:30, 12:45, 13:00 due: one run at 13:00
    [fired] = sched.tick()
    assert (fired.scheduled_at.hour, fired.scheduled_at.minute, fired.missed) == (13, 0, 2)
    assert len(jobs(database)) == 2


def test_only_the_lease_holder_enqueues_and_another_takes_over_after_expiry(
    database: Database, clock: FakeClock
) -> None:
    ttl = timedelta(seconds=30)
    a = scheduler(database, clock, "a", lease_ttl=ttl)
    b = scheduler(database, clock, "b", lease_ttl=ttl)
    a.tick()
    assert b.tick() == [] and not b.is_leader
    clock.advance(hours=1)
    assert len(a.tick()) == 1
    assert b.tick() == [] and not b.is_leader  # due, but b does not lead

    # a stops ticking (stalled, or died): b leads once the lease has expired.
    clock.advance(seconds=29)
    assert not b.tick() and not b.is_leader
    clock.advance(seconds=2)
    b.tick()
    assert b.is_leader
    with database.session() as s:
        lease = s.get(JobLease, LEADER)
        assert lease is not None and lease.holder == "b"
    assert a.tick() == [] and not a.is_leader  # a comes back and follows
    clock.advance(hours=1)
    assert [f.name for f in b.tick()] == ["test.hourly"]
    assert len(jobs(database)) == 2

    # A leader that stops hands over at once.
    b.stop()
    assert a.tick() == [] and a.is_leader


def test_a_stale_leader_never_enqueues_a_run_twice(
    database: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = scheduler(database, clock, "a", lease_ttl=timedelta(seconds=30))
    b = scheduler(database, clock, "b", lease_ttl=timedelta(seconds=30))
    a.tick()
    clock.advance(hours=1)
    stale_now = clock.now
    real_timing_of = scheduler_module.timing_of

    def b_fires_meanwhile(row: JobSchedule) -> Any:
        # a has read the due run; it stalls past its lease while b takes over and fires it.
        monkeypatch.setattr(scheduler_module, "timing_of", real_timing_of)
        clock.advance(minutes=1)
        assert len(b.tick()) == 1
        return real_timing_of(row)

    monkeypatch.setattr(scheduler_module, "timing_of", b_fires_meanwhile)
    assert a.fire_due(stale_now) == []  # a's compare-and-set lost: its job rolled back
    assert len(jobs(database)) == 1
    assert a.fire("test.hourly", clock.now) is None
    assert schedule_row(database).next_run_at == stale_now + timedelta(hours=1)


def test_a_run_already_in_the_outbox_is_not_added_again(
    database: Database, clock: FakeClock
) -> None:
    sched = scheduler(database, clock)
    sched.tick()
    clock.advance(hours=1)
    with database.session() as s:
        enqueue(s, "test.scheduled", {}, dedupe_key="schedule:test.hourly:2026-01-15T13:00:00.000Z")
    [fired] = sched.tick()
    assert fired.job_id is None
    assert len(jobs(database)) == 1
    assert schedule_row(database).next_run_at == clock.now + timedelta(hours=1)


def test_a_failing_run_retries_by_the_outbox_rules(database: Database, clock: FakeClock) -> None:
    FAILURES["left"] = 2
    sched = scheduler(database, clock)
    sched.tick()
    clock.advance(hours=1)
    sched.tick()
    assert run_pending(database, now=clock.now) == 1
    [job] = jobs(database)
    assert (job.state, job.attempts) == (PENDING, 1)
    assert job.run_at == clock.now + backoff(1) and "flaky destination" in (job.last_error or "")
    assert run_pending(database, now=clock.now) == 0
    clock.advance(seconds=2)
    assert run_pending(database, now=clock.now) == 1  # fails again
    clock.advance(seconds=4)
    assert run_pending(database, now=clock.now) == 1
    [job] = jobs(database)
    assert (job.state, job.attempts) == (DONE, 3)
    assert CALLS == [{"n": 1}]

    # The next run is its own job, whatever became of the previous one.
    clock.advance(hours=1)
    assert len(sched.tick()) == 1
    assert len(jobs(database)) == 2


def test_an_unknown_kind_is_dead_lettered_and_the_worker_goes_on(
    database: Database, clock: FakeClock
) -> None:
    ghost = Schedule("test.ghost", kind="test.no-such-kind", every=timedelta(minutes=1))
    sched = scheduler(database, clock, schedules=[HOURLY, ghost])
    sched.tick()
    clock.advance(hours=1)
    assert {f.name for f in sched.tick()} == {"test.ghost", "test.hourly"}
    assert run_pending(database, now=clock.now) == 2
    states = {j.kind: (j.state, j.last_error) for j in jobs(database)}
    assert states["test.scheduled"] == (DONE, None)
    state, error = states["test.no-such-kind"]
    assert state == DEAD and "no handler registered for job kind 'test.no-such-kind'" in (
        error or ""
    )


def test_disabled_schedules_do_not_run_and_resume_without_replay(
    database: Database, clock: FakeClock
) -> None:
    sched = scheduler(database, clock)
    sched.tick()
    with database.session() as s:
        set_enabled(s, "test.hourly", False, now=clock.now)
    clock.advance(hours=3)
    assert sched.tick() == []
    with database.session() as s:
        set_enabled(s, "test.hourly", True, now=clock.now)
    assert sched.tick() == []
    assert schedule_row(database).next_run_at == clock.now + timedelta(hours=1)
    with pytest.raises(NotFound), database.session() as s:
        set_enabled(s, "nope", True)


def test_run_now_leaves_the_timing_alone(database: Database, clock: FakeClock) -> None:
    sched = scheduler(database, clock)
    sched.tick()
    before = schedule_row(database).next_run_at
    job = run_now(database, "test.hourly", now=clock.now, wait=True)
    assert job.state == DONE and CALLS == [{"n": 1}]
    assert job.dedupe_key == "schedule:test.hourly:manual:2026-01-15T12:00:00.000Z"
    queued = run_now(database, "test.hourly", now=clock.now + timedelta(seconds=1))
    assert queued.state == PENDING
    with pytest.raises(Conflict):
        run_now(database, "test.hourly", now=clock.now + timedelta(seconds=1))
    assert schedule_row(database).next_run_at == before
    with pytest.raises(NotFound):
        run_now(database, "nope")


def test_declared_schedules_include_the_built_in_retention(database: Database) -> None:
    Scheduler(database).tick()
    with database.session() as s:
        rows = {row.name: row for row, _ in list_schedules(s)}
    retention = rows["events.retention"]
    assert (retention.kind, retention.every_seconds, retention.cron) == (
        "events.compact",
        3600,
        None,
    )


def test_the_worker_loop_ticks_the_scheduler_and_runs_its_jobs(
    database: Database, clock: FakeClock
) -> None:
    sched = scheduler(database, clock)
    sched.tick()
    clock.advance(hours=1)
    stop = threading.Event()
    thread = threading.Thread(
        target=run_forever, args=(database, 0.05, stop), kwargs={"scheduler": sched}
    )
    thread.start()
    try:
        for _ in range(400):
            if CALLS:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert CALLS == [{"n": 1}]
    assert [j.state for j in jobs(database)] == [DONE]
    with database.session() as s:  # stopping handed the lease back
        lease = s.get(JobLease, LEADER)
        assert lease is not None and lease.expires_at <= clock.now
