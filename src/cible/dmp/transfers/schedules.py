"""A sweep of the real-time collector every minute, of the inbound folder every 5 minutes, and of
the batch file destinations' slots every minute.

Collections are normally scheduled by the changes themselves (``cible.dmp.transfers.wake``); the
sweep catches what no change woke, such as a mapping added while changes waited.
"""

from __future__ import annotations

from datetime import timedelta

from cible.jobs import Schedule

SCHEDULES = [
    Schedule("dmp.s2s.sweep", kind="dmp.s2s.collect", every=timedelta(minutes=1)),
    # The watched inbound folder (CIBLE_DMP_INBOUND_DIR); a run does nothing when it is unset.
    Schedule("dmp.inbound.scan", kind="dmp.inbound.scan", every=timedelta(minutes=5)),
    # Batch file destinations: each run is enqueued at its own slot (cible.dmp.transfers.export).
    Schedule("dmp.export.sweep", kind="dmp.export.sweep", every=timedelta(minutes=1)),
]
