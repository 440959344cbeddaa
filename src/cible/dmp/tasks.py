"""The audience manager's recurring jobs: trait TTL expiry, populations, inactivity retention.

``dmp.expire`` re-evaluates every device whose earliest trait expiry has passed (AAM applies TTL
expiry in batch, "Segment TTL explained"): expired realizations are dropped, memberships
recomputed with the same compare-and-set write as ``/event``, and exits recorded for
destinations. ``dmp.populations`` counts unique devices per trait and per segment over 1, 7, 14,
30 and 60 days and in total (AAM's real-time and total populations). ``dmp.retention`` erases
devices inactive for 120 days and customer ids past their data source's retention
(``cible.dmp.retention``). All are scheduled in ``cible.dmp.schedules`` and idempotent.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Table, select

from cible.dmp import devices, retention
from cible.dmp.qualify import DeviceState, apply_call
from cible.dmp.rules import rules_for
from cible.dmp.segmentrule import DAY_MS
from cible.dmp.service import WINDOWS, replace_populations
from cible.dmp.tables import Device
from cible.jobs import task
from cible.store import Database
from cible.store.base import utcnow

_DEVICES: Table = Device.__table__  # type: ignore[assignment]
BATCH = 500


def expire_devices(db: Database, now_ms: int) -> int:
    """Applies TTL expiry to every device due at ``now_ms``; returns how many were updated."""
    done = 0
    while True:
        with db.engine.begin() as conn:
            due = conn.execute(
                select(_DEVICES.c.tenant_id, _DEVICES.c.uuid)
                .where(_DEVICES.c.expires_ms <= now_ms)
                .order_by(_DEVICES.c.expires_ms)
                .limit(BATCH)
            ).all()
            for tenant_id, uuid in due:
                rules = rules_for(conn, tenant_id)

                def change(state: DeviceState, rules: Any = rules) -> Any:
                    return apply_call(rules, state, {}, now_ms)

                devices.update_state(
                    conn, tenant_id, uuid, rules, change, now_ms, create=False, seen=False
                )
                done += 1
        if len(due) < BATCH:
            return done


def compute_populations(db: Database, now_ms: int) -> None:
    """Rewrites ``dmp_populations`` for every tenant from its devices' current state."""
    with db.engine.begin() as conn:
        tenants = [int(t) for t in conn.execute(select(_DEVICES.c.tenant_id).distinct()).scalars()]
    for tenant_id in tenants:
        counts: dict[tuple[str, int, int], int] = {}
        with db.engine.begin() as conn:
            rules = rules_for(conn, tenant_id)
            # Devices only: authenticated profiles (cible.dmp.merge) are not devices.
            rows = conn.execute(
                select(_DEVICES.c.state, _DEVICES.c.last_seen_ms).where(
                    _DEVICES.c.tenant_id == tenant_id,
                    ~_DEVICES.c.uuid.startswith(devices.AUTHENTICATED_PREFIX),
                )
            )
            for raw, last_seen in rows:
                state, _ = apply_call(rules, DeviceState.decode(raw), {}, now_ms)
                for sid, entry in state.realizations.items():
                    times: list[int] = entry[1]  # type: ignore[assignment]
                    last = max(times) if times else 0
                    _count(counts, ("trait", sid, 0))
                    for days in WINDOWS:
                        if last >= now_ms - days * DAY_MS:
                            _count(counts, ("trait", sid, days))
                for segment in state.segments:
                    _count(counts, ("segment", segment, 0))
                    for days in WINDOWS:
                        if int(last_seen) >= now_ms - days * DAY_MS:
                            _count(counts, ("segment", segment, days))
        with db.session() as session:
            replace_populations(session, tenant_id, counts, utcnow())


def _count(counts: dict[tuple[str, int, int], int], key: tuple[str, int, int]) -> None:
    counts[key] = counts.get(key, 0) + 1


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@task("dmp.expire")
def expire(db: Database, payload: dict[str, Any]) -> None:
    """TTL expiry of trait realizations, and the segment exits it causes."""
    expire_devices(db, int(payload.get("nowMs") or _now_ms()))


@task("dmp.populations")
def populations(db: Database, payload: dict[str, Any]) -> None:
    """Trait and segment populations (uniques over 1/7/14/30/60 days and in total)."""
    compute_populations(db, int(payload.get("nowMs") or _now_ms()))


@task("dmp.retention")
def purge(db: Database, payload: dict[str, Any]) -> None:
    """Devices inactive for 120 days (with their Status:0 messages) and stale customer ids."""
    retention.purge_inactive(db, int(payload.get("nowMs") or _now_ms()))
