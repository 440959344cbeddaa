"""The ``mboxes`` table: every mbox a tenant's delivery calls sent or its activities declare."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cible.store.base import Base, UTCDateTime


class Mbox(Base):
    __tablename__ = "mboxes"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(250))
    # When a delivery call last named it; None for an mbox only an activity declares.
    last_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Whether an activity's locations or metrics name it.
    declared: Mapped[bool] = mapped_column(Boolean, default=False)
    # The mbox parameter names delivery calls sent with it: a sorted JSON list.
    parameters: Mapped[str] = mapped_column(Text, default="[]")
