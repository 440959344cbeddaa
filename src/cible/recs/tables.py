"""The recommendations catalog, visitor behaviour, criteria and their trained results.

- ``recs_entities``: the catalog, one row per entity id and environment (Adobe Recommendations
  API, "Entities"); predefined numeric attributes have columns so filters can be SQL.
- ``recs_behaviour``: views and purchases per visitor, from the event log (``recs`` topic).
- ``recs_visitors``: what keys need per visitor (last viewed, last purchased, most viewed and
  favourite category scores), kept up to date by the same consumer.
- ``recs_item_days``: views and orders per item per UTC day, aggregated incrementally, so
  popularity over a lookback window is a sum over a few rows.
- ``recs_criteria``: criteria (algorithm, key, lookback, filters) per tenant.
- ``recs_results``: what training produced, one ordered list of entity ids per criteria and key.
- ``recs_models``: item-based criteria's co-occurrence counts, updated incrementally by training.
- ``recs_feeds``: catalog feeds (CSV or Google product feed) with their last run's progress and
  per-row report.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cible.store.base import Base, UTCDateTime, utcnow

# Adobe: entity ids are strings of at most 1,000 characters.
ENTITY_ID_MAX = 1000


class RecsEntity(Base):
    __tablename__ = "recs_entities"
    __table_args__ = (UniqueConstraint("tenant_id", "environment_id", "entity_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    entity_id: Mapped[str] = mapped_column(String(ENTITY_ID_MAX))
    name: Mapped[str] = mapped_column(String(250), default="")
    # JSON list of category strings (Adobe: 1..1000 unique strings of at most 250 characters).
    categories: Mapped[str] = mapped_column(Text, default="[]")
    # JSON object of every other attribute (message, pageUrl, thumbnailUrl, custom ones).
    attributes: Mapped[str] = mapped_column(Text, default="{}")
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    inventory: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    margin: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RecsBehaviour(Base):
    __tablename__ = "recs_behaviour"
    __table_args__ = (
        Index("ix_recs_behaviour_tenant_visitor", "tenant_id", "visitor"),
        Index("ix_recs_behaviour_tenant_time", "tenant_id", "occurred_ms"),
        UniqueConstraint("tenant_id", "event_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    visitor: Mapped[str] = mapped_column(String(128))
    session_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    entity_id: Mapped[str] = mapped_column(String(ENTITY_ID_MAX))
    # ``view`` or ``buy``
    kind: Mapped[str] = mapped_column(String(8))
    occurred_ms: Mapped[int] = mapped_column(BigInteger)
    # A digest of the event-log record's key, the action and the item: a record applied twice
    # (a replay) adds nothing the second time. Null for rows written without a record.
    event_key: Mapped[str | None] = mapped_column(String(64), nullable=True)


class RecsVisitor(Base):
    __tablename__ = "recs_visitors"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    visitor: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_viewed: Mapped[str | None] = mapped_column(String(ENTITY_ID_MAX), nullable=True)
    last_purchased: Mapped[str | None] = mapped_column(String(ENTITY_ID_MAX), nullable=True)
    # JSON: {"views": {id: score}, "categories": {category: score}, "recent": [ids],
    # "purchased": [ids], "session": last session id}
    state: Mapped[str] = mapped_column(Text, default="{}")
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class RecsItemDay(Base):
    __tablename__ = "recs_item_days"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    entity_id: Mapped[str] = mapped_column(String(ENTITY_ID_MAX), primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True)  # days since 1970-01-01 UTC
    views: Mapped[int] = mapped_column(Integer, default=0)
    buys: Mapped[int] = mapped_column(Integer, default=0)


class RecsCriteria(Base):
    __tablename__ = "recs_criteria"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    criteria_group: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(250))
    # The criteria as the client sent it (Adobe's JSON, read-only fields removed).
    body: Mapped[str] = mapped_column(Text)
    trained_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    train_status: Mapped[str] = mapped_column(String(32), default="NOT_RUN")
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_by: Mapped[str] = mapped_column(String(64), default="")


class RecsResult(Base):
    __tablename__ = "recs_results"

    criteria_id: Mapped[int] = mapped_column(
        ForeignKey("recs_criteria.id", ondelete="CASCADE"), primary_key=True
    )
    # "" (no key), "item:<id>", "cat:<category>" or "user:<visitor>"
    key: Mapped[str] = mapped_column(String(ENTITY_ID_MAX + 8), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    # JSON list of entity ids, best first
    items: Mapped[str] = mapped_column(Text)
    trained_ms: Mapped[int] = mapped_column(BigInteger)


class RecsModel(Base):
    """What an incremental training run keeps for the next (``cible.recs.training``): the
    criteria's co-occurrence counts over its window, up to behaviour row ``through_id``."""

    __tablename__ = "recs_models"

    criteria_id: Mapped[int] = mapped_column(
        ForeignKey("recs_criteria.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    # The algorithm and window the counts were made for: another one means a full run.
    signature: Mapped[str] = mapped_column(String(64))
    through_id: Mapped[int] = mapped_column(BigInteger)
    since_ms: Mapped[int] = mapped_column(BigInteger)
    # numpy ``.npz``: item ids, pair counts (CSR), per-item counts.
    state: Mapped[bytes] = mapped_column(LargeBinary)


class RecsFeed(Base):
    __tablename__ = "recs_feeds"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(250))
    # The feed as the client sent it (format, connection, schedule, environment, mapping).
    body: Mapped[str] = mapped_column(Text)
    # The last uploaded file, for feeds whose connection is ``upload``.
    upload: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(32), default="NO_FEED_RUN")
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    # JSON: {"imported": n, "rejected": n, "errors": [{"row": n, "message": ...}], ...}
    report: Mapped[str] = mapped_column(Text, default="{}")
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_by: Mapped[str] = mapped_column(String(64), default="")
