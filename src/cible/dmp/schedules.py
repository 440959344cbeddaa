"""When the audience manager's recurring jobs run (``cible.dmp.tasks``).

TTL expiry hourly, so a trait expires within the hour after its documented instant (AAM expires
day-granular TTLs in batch, "Segment TTL explained"); populations daily at 02:00 UTC, as AAM's
total populations lag by a day ("Trait and segment qualification reference"); inactivity
retention daily at 03:00 UTC (``cible.dmp.retention``; AAM cleans customer ids weekly, a daily
run keeps nothing more than a day past its retention).
"""

from __future__ import annotations

from datetime import timedelta

from cible.jobs.schedules import Schedule

SCHEDULES = [
    Schedule("dmp.expire", kind="dmp.expire", every=timedelta(hours=1)),
    Schedule("dmp.populations", kind="dmp.populations", cron="0 2 * * *"),
    Schedule("dmp.retention", kind="dmp.retention", cron="0 3 * * *"),
]
