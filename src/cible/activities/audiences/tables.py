"""The ``audiences`` table: one row per reusable audience, kept after deletion.

Deleting an audience only sets ``deleted_at`` (Adobe returns the deleted audience with ``status:
deleted``), so activities and reports that name it keep a row to point at. Names are unique among
a workspace's live audiences; the service checks that, since a database constraint would also
count deleted rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cible.store.base import Base, UTCDateTime, utcnow


class Audience(Base):
    __tablename__ = "audiences"
    __table_args__ = (Index("ix_audiences_tenant_segment", "tenant_id", "segment_id", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(250))
    description: Mapped[str] = mapped_column(Text, default="")
    # The Admin API ``targetRule`` as JSON text, validated by cible.artifacts.compile_target_rule.
    target_rule: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    modified_by: Mapped[str] = mapped_column(String(64), default="")
    # "target" for audiences made here; "cloud" for the audience manager's segments, kept in step
    # with their segment (``segment_id``) by cible.dmp.audiences and read-only here (Adobe's
    # "Experience Cloud" source).
    origin: Mapped[str] = mapped_column(String(16), default="target", server_default="target")
    segment_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
