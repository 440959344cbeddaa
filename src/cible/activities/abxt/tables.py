"""Tables of A/B and Experience Targeting activities, their references and their changelog.

The definition (options, locations, experiences, metrics, ...) is kept whole as the v3 JSON in
``definition``: it is always read and written whole, and only the columns a list filters or sorts
on are split out. ``activity_refs`` indexes the offers and audiences a definition references, so
that "which approved activity uses offer 7?" is one indexed query (delete guards, publishing).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from cible.store.base import Base, UTCDateTime, utcnow


class Activity(Base):
    __tablename__ = "activities"
    # Adobe Admin API, ABActivity.thirdPartyId: "unique among activities" (Cible: per tenant).
    __table_args__ = (UniqueConstraint("tenant_id", "third_party_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="RESTRICT"))
    # "ab" or "xt"
    type: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(250))
    third_party_id: Mapped[str | None] = mapped_column(String(250), nullable=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=5)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The v3 body without the columns above, as JSON text.
    definition: Mapped[str] = mapped_column(Text)
    # True once the activity has been approved: from then on its changes reach the artifact.
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_by: Mapped[str] = mapped_column(String(64), default="")


class ActivityRef(Base):
    """One offer or audience that an activity's definition references."""

    __tablename__ = "activity_refs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), index=True
    )
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    # "offer" or "audience"
    kind: Mapped[str] = mapped_column(String(16))
    ref_id: Mapped[int] = mapped_column(Integer, index=True)


class ActivityChange(Base):
    """One changelog entry (Adobe's ``ActivityChangelog``): who changed which parameters."""

    __tablename__ = "activity_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), index=True
    )
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_by: Mapped[str] = mapped_column(String(64), default="")
    # {name: {previousValue, changedValue}} as JSON text
    parameters: Mapped[str] = mapped_column(Text)
    # Adobe's ``reportDataReset``: the entry records an activity reset (docs/activities.md).
    report_data_reset: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
