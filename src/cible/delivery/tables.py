"""Durable delivery events: impressions, displays, clicks, conversions and orders.

Every row has an ``event_key`` unique per tenant, derived from what the client sent (the
notification id, the impression id, the order id), so a re-sent notification or a repeated
order is stored once: at-least-once senders (Adobe's SDKs, Cible's own) get exactly-once counts.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from cible.store.base import Base, UTCDateTime, utcnow


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("tenant_id", "event_key"),
        Index("ix_events_tenant_activity_time", "tenant_id", "activity_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    event_key: Mapped[str] = mapped_column(String(400))
    kind: Mapped[str] = mapped_column(String(16))
    activity_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    experience_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mbox: Mapped[str | None] = mapped_column(String(250), nullable=True)
    visitor: Mapped[str] = mapped_column(String(128))
    session_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    order_id: Mapped[str | None] = mapped_column(String(250), nullable=True)
    revenue: Mapped[float | None] = mapped_column(Float, nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # An event of a QA call (``qaMode``, docs/qa-and-trace.md): kept, never counted in reports.
    qa: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The activity's reporting audiences (``reportingAudienceLocalId``) the visitor qualified
    # for in the call that recorded the event, as a JSON list; NULL for none (docs/reports.md).
    reporting_audiences: Mapped[str | None] = mapped_column(Text, nullable=True)
