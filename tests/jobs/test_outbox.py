"""The outbox: jobs enqueued in a transaction, claimed once, retried with backoff, dead-lettered."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from cible.jobs import enqueue, run_pending, task
from cible.jobs.outbox import LEASE, backoff, claim
from cible.jobs.tables import DEAD, DONE, PENDING, Job
from cible.store import Database
from cible.store.base import utcnow
from tests.conftest import BACKENDS

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

CALLS: list[dict[str, Any]] = []
FAILURES = {"left": 0}


@task("test.record")
def _record(db: Database, payload: dict[str, Any]) -> None:
    if FAILURES["left"] > 0:
        FAILURES["left"] -= 1
        raise RuntimeError("transient failure")
    CALLS.append(payload)


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()
    FAILURES["left"] = 0


def _jobs(database: Database) -> list[Job]:
    with database.session() as s:
        return list(s.scalars(select(Job).order_by(Job.id)))


def test_job_is_written_only_when_the_transaction_commits(database: Database) -> None:
    with pytest.raises(RuntimeError), database.session() as s:
        enqueue(s, "test.record", {"n": 1})
        raise RuntimeError("the change failed")
    assert _jobs(database) == []
    with database.session() as s:
        enqueue(s, "test.record", {"n": 2})
    assert run_pending(database) == 1
    assert CALLS == [{"n": 2}]
    assert _jobs(database)[0].state == DONE


def test_pending_duplicates_are_folded(database: Database) -> None:
    with database.session() as s:
        assert enqueue(s, "test.record", {"n": 1}, dedupe_key="k") is not None
        assert enqueue(s, "test.record", {"n": 2}, dedupe_key="k") is None
    assert run_pending(database) == 1
    with database.session() as s:
        assert enqueue(s, "test.record", {"n": 3}, dedupe_key="k") is not None  # first one is done
    assert len(_jobs(database)) == 2


def test_failures_retry_with_backoff_then_succeed(database: Database) -> None:
    FAILURES["left"] = 2
    with database.session() as s:
        enqueue(s, "test.record", {"n": 1})
    now = utcnow()
    assert run_pending(database, now=now) == 1
    job = _jobs(database)[0]
    assert (job.state, job.attempts) == (PENDING, 1)
    assert "transient failure" in (job.last_error or "")
    assert job.run_at == now + backoff(1)
    assert run_pending(database, now=now) == 0  # not due yet
    assert run_pending(database, now=now + timedelta(seconds=2)) == 1
    assert run_pending(database, now=now + timedelta(seconds=10)) == 1
    assert _jobs(database)[0].state == DONE
    assert CALLS == [{"n": 1}]


def test_exhausted_jobs_go_dead_with_their_error(database: Database) -> None:
    FAILURES["left"] = 100
    with database.session() as s:
        enqueue(s, "test.record", {}, max_attempts=2)
        enqueue(s, "test.no-such-kind", {})
    now = utcnow()
    run_pending(database, now=now)
    run_pending(database, now=now + timedelta(hours=2))
    jobs = _jobs(database)
    assert [j.state for j in jobs] == [DEAD, DEAD]
    assert "no handler" in (jobs[1].last_error or "")


def test_a_claimed_job_is_not_claimed_twice_until_its_lease_lapses(database: Database) -> None:
    with database.session() as s:
        enqueue(s, "test.record", {"n": 1})
    now = utcnow()
    first = claim(database, now)
    assert first is not None
    assert claim(database, now) is None
    # The worker holding it died: after the lease the job runs again (at-least-once).
    again = claim(database, now + LEASE + timedelta(seconds=1))
    assert again is not None and again.id == first.id
