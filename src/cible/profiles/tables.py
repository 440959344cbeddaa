"""Visitor profiles, the ids that lead to them, sticky assignments and bulk-update batches.

A profile is found through ``profile_ids``: one row per (kind, value) — a tntId (without its
location-hint suffix), a thirdPartyId, an authenticated customer id or a Marketing Cloud
visitor id — so that every id a visitor is known by leads to the same profile (Adobe's profile
merge). Attributes are one JSON document per profile (``{name: [value, modifiedAtMs]}``): a
profile is read and written whole on each delivery call, never queried by attribute.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cible.store.base import Base, UTCDateTime, utcnow


class Profile(Base):
    """One visitor's state; ``version`` grows with every write (compare-and-set, docs/profiles.md).

    The ORM paths (Profile API, bulk updates) get the check from ``version_id_col``: their UPDATE
    names the version they read and fails with ``StaleDataError`` when another writer got there
    first; the delivery path writes the same column through ``cible.profiles.state``.
    """

    __tablename__ = "profiles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=1, server_default="1")
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    tnt_id: Mapped[str] = mapped_column(String(128))
    third_party_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    attributes: Mapped[str] = mapped_column(Text, default="{}")
    session_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    visit_count: Mapped[int] = mapped_column(Integer, default=0)
    first_session_start: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    session_start: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_seen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    days_since_last_visit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __mapper_args__ = {"version_id_col": version}


class ProfileId(Base):
    """One id a visitor is known by; ``kind`` is tnt, 3p, mcid or cust:<integrationCode>."""

    __tablename__ = "profile_ids"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256), primary_key=True)
    profile_id: Mapped[int] = mapped_column(
        ForeignKey("profiles.id", ondelete="CASCADE"), index=True
    )


class Assignment(Base):
    """The experience a visitor got in an activity; A/B ones are sticky (docs/profiles.md)."""

    __tablename__ = "visitor_assignments"
    __table_args__ = (Index("ix_visitor_assignments_tenant_activity", "tenant_id", "activity_id"),)

    profile_id: Mapped[int] = mapped_column(
        ForeignKey("profiles.id", ondelete="CASCADE"), primary_key=True
    )
    activity_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    experience_id: Mapped[int] = mapped_column(Integer)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProfileBatch(Base):
    """A bulk profile update, kept whole from the moment it is accepted until it is processed."""

    __tablename__ = "profile_batches"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    api_version: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(Integer)
    consumed: Mapped[int] = mapped_column(Integer, default=0)
    successful: Mapped[int] = mapped_column(Integer, default=0)
    not_found: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ProfileBatchRow(Base):
    """The outcome of one row of a batch: success, notFound or failed (with why)."""

    __tablename__ = "profile_batch_rows"

    batch_id: Mapped[str] = mapped_column(
        ForeignKey("profile_batches.id", ondelete="CASCADE"), primary_key=True
    )
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    visitor: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))
    message: Mapped[str | None] = mapped_column(String(250), nullable=True)


class ProfileApiSettings(Base):
    """Adobe's per-tenant "Require Authentication" of the Profile APIs (off unless a row says on).

    Adobe: Administration > Implementation > Profile API; Cible: ``cible tenants profile-auth``.
    """

    __tablename__ = "profile_api_settings"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    require_auth: Mapped[bool] = mapped_column(Boolean, default=False)
