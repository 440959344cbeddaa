"""Wakes the real-time collector when a change concerns a real-time destination.

Called where membership changes are recorded (``cible.dmp.devices``), in the same transaction:
when one of the changed segments is mapped to an active ``S2S`` destination of the tenant and no
collection is pending, a ``dmp.s2s.collect`` job is written to run ``CIBLE_DMP_S2S_WINDOW_SECONDS``
later, so the changes of that window go out together, and nothing runs while no real-time
destination has anything to send. Two calls racing may both write the job; collecting is
idempotent, so the second finds nothing left.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta

from sqlalchemy import Connection, Table, bindparam, select

from cible.config import get_settings
from cible.dmp.transfers.tables import Destination, DestinationMapping
from cible.jobs.tables import PENDING, Job
from cible.store.base import utcnow

COLLECT = "dmp.s2s.collect"
KEY = "dmp.s2s.collect"
_D: Table = Destination.__table__  # type: ignore[assignment]
_M: Table = DestinationMapping.__table__  # type: ignore[assignment]
_JOBS: Table = Job.__table__  # type: ignore[assignment]
_PENDING = select(_JOBS.c.id).where(_JOBS.c.dedupe_key == KEY, _JOBS.c.state == PENDING).limit(1)


def _mapped(conn: Connection, tenant_id: int, segments: Collection[int]) -> bool:
    query = (
        select(_M.c.id)
        .join(_D, _D.c.id == _M.c.destination_id)
        .where(
            _M.c.tenant_id == tenant_id,
            _M.c.sid.in_(bindparam("sids", expanding=True)),
            _D.c.destination_type == "S2S",
            _D.c.status == "ACTIVE",
        )
        .limit(1)
    )
    return conn.execute(query, {"sids": list(segments)}).first() is not None


def schedule_collect(conn: Connection, delay: timedelta) -> None:
    """A collection ``delay`` from now, unless one is already pending."""
    if conn.execute(_PENDING).first() is not None:
        return
    now = utcnow()
    conn.execute(
        _JOBS.insert().values(
            kind=COLLECT,
            payload="{}",
            dedupe_key=KEY,
            state=PENDING,
            attempts=0,
            max_attempts=8,
            run_at=now + delay,
            created_at=now,
        )
    )


def wake(conn: Connection, tenant_id: int, segments: Collection[int]) -> None:
    """Schedules a collection if ``segments`` of ``tenant_id`` matter to a real-time destination."""
    if segments and _mapped(conn, tenant_id, segments):
        schedule_collect(conn, timedelta(seconds=get_settings().dmp_s2s_window_seconds))
