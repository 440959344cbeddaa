"""Two scheduler processes on one database, leaders stalling past their lease: every scheduled
time is enqueued exactly once (or, after a stall, folded into the next run as documented)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from cible.jobs.tables import Job, JobSchedule
from cible.store import Database
from tests.conftest import BACKENDS

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

LOOP = Path(__file__).with_name("tick_loop.py")
EVERY = timedelta(seconds=12)  # tick_loop.EVERY
SECONDS = 4.0


def test_two_processes_enqueue_every_scheduled_time_once(
    database: Database, database_url: str
) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, str(LOOP), database_url, str(SECONDS), holder],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for holder in ("p1", "p2")
    ]
    for process in processes:
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n", process.communicate()[1]
    start = time.time() + 0.2
    fired = []
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(f"{start}\n")
        process.stdin.flush()
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        fired += [json.loads(line) for line in out.splitlines()]

    with database.session() as s:
        schedule = s.get(JobSchedule, "race")
        assert schedule is not None
        jobs = list(s.scalars(select(Job).where(Job.kind == "test.race")))
    keys = [j.dedupe_key for j in jobs]
    assert len(keys) == len(set(keys)), "a scheduled time was enqueued twice"
    assert sorted(j.id for j in jobs) == sorted(f["jobId"] for f in fired)

    # Every scheduled time from the first to the last is either enqueued or counted as missed.
    first = schedule.created_at.replace(microsecond=0) + EVERY
    periods = (schedule.next_run_at - first) // EVERY
    assert periods >= 10, "too few runs to say anything"
    assert sum(1 + f["missed"] for f in fired) == periods
    run_times = sorted(j.run_at for j in jobs)
    assert all((t - first) % EVERY == timedelta(0) for t in run_times)
    # The stalls moved leadership: both processes enqueued runs.
    assert {f["holder"] for f in fired} == {"p1", "p2"}
