"""Rebuilding the report aggregates from raw events, with DuckDB over Parquet.

The consumer keeps the aggregates up to date batch by batch; this job recomputes them from the
``events`` table (raw delivery events, kept for that purpose) when the definitions change, after
a restore, or to check the consumer. It exports the events to Parquet with pyarrow, computes the
same rows as ``cible.reports._aggregate`` in one DuckDB query per table (built-in Parquet
reader: no extension is installed or downloaded), and replaces the tenant's rows in one
transaction. It also fills ``report_visitors.pre_value`` (revenue in the 14 days before first
exposure), which CUPED uses. docs/reports.md, "Rebuilding".

Reporting audiences: a visitor is in an audience from the first of his events (in log order)
that names it; the audience's counts are his counts with every earlier event moved to that
event's day, which is what the consumer adds when he qualifies (``cible.reports._aggregate``).
Events of a reset activity that the log accepted at or before its reset (``report_resets``) count
for nothing but their keys, as for the consumer.

The transaction first locks the ``reports`` and ``delivery.events`` consumers' offsets, so
neither moves while it runs, and finally sets the ``reports`` offset back to the lower of the two:
records the ``events`` table does not hold yet are applied again by the consumer, and the rebuilt
``report_keys`` skip the ones that it does.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, delete, func, insert, select, update

from cible.delivery.tables import Event
from cible.events import now_ms
from cible.events.tables import event_consumers
from cible.reports.tables import (
    report_audience_daily,
    report_audience_visitors,
    report_daily,
    report_keys,
    report_orders,
    report_resets,
    report_visitors,
)
from cible.store import Database

__all__ = ["PRE_PERIOD_DAYS", "Rebuilt", "rebuild"]

PRE_PERIOD_DAYS = 14
EXPORT_BATCH = 50_000
INSERT_BATCH = 10_000
SOURCE_CONSUMER = "delivery.events"
REPORTS_CONSUMER = "reports"
Progress = Callable[[str, int, int], None]  # (step, done, total)

_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("tenant_id", pa.int64()),
        ("event_key", pa.string()),
        ("kind", pa.string()),
        ("activity_id", pa.int64()),
        ("experience_id", pa.int64()),
        ("mbox", pa.string()),
        ("visitor", pa.string()),
        ("session_id", pa.string()),
        ("order_id", pa.string()),
        ("revenue", pa.float64()),
        ("occurred_ms", pa.int64()),
        ("reporting_audiences", pa.list_(pa.int64())),
        # False for an event of a reset activity accepted before the reset: its key stays
        # counted (report_keys) and it counts for nothing else.
        ("counted", pa.bool_()),
    ]
)

# Every event in its visitor's order, with the consumer's visit numbering
# (cible.reports._aggregate.apply_event).
_PREPARED = """
CREATE TEMP TABLE prepared AS
WITH raw AS (
    SELECT *, CASE
        WHEN kind = 'conversion' AND coalesce(mbox, '') <> '' THEN left('mbox:' || mbox, 260)
        WHEN kind = 'click' AND coalesce(mbox, '') <> '' THEN left('click:' || mbox, 260)
        WHEN kind = 'order' THEN 'order' END AS metric
    FROM read_parquet($path) WHERE activity_id IS NOT NULL AND kind <> 'rejected' AND counted
), entered AS (
    -- vid numbers each (tenant, activity, visitor): the windows below partition and sort on
    -- that integer instead of the visitor's text, which was most of the rebuild's time.
    SELECT tenant_id, activity_id, visitor, arg_min(experience_id, id) AS experience_id,
           min(id) AS entry_id, row_number() OVER () AS vid
    FROM raw WHERE experience_id IS NOT NULL GROUP BY tenant_id, activity_id, visitor
), kept AS (
    SELECT r.*, e.experience_id AS exp, e.vid,
        last_value(r.session_id IGNORE NULLS) OVER w_before AS prev_session,
        row_number() OVER w AS n
    FROM raw r JOIN entered e USING (tenant_id, activity_id, visitor)
    WHERE r.id >= e.entry_id
    WINDOW w AS (PARTITION BY e.vid ORDER BY r.id),
           w_before AS (PARTITION BY e.vid ORDER BY r.id
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
), visits AS (
    SELECT *, (n = 1 OR (session_id IS NOT NULL AND session_id IS DISTINCT FROM prev_session))
              AS new_visit
    FROM kept
)
SELECT *, sum(new_visit::INT) OVER (PARTITION BY vid ORDER BY id ROWS UNBOUNDED PRECEDING)
          AS visit_no,
       occurred_ms // 86400000 AS day
FROM visits
"""

_VISITORS = """
WITH conv AS (
    SELECT vid, metric, count(*) AS c, max(visit_no) AS last_visit,
           count(DISTINCT visit_no) AS converting_visits
    FROM prepared WHERE metric IS NOT NULL GROUP BY ALL
), conv_json AS (
    SELECT vid,
           to_json(map_from_entries(list(
               struct_pack(k := metric, v := [c, last_visit, converting_visits])
               ORDER BY metric)))::VARCHAR
               AS conversions
    FROM conv GROUP BY ALL
), audiences AS (
    SELECT vid, '[' || string_agg(audience::VARCHAR, ',' ORDER BY audience) || ']' AS audiences
    FROM qualified GROUP BY ALL
), buyers AS (
    -- Orders anywhere in the tenant, for the pre-period value.
    SELECT tenant_id, visitor, occurred_ms, coalesce(revenue, 0) AS revenue
    FROM read_parquet($path) WHERE kind = 'order'
), base AS (
    SELECT vid, any_value(tenant_id) AS tenant_id, any_value(activity_id) AS activity_id,
           any_value(visitor) AS visitor, any_value(exp) AS experience_id,
           min(occurred_ms) FILTER (WHERE n = 1) AS first_ms, max(occurred_ms) AS last_ms,
           arg_max(session_id, id) FILTER (WHERE session_id IS NOT NULL) AS session_id,
           max(visit_no) AS visits,
           count(*) FILTER (WHERE kind IN ('impression', 'display')) AS impressions,
           count(*) FILTER (WHERE metric = 'order') AS orders,
           coalesce(sum(coalesce(revenue, 0)) FILTER (WHERE metric = 'order'), 0) AS revenue
    FROM prepared GROUP BY ALL
), pre AS (
    SELECT b.vid, sum(o.revenue) AS pre_value
    FROM base b JOIN buyers o
      ON o.tenant_id = b.tenant_id AND o.visitor = b.visitor
     AND o.occurred_ms < b.first_ms AND o.occurred_ms >= b.first_ms - $pre_ms
    GROUP BY ALL
)
SELECT b.tenant_id, b.activity_id, b.visitor, b.experience_id, 0 AS environment_id, b.first_ms,
       b.last_ms, b.session_id, b.visits, b.impressions, b.orders, b.revenue,
       coalesce(p.pre_value, 0) AS pre_value,
       coalesce(j.conversions, '{}') AS conversions, a.audiences AS reporting_audiences
FROM base b
LEFT JOIN conv_json j USING (vid)
LEFT JOIN audiences a USING (vid)
LEFT JOIN pre p USING (vid)
"""

# Each visitor's first event (log order) naming a reporting audience: he is in it from there.
_QUALIFIED = """
CREATE TEMP TABLE qualified AS
SELECT vid, audience, arg_min(id, id) AS q_id, arg_min(day, id) AS q_day,
       arg_min(occurred_ms, id) AS q_ms, row_number() OVER () AS avid
FROM (SELECT vid, id, day, occurred_ms, unnest(reporting_audiences) AS audience FROM prepared)
GROUP BY vid, audience
"""

# The events of each (visitor, audience) pair, those before he qualified on that day.
_AUDIENCE_PREPARED = """
CREATE TEMP TABLE audience_prepared AS
SELECT p.* REPLACE (q.avid AS vid, CASE WHEN p.id < q.q_id THEN q.q_day ELSE p.day END AS day),
       q.audience
FROM prepared p JOIN qualified q USING (vid)
"""


def _daily_sql(source: str, by_audience: bool) -> str:
    """``report_daily`` rows from ``source`` (``report_audience_daily`` rows per audience)."""
    a = "audience, " if by_audience else ""
    ca = "c.audience, " if by_audience else ""
    final = (
        "tenant_id, activity_id, audience AS reporting_audience, "
        if by_audience
        else "tenant_id, activity_id, "
    )
    return f"""
WITH entry AS (
    SELECT tenant_id, activity_id, {a}exp, 'entry' AS metric, day,
           count(*) FILTER (WHERE n = 1) AS visitors,
           count(*) FILTER (WHERE new_visit) AS visits,
           count(*) FILTER (WHERE kind IN ('impression', 'display')) AS impressions,
           0.0 AS value_sum, 0.0 AS value_sq_sum
    FROM {source} GROUP BY ALL
), converting AS (
    SELECT * FROM {source} WHERE metric IS NOT NULL
), counts AS (
    SELECT tenant_id, activity_id, {a}exp, metric, day, count(*) AS impressions
    FROM converting GROUP BY ALL
), firsts AS (
    -- A visitor's first conversion on a metric, and first in each visit: hash aggregates.
    SELECT tenant_id, activity_id, {a}exp, metric, day, count(*) AS visitors FROM (
        SELECT tenant_id, activity_id, {a}exp, metric, arg_min(day, id) AS day
        FROM converting GROUP BY tenant_id, activity_id, {a}vid, exp, metric
    ) GROUP BY ALL
), visit_firsts AS (
    SELECT tenant_id, activity_id, {a}exp, metric, day, count(*) AS visits FROM (
        SELECT tenant_id, activity_id, {a}exp, metric, arg_min(day, id) AS day
        FROM converting GROUP BY tenant_id, activity_id, {a}vid, exp, metric, visit_no
    ) GROUP BY ALL
), orders AS (
    SELECT tenant_id, activity_id, {a}exp, day, coalesce(revenue, 0) AS amount,
           sum(coalesce(revenue, 0)) OVER (
               PARTITION BY vid ORDER BY id ROWS UNBOUNDED PRECEDING
           ) AS cum
    FROM converting WHERE metric = 'order'
), values AS (
    SELECT tenant_id, activity_id, {a}exp, 'order' AS metric, day, sum(amount) AS value_sum,
           sum(cum * cum - (cum - amount) * (cum - amount)) AS value_sq_sum
    FROM orders GROUP BY ALL
), metrics AS (
    SELECT c.tenant_id, c.activity_id, {ca}c.exp, c.metric, c.day,
           coalesce(f.visitors, 0) AS visitors, coalesce(v.visits, 0) AS visits, c.impressions,
           coalesce(o.value_sum, 0) AS value_sum, coalesce(o.value_sq_sum, 0) AS value_sq_sum
    FROM counts c
    LEFT JOIN firsts f USING (tenant_id, activity_id, {a}exp, metric, day)
    LEFT JOIN visit_firsts v USING (tenant_id, activity_id, {a}exp, metric, day)
    LEFT JOIN values o USING (tenant_id, activity_id, {a}exp, metric, day)
)
SELECT {final}0 AS environment_id, exp AS experience_id, metric, day,
       visitors, visits, impressions, value_sum, value_sq_sum
FROM (SELECT * FROM entry UNION ALL SELECT * FROM metrics)
"""


_DAILY = _daily_sql("prepared", by_audience=False)
_AUDIENCE_DAILY = _daily_sql("audience_prepared", by_audience=True)

_AUDIENCE_VISITORS = """
SELECT any_value(p.tenant_id) AS tenant_id, any_value(p.activity_id) AS activity_id,
       q.audience AS reporting_audience, any_value(p.visitor) AS visitor,
       any_value(q.q_ms) AS qualified_ms
FROM qualified q JOIN prepared p ON p.vid = q.vid AND p.id = q.q_id
GROUP BY q.vid, q.audience
"""

_ORDERS = """
SELECT tenant_id, activity_id, left(order_id, 250) AS order_id, exp AS experience_id,
       0 AS environment_id, visitor, occurred_ms, revenue AS total
FROM prepared WHERE metric = 'order' AND coalesce(order_id, '') <> ''
QUALIFY row_number() OVER (PARTITION BY tenant_id, activity_id, left(order_id, 250)
                           ORDER BY id) = 1
"""

_KEYS = """
SELECT DISTINCT tenant_id,
       (md5_number_lower(left(event_key, 400))::HUGEINT - 9223372036854775808)::BIGINT
           AS key_hash
FROM read_parquet($path)
WHERE activity_id IS NOT NULL
"""


@dataclass(frozen=True)
class Rebuilt:
    events: int
    visitors: int
    daily_rows: int
    orders: int


def _claim(conn: Connection, name: str) -> int:
    c = event_consumers.c
    stamp = now_ms()
    offset = conn.execute(
        update(event_consumers).where(c.name == name).values(updated_ms=stamp).returning(c.offset)
    ).scalar()
    if offset is None:
        conn.execute(insert(event_consumers).values(name=name, offset=0, updated_ms=stamp))
        return 0
    return int(offset)


def _export(conn: Connection, tenant_id: int | None, path: Path, progress: Progress | None) -> int:
    e = Event.__table__.c
    query = select(
        e.id,
        e.tenant_id,
        e.event_key,
        e.kind,
        e.activity_id,
        e.experience_id,
        e.mbox,
        e.visitor,
        e.session_id,
        e.order_id,
        e.revenue,
        e.reporting_audiences,
        e.created_at,
        e.occurred_at,
    ).order_by(e.id)
    counted = select(func.count()).select_from(Event.__table__)
    # Events of QA calls (qaMode) never count, as the consumer leaves them out.
    query = query.where(e.qa.is_(False))
    counted = counted.where(e.qa.is_(False))
    if tenant_id is not None:
        query = query.where(e.tenant_id == tenant_id)
        counted = counted.where(e.tenant_id == tenant_id)
    total = int(conn.execute(counted).scalar_one())
    r = report_resets.c
    resets = select(r.tenant_id, r.activity_id, r.reset_ms)
    if tenant_id is not None:
        resets = resets.where(r.tenant_id == tenant_id)
    reset_ms: dict[tuple[int, int], int] = {(t, a): ms for t, a, ms in conn.execute(resets)}
    done = 0
    with pq.ParquetWriter(path, _SCHEMA) as writer:
        # Per statement: Connection.execution_options would make every later statement stream.
        result = conn.execute(query, execution_options={"yield_per": EXPORT_BATCH})
        for rows in result.partitions():
            columns: list[list[Any]] = [[] for _ in _SCHEMA]
            for row in rows:
                *fields, audiences, created, occurred = row
                cut = reset_ms.get((fields[1], fields[4])) if reset_ms else None
                for i, value in enumerate(fields):
                    columns[i].append(value)
                columns[-3].append(int(occurred.timestamp() * 1000))
                columns[-2].append(orjson.loads(audiences) if audiences else None)
                # Accepted at or before the activity's reset (cible.reports.reset).
                columns[-1].append(cut is None or int(created.timestamp() * 1000) > cut)
            writer.write_batch(pa.record_batch(columns, schema=_SCHEMA))
            done += len(rows)
            if progress:
                progress("export", done, total)
    return done


def _rows(
    duck: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]
) -> Iterator[list[dict[str, Any]]]:
    cursor = duck.execute(sql, params)
    names = [d[0] for d in cursor.description or []]
    while True:
        chunk = cursor.fetchmany(INSERT_BATCH)
        if not chunk:
            return
        yield [dict(zip(names, row, strict=True)) for row in chunk]


def rebuild(
    database: Database,
    tenant_id: int | None = None,
    *,
    workdir: Path | None = None,
    progress: Progress | None = None,
) -> Rebuilt:
    """Recomputes the report aggregates of ``tenant_id`` (every tenant when None)."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp, database.engine.begin() as conn:
        source_offset = _claim(conn, SOURCE_CONSUMER)
        # Never forward: records after either offset are applied again, and keys skip the ones
        # the rebuilt tables already count.
        restart = min(source_offset, _claim(conn, REPORTS_CONSUMER))
        path = Path(tmp) / "events.parquet"
        events = _export(conn, tenant_id, path, progress)
        duck = duckdb.connect(
            config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
        )
        try:
            params = {"path": str(path)}
            duck.execute(_PREPARED, params)
            duck.execute(_QUALIFIED)
            duck.execute(_AUDIENCE_PREPARED)
            counts: dict[str, int] = {}
            cleared = (
                report_keys,
                report_visitors,
                report_daily,
                report_orders,
                report_audience_daily,
                report_audience_visitors,
            )
            for table in cleared:
                clear = delete(table)
                if tenant_id is not None:
                    clear = clear.where(table.c.tenant_id == tenant_id)
                conn.execute(clear)
            steps: tuple[tuple[Any, str, dict[str, Any]], ...] = (
                (report_keys, _KEYS, {"path": str(path)}),
                (
                    report_visitors,
                    _VISITORS,
                    {"path": str(path), "pre_ms": PRE_PERIOD_DAYS * 86_400_000},
                ),
                (report_daily, _DAILY, {}),
                (report_orders, _ORDERS, {}),
                (report_audience_daily, _AUDIENCE_DAILY, {}),
                (report_audience_visitors, _AUDIENCE_VISITORS, {}),
            )
            for table, sql, extra in steps:
                written = 0
                for batch in _rows(duck, sql, extra):
                    conn.execute(insert(table), batch)
                    written += len(batch)
                    if progress:
                        progress(table.name, written, 0)
                counts[table.name] = written
        finally:
            duck.close()
        c = event_consumers.c
        conn.execute(
            update(event_consumers)
            .where(c.name == REPORTS_CONSUMER)
            .values(offset=restart, updated_ms=now_ms())
        )
    return Rebuilt(
        events=events,
        visitors=counts["report_visitors"],
        daily_rows=counts["report_daily"],
        orders=counts["report_orders"],
    )
