"""A scheduler process for tests/jobs/test_two_processes.py: ticks one schedule for a while and
prints each run it enqueued as a JSON line.

It prints ``ready`` once set up and reads the start instant, shared by both processes, from
stdin. Its clock runs ``SPEED`` times faster than wall time from that instant, so a few seconds
cover many runs. Before some rounds it stalls past its lease after checking it, as a leader
paused by the system would, then fires with the time it read.
"""

from __future__ import annotations

import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta

from cible.jobs.scheduler import Fired, Scheduler
from cible.jobs.schedules import Schedule
from cible.jobs.tables import JobSchedule
from cible.store import Database

SPEED = 60.0  # one wall second is one scheduled minute
BASE = datetime(2026, 1, 1, tzinfo=UTC)
EVERY = timedelta(seconds=12)  # 0.2 wall seconds
LEASE = timedelta(seconds=6)  # 0.1 wall seconds


class Stalling(Scheduler):
    def __init__(self, db: Database, start: float, rng: random.Random, holder: str) -> None:
        super().__init__(
            db,
            clock=lambda: BASE + timedelta(seconds=(time.time() - start) * SPEED),
            holder=holder,
            lease_ttl=LEASE,
            schedules=[Schedule("race", kind="test.race", every=EVERY)],
        )
        self.rng = rng

    def fire_due(self, now: datetime) -> list[Fired]:
        if self.rng.random() < 0.3:
            time.sleep(self.rng.uniform(0.05, 0.25))
        return super().fire_due(now)


def main(url: str, seconds: float, holder: str) -> None:
    db = Database(url)
    with db.session() as s:  # connects, so the start finds nothing left to set up
        s.get(JobSchedule, "race")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    start = float(sys.stdin.readline())  # the same wall-clock instant for both processes
    scheduler = Stalling(db, start, random.Random(holder), holder)
    scheduler.sync(BASE, warn=False)
    while time.time() < start:
        time.sleep(0.01)
    rng = random.Random(holder + "-pace")
    while time.time() < start + seconds:
        for fired in scheduler.tick():
            line = {
                "holder": holder,
                "scheduledAt": fired.scheduled_at.isoformat(),
                "jobId": fired.job_id,
                "missed": fired.missed,
            }
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()
        time.sleep(rng.uniform(0.0, 0.03))
    db.dispose()


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), sys.argv[3])
