"""The tables of what shapes a recommendation after its criteria: designs, collections, global
exclusions and promotions (Adobe Recommendations API, "Designs", "Collections", "Exclusions",
"Promotions").

All four belong to the whole tenant (docs/recommendations.md, "Access"); names are unique per
tenant (Adobe: "unique name"). Each keeps the client's JSON for its rules, so what a GET returns
is what was sent; only what delivery filters on has a column of its own.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cible.store.base import Base, UTCDateTime, utcnow


class RecsDesign(Base):
    __tablename__ = "recs_designs"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(250))
    # ``HTML``, ``JSON`` or ``OTHER`` (Adobe's default).
    type: Mapped[str] = mapped_column(String(8), default="OTHER")
    # The Velocity script (Adobe: at most 65,000 characters).
    script: Mapped[str] = mapped_column(Text)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_by: Mapped[str] = mapped_column(String(64), default="")


class RecsCollection(Base):
    __tablename__ = "recs_collections"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(250))
    description: Mapped[str] = mapped_column(String(1000), default="")
    # JSON list of ``{attribute: {operator: [values]}}`` rules, ANDed.
    rules: Mapped[str] = mapped_column(Text)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_by: Mapped[str] = mapped_column(String(64), default="")


class RecsExclusion(Base):
    __tablename__ = "recs_exclusions"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(250))
    description: Mapped[str] = mapped_column(String(1000), default="")
    # JSON ``{attribute: {operator: values}}``; every attribute must match to exclude an item.
    rule: Mapped[str] = mapped_column(Text)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_by: Mapped[str] = mapped_column(String(64), default="")


class RecsPromotion(Base):
    __tablename__ = "recs_promotions"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(250))
    description: Mapped[str] = mapped_column(String(1000), default="")
    # The promotion as the client sent it (type, key, schedule, order, configuration, rules,
    # entityIds), read-only fields removed.
    body: Mapped[str] = mapped_column(Text)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_by: Mapped[str] = mapped_column(String(64), default="")
