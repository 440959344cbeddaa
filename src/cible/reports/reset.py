"""Deleting an activity's report data, for good: the report side of an activity reset.

Adobe Target resets an activity's report data and its visitors' assignments from its UI and
records ``reportDataReset`` on the activity's changelog (Admin API, ``ActivityChangelog``); the
Admin API documents no endpoint for it, so Cible's is an extension (docs/activities.md,
"Activity reset"). This module deletes the aggregates and stores the reset time, which the
``reports`` consumer and the DuckDB rebuild honour: events the event log accepted at or before it
never count again, even those the consumer had not applied yet (it may lag behind the log).

The reset runs in the caller's transaction and first takes the ``reports`` consumer's offset row,
as the consumer does before each batch, so a batch cannot straddle it: a batch that started
before the reset commits first (and its rows are deleted), a later one reads the reset time.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, update

from cible.events import now_ms
from cible.events.tables import event_consumers
from cible.reports.tables import (
    report_audience_daily,
    report_audience_visitors,
    report_daily,
    report_orders,
    report_resets,
    report_visitors,
)

__all__ = ["CONSUMER", "reset_reports"]

CONSUMER = "reports"  # cible.reports.consumers.ReportsConsumer.name
_DATA = (
    report_daily,
    report_visitors,
    report_orders,
    report_audience_daily,
    report_audience_visitors,
)


def reset_reports(conn: Connection, tenant_id: int, activity_id: int) -> int:
    """Deletes the activity's report rows and stores the reset time (epoch ms), returned.

    The time is the event log's clock (``cible.events.now_ms``), the one its records carry.
    ``report_keys`` stay: an event counted before the reset and sent again is still not new.
    The auto-allocate history (``report_allocations``) stays too: it is a history of weights,
    and the next round starts again from the (now empty) counts.
    """
    c = event_consumers.c
    stamp = now_ms()
    claimed = conn.execute(
        update(event_consumers).where(c.name == CONSUMER).values(updated_ms=stamp)
    ).rowcount
    if not claimed:
        conn.execute(insert(event_consumers).values(name=CONSUMER, offset=0, updated_ms=stamp))
    for table in _DATA:
        conn.execute(
            delete(table).where(table.c.tenant_id == tenant_id, table.c.activity_id == activity_id)
        )
    r = report_resets.c
    moved = conn.execute(
        update(report_resets)
        .where(r.tenant_id == tenant_id, r.activity_id == activity_id)
        .values(reset_ms=stamp)
    ).rowcount
    if not moved:
        conn.execute(
            insert(report_resets).values(
                tenant_id=tenant_id, activity_id=activity_id, reset_ms=stamp
            )
        )
    return stamp
