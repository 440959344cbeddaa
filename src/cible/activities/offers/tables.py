"""The ``offers`` table: one row per content or JSON offer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cible.store.base import Base, UTCDateTime, utcnow


class Offer(Base):
    __tablename__ = "offers"
    # Adobe Admin API, offers: names are unique; Cible scopes that to a tenant's workspace.
    __table_args__ = (UniqueConstraint("tenant_id", "workspace_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="RESTRICT"))
    type: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(250))
    # HTML for content offers, the JSON text for JSON offers.
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_by: Mapped[str] = mapped_column(String(64), default="")
