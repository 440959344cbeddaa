"""Report aggregates, materialised from the event log by ``cible.reports.consumers``.

Two shapes, because statistics and counts need different things (docs/reports.md, "Storage"):

- ``report_visitors``: one row per visitor and activity, the unit every statistic is computed on
  (experience, first exposure, visits, conversions per metric, revenue, pre-period value);
- ``report_daily``: additive counts per activity, environment, experience, metric and UTC day, so
  that a report over any interval is a small ``SUM``. Revenue sums of squares are stored as the
  daily change of each visitor's squared total, which keeps them additive and exact.

``report_keys`` remembers which event keys were counted (a re-sent notification or a replayed
log stretch counts once), ``report_orders`` feeds the orders (audit) report and
``report_allocations`` keeps the history of auto-allocate weights.

Reporting audiences (Adobe ``reportingAudiences``): ``report_audience_daily`` holds the same
counts as ``report_daily`` for the visitors of one reporting audience, and
``report_audience_visitors`` names those visitors (for the statistics read per visitor and the
orders report). ``report_resets`` keeps, per reset activity, the event-log time before which its
events no longer count (docs/reports.md, "Activity reset"). Core tables: the consumer
writes them in batches, where an ORM session's bookkeeping would cost more than the SQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from cible.store.base import Base

__all__ = [
    "report_allocations",
    "report_audience_daily",
    "report_audience_visitors",
    "report_daily",
    "report_keys",
    "report_orders",
    "report_resets",
    "report_visitors",
]


def _tenant() -> Column[int]:
    return Column(
        "tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )


report_keys = Table(
    "report_keys",
    Base.metadata,
    _tenant(),
    # The event key's MD5, low 64 bits as a signed integer: an integer B-tree is cheaper to
    # write than the key's text, and two keys of one tenant collide once in ~10^19 pairs.
    Column("key_hash", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant_id", "key_hash"),
    # SQLite: the primary key is the table (no rowid B-tree beside it): one write per row.
    sqlite_with_rowid=False,
)

report_visitors = Table(
    "report_visitors",
    Base.metadata,
    _tenant(),
    Column("activity_id", BigInteger, nullable=False),
    Column("visitor", String(128), nullable=False),
    Column("experience_id", Integer, nullable=False),
    # 0: the event did not say (the tenant's default environment).
    Column("environment_id", BigInteger, nullable=False),
    Column("first_ms", BigInteger, nullable=False),
    Column("last_ms", BigInteger, nullable=False),
    Column("session_id", String(128), nullable=True),
    Column("visits", Integer, nullable=False),
    Column("impressions", Integer, nullable=False),
    Column("orders", Integer, nullable=False),
    Column("revenue", Float, nullable=False),
    # The visitor's revenue in the days before first exposure (CUPED); NULL when unknown.
    Column("pre_value", Float, nullable=True),
    # {metric: [conversions, visit number of the last one]} as JSON text
    Column("conversions", Text, nullable=False),
    # The reporting audience local ids the visitor qualified for, as a sorted JSON list; NULL
    # for none.
    Column("reporting_audiences", Text, nullable=True),
    PrimaryKeyConstraint("tenant_id", "activity_id", "visitor"),
    sqlite_with_rowid=False,
)


def _daily_totals() -> list[Column[Any]]:
    """The counts of one day of one metric, the same in every daily table."""
    return [
        Column("visitors", Integer, nullable=False),
        Column("visits", Integer, nullable=False),
        Column("impressions", Integer, nullable=False),
        Column("value_sum", Float, nullable=False),
        Column("value_sq_sum", Float, nullable=False),
    ]


report_daily = Table(
    "report_daily",
    Base.metadata,
    _tenant(),
    Column("activity_id", BigInteger, nullable=False),
    Column("environment_id", BigInteger, nullable=False),
    Column("experience_id", Integer, nullable=False),
    # "entry", "mbox:<name>", "click:<mbox>" or "order"
    Column("metric", String(260), nullable=False),
    # Days since 1970-01-01 (UTC).
    Column("day", Integer, nullable=False),
    *_daily_totals(),
    PrimaryKeyConstraint(
        "tenant_id", "activity_id", "environment_id", "experience_id", "metric", "day"
    ),
    sqlite_with_rowid=False,
)

report_audience_daily = Table(
    "report_audience_daily",
    Base.metadata,
    _tenant(),
    Column("activity_id", BigInteger, nullable=False),
    # The activity's reportingAudienceLocalId.
    Column("reporting_audience", Integer, nullable=False),
    Column("environment_id", BigInteger, nullable=False),
    Column("experience_id", Integer, nullable=False),
    Column("metric", String(260), nullable=False),
    Column("day", Integer, nullable=False),
    *_daily_totals(),
    PrimaryKeyConstraint(
        "tenant_id",
        "activity_id",
        "reporting_audience",
        "environment_id",
        "experience_id",
        "metric",
        "day",
    ),
    sqlite_with_rowid=False,
)

report_audience_visitors = Table(
    "report_audience_visitors",
    Base.metadata,
    _tenant(),
    Column("activity_id", BigInteger, nullable=False),
    Column("reporting_audience", Integer, nullable=False),
    Column("visitor", String(128), nullable=False),
    # When the visitor first qualified (the event's time).
    Column("qualified_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant_id", "activity_id", "reporting_audience", "visitor"),
    sqlite_with_rowid=False,
)

report_resets = Table(
    "report_resets",
    Base.metadata,
    _tenant(),
    Column("activity_id", BigInteger, nullable=False),
    # Events the log accepted at or before this time (epoch ms) never count for the activity.
    Column("reset_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant_id", "activity_id"),
)

report_orders = Table(
    "report_orders",
    Base.metadata,
    _tenant(),
    Column("activity_id", BigInteger, nullable=False),
    Column("order_id", String(250), nullable=False),
    Column("experience_id", Integer, nullable=False),
    Column("environment_id", BigInteger, nullable=False),
    Column("visitor", String(128), nullable=False),
    Column("occurred_ms", BigInteger, nullable=False),
    Column("total", Float, nullable=True),
    PrimaryKeyConstraint("tenant_id", "activity_id", "order_id"),
    sqlite_with_rowid=False,
)

report_allocations = Table(
    "report_allocations",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    _tenant(),
    Column("activity_id", BigInteger, nullable=False),
    Column("computed_ms", BigInteger, nullable=False),
    Column("algorithm", String(16), nullable=False),
    Column("phase", String(16), nullable=False),
    Column("winner", Integer, nullable=True),
    # [{experienceLocalId, weight, visitors, conversions}] as JSON text
    Column("weights", Text, nullable=False),
    Index("ix_report_allocations_activity", "tenant_id", "activity_id", "computed_ms"),
)
