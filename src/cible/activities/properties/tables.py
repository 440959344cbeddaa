"""The ``properties`` table (Adobe's at.js properties) and the workspaces each belongs to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cible.store.base import Base, UTCDateTime, utcnow


class Property(Base):
    __tablename__ = "properties"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(250))
    description: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(16))
    # The at_property token a delivery request sends as ``property.token``; unique across
    # tenants, so a token alone names its property.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_by: Mapped[str] = mapped_column(String(64), default="")
    links: Mapped[list[PropertyWorkspace]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="PropertyWorkspace.workspace_id"
    )

    @property
    def workspace_ids(self) -> list[int]:
        return [link.workspace_id for link in self.links]


class PropertyWorkspace(Base):
    """A property belongs to one or more workspaces; a workspace in use cannot be deleted."""

    __tablename__ = "property_workspaces"

    property_id: Mapped[int] = mapped_column(
        ForeignKey("properties.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
