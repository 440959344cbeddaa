"""Recurring recommendations jobs (``cible.jobs.schedules``): every criteria retrained hourly.

Adobe runs algorithms every 12 to 24 hours (3 to 6 for a 6-hour lookback); Cible's training is
cheap enough to run every hour (BENCHMARKS.md, "Recommendations"), so new behaviour reaches
recommendations within the hour.
"""

from __future__ import annotations

from datetime import timedelta

from cible.jobs.schedules import Schedule
from cible.recs.tasks import TRAIN

SCHEDULES = [Schedule("recs.train", kind=TRAIN, every=timedelta(hours=1))]
