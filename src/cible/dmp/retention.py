"""Profiles kept no longer than AAM keeps them: inactive devices and inactive customer ids.

AAM drops a device profile after 120 days without activity, and real-time destinations receive
``Status:0`` for its segments then ("Real-time outbound data transfers": a user leaves "after
120 days inactive"). A data source's declared ids (customer ids) are kept for its "data
retention for inactive customer IDs", 720 days by default, from a month to 5 years, "cleaned up
weekly" (AAM data source settings).

:func:`purge_inactive` (the daily ``dmp.retention`` job, ``cible.dmp.schedules``) does both:

* a device not seen for :data:`DEVICE_INACTIVE_DAYS` is erased as a privacy deletion erases it
  (``cible.dmp.devices.erase_device``: farewell messages, then state, ids and changes). A device
  is seen when a DCS call or an onboarding file writes its state; the TTL expiry job does not
  count as a sighting, and an ID sync writes no state.
* a declared id of a data source not declared again for that data source's
  ``customerIdRetentionDays`` loses its mapping, and its authenticated profile
  (``cible.dmp.merge``) goes too unless an authenticated call wrote it within the retention.

Daily rather than weekly, so nothing outlives its retention by more than a day. Each batch is
one transaction; a rerun finds nothing left, so the job is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Table, and_, delete, select

from cible.dmp import devices
from cible.dmp.segmentrule import DAY_MS
from cible.dmp.tables import DataSource
from cible.store import Database

DEVICE_INACTIVE_DAYS = 120
BATCH = 500
_DS: Table = DataSource.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Purged:
    """What one run removed: devices erased, customer ids and authenticated profiles dropped."""

    devices: int = 0
    customer_ids: int = 0
    profiles: int = 0


def _inactive_devices(db: Database, now_ms: int) -> int:
    cutoff = now_ms - DEVICE_INACTIVE_DAYS * DAY_MS
    table = devices.DEVICES
    with db.engine.begin() as conn:
        tenants = conn.execute(select(table.c.tenant_id).distinct()).scalars().all()
    done = 0
    for tenant_id in sorted(int(t) for t in tenants):
        while True:
            with db.engine.begin() as conn:
                # Per tenant, so that ix_dmp_devices_tenant_seen serves the range.
                due = (
                    conn.execute(
                        select(table.c.uuid)
                        .where(
                            table.c.tenant_id == tenant_id,
                            table.c.last_seen_ms < cutoff,
                            ~table.c.uuid.startswith(devices.AUTHENTICATED_PREFIX),
                        )
                        .order_by(table.c.last_seen_ms)
                        .limit(BATCH)
                        # PostgreSQL: a device a DCS call is writing now is left to the next run.
                        .with_for_update(skip_locked=True)
                    )
                    .scalars()
                    .all()
                )
                for uuid in due:
                    devices.erase_device(conn, tenant_id, str(uuid), now_ms)
            done += len(due)
            if len(due) < BATCH:
                break
    return done


def _customer_ids(conn: Connection, tenant_id: int, dpid: int, cutoff: int) -> tuple[int, int]:
    ids, states = devices.DEVICE_IDS, devices.DEVICES
    stale = conn.execute(
        select(ids.c.external_id)
        .where(
            ids.c.tenant_id == tenant_id, ids.c.namespace == str(dpid), ids.c.updated_ms < cutoff
        )
        .limit(BATCH)
    ).scalars()
    profiles = 0
    found = [str(x) for x in stale]
    for external in found:
        conn.execute(
            delete(ids).where(
                ids.c.tenant_id == tenant_id,
                ids.c.namespace == str(dpid),
                ids.c.external_id == external,
                ids.c.updated_ms < cutoff,
            )
        )
        key = devices.authenticated_key(str(dpid), external)
        gone = conn.execute(
            delete(states).where(
                and_(
                    states.c.tenant_id == tenant_id,
                    states.c.uuid == key,
                    states.c.last_seen_ms < cutoff,
                )
            )
        )
        profiles += gone.rowcount
    return len(found), profiles


def _inactive_customer_ids(db: Database, now_ms: int) -> tuple[int, int]:
    with db.engine.begin() as conn:
        sources = conn.execute(
            select(_DS.c.tenant_id, _DS.c.id, _DS.c.customer_id_retention_days).order_by(_DS.c.id)
        ).all()
    ids = profiles = 0
    for tenant_id, dpid, days in sources:
        cutoff = now_ms - int(days) * DAY_MS
        while True:
            with db.engine.begin() as conn:
                found, dropped = _customer_ids(conn, int(tenant_id), int(dpid), cutoff)
            ids, profiles = ids + found, profiles + dropped
            if found < BATCH:
                break
    return ids, profiles


def purge_inactive(db: Database, now_ms: int) -> Purged:
    """Erases devices inactive for 120 days and customer ids past their data source's
    retention, as of ``now_ms``."""
    erased = _inactive_devices(db, now_ms)
    ids, profiles = _inactive_customer_ids(db, now_ms)
    return Purged(erased, ids, profiles)
