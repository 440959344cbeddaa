"""Recurring report jobs (``cible.jobs.schedules``): auto-allocate rounds every hour, as Adobe
documents ("models update at least once an hour")."""

from __future__ import annotations

from datetime import timedelta

from cible.jobs.schedules import Schedule
from cible.reports.tasks import REALLOCATE

SCHEDULES = [Schedule("reports.reallocate", kind=REALLOCATE, every=timedelta(hours=1))]
