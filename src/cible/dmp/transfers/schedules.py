"""A sweep of the real-time collector every minute.

Collections are normally scheduled by the changes themselves (``cible.dmp.transfers.wake``); the
sweep catches what no change woke, such as a mapping added while changes waited.
"""

from __future__ import annotations

from datetime import timedelta

from cible.jobs import Schedule

SCHEDULES = [Schedule("dmp.s2s.sweep", kind="dmp.s2s.collect", every=timedelta(minutes=1))]
