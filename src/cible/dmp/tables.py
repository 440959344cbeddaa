"""The audience manager's tables: taxonomy (data sources, folders, traits, segments), device state.

The taxonomy is edited through the ``/v1`` REST API with the ORM. A device's trait realizations
and segment memberships are one JSON document per ``(tenant, uuid)`` in ``dmp_devices`` with a
``version`` column: the DCS ``/event`` path reads it, applies the call and writes it back with
``UPDATE ... WHERE version = :expected`` (SQLAlchemy Core, no ORM), retrying on a lost race, so
two concurrent calls for one device lose no realization (docs/audience-manager.md, "Device
state"). ``dmp_rules`` holds a per-tenant counter bumped on every taxonomy change so that each
worker knows when its compiled rules are stale.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cible.store.base import Base, UTCDateTime, utcnow

_TENANT = "tenants.id"


class DataSource(Base):
    """AAM data source: an ID namespace (DPID) and the flags that govern its data."""

    __tablename__ = "dmp_data_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey(_TENANT, ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    integration_code: Mapped[str | None] = mapped_column(String(255), nullable=True)
    id_type: Mapped[str] = mapped_column(String(32), default="COOKIE")
    inbound_s2s: Mapped[bool] = mapped_column(Boolean, default=True)
    outbound_s2s: Mapped[bool] = mapped_column(Boolean, default=False)
    share_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    authenticated_profile: Mapped[bool] = mapped_column(Boolean, default=False)
    # The profile merge rule of segments naming this data source in mergeRuleDataSourceId:
    # DEVICE_ONLY, LAST_AUTHENTICATED or CURRENT_AUTHENTICATED (cible.dmp.merge).
    merge_rule: Mapped[str] = mapped_column(
        String(32), default="DEVICE_ONLY", server_default="DEVICE_ONLY"
    )
    unique_trait_integration_codes: Mapped[bool] = mapped_column(Boolean, default=False)
    unique_segment_integration_codes: Mapped[bool] = mapped_column(Boolean, default=False)
    # "Data retention for inactive customer IDs" (AAM data source settings): declared ids not
    # seen for this many days are deleted by the dmp.retention job (cible.dmp.retention).
    customer_id_retention_days: Mapped[int] = mapped_column(
        Integer, default=720, server_default="720"
    )
    # JSON list of data export labels, e.g. ["PII", "ONSITE_PERSONALIZATION"].
    data_export_restrictions: Mapped[str] = mapped_column(Text, default="[]")
    create_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Folder(Base):
    """A trait or segment storage folder; ``parent_id`` None is a child of the root (0)."""

    __tablename__ = "dmp_folders"
    __table_args__ = (Index("ix_dmp_folders_tenant_kind", "tenant_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey(_TENANT, ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # "traits" | "segments"
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("dmp_folders.id", ondelete="CASCADE"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(255))


class Trait(Base):
    """A rule-based, onboarded or folder trait (``sid``); its rule text is kept as written."""

    __tablename__ = "dmp_traits"
    __table_args__ = (Index("ix_dmp_traits_tenant_folder", "tenant_id", "folder_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey(_TENANT, ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    comments: Mapped[str] = mapped_column(Text, default="")
    trait_type: Mapped[str] = mapped_column(String(32))
    trait_rule: Mapped[str] = mapped_column(Text, default="")
    rule_version: Mapped[int] = mapped_column(Integer, default=1)
    data_source_id: Mapped[int] = mapped_column(
        ForeignKey("dmp_data_sources.id", ondelete="RESTRICT")
    )
    folder_id: Mapped[int] = mapped_column(ForeignKey("dmp_folders.id", ondelete="CASCADE"))
    integration_code: Mapped[str | None] = mapped_column(String(255), nullable=True)
    ttl: Mapped[int] = mapped_column(Integer, default=120)
    event_type: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    create_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TraitRuleVersion(Base):
    """Every rule a trait has had, for ``GET /v1/traits/{sid}/trait-rule/versions``."""

    __tablename__ = "dmp_trait_rule_versions"

    trait_id: Mapped[int] = mapped_column(
        ForeignKey("dmp_traits.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    trait_rule: Mapped[str] = mapped_column(Text)
    create_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Segment(Base):
    __tablename__ = "dmp_segments"
    __table_args__ = (Index("ix_dmp_segments_tenant_folder", "tenant_id", "folder_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey(_TENANT, ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    segment_rule: Mapped[str] = mapped_column(Text)
    data_source_id: Mapped[int] = mapped_column(
        ForeignKey("dmp_data_sources.id", ondelete="RESTRICT")
    )
    merge_rule_data_source_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    folder_id: Mapped[int] = mapped_column(ForeignKey("dmp_folders.id", ondelete="CASCADE"))
    integration_code: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    create_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RulesVersion(Base):
    """Bumped in the transaction of every taxonomy change; DCS workers recompile when it moves."""

    __tablename__ = "dmp_rules"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey(_TENANT, ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class Device(Base):
    """One device profile: realizations and memberships as JSON, written by compare-and-set."""

    __tablename__ = "dmp_devices"
    __table_args__ = (Index("ix_dmp_devices_tenant_seen", "tenant_id", "last_seen_ms"),)

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey(_TENANT, ondelete="CASCADE"), primary_key=True
    )
    uuid: Mapped[str] = mapped_column(String(38), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(Text)
    last_seen_ms: Mapped[int] = mapped_column(BigInteger)
    # Earliest instant a trait of this device expires (TTL); the expiry job reads it.
    expires_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)


class DeviceId(Base):
    """A declared or Experience Cloud id mapped to a device; the most recent mapping wins.

    ``namespace`` is a data source id (DPID) as text, or ``mid`` for an ECID.
    """

    __tablename__ = "dmp_device_ids"
    __table_args__ = (Index("ix_dmp_device_ids_tenant_uuid", "tenant_id", "uuid"),)

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey(_TENANT, ondelete="CASCADE"), primary_key=True
    )
    namespace: Mapped[str] = mapped_column(String(64), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    uuid: Mapped[str] = mapped_column(String(38))
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class OptOut(Base):
    """An opted-out device or declared id (``namespace`` ``uuid``, ``mid`` or a DPID)."""

    __tablename__ = "dmp_opt_outs"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey(_TENANT, ondelete="CASCADE"), primary_key=True
    )
    namespace: Mapped[str] = mapped_column(String(64), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class MembershipChange(Base):
    """Outbox of segment entries and exits, read by destinations (the data-exchange issue)."""

    __tablename__ = "dmp_membership_changes"
    __table_args__ = (Index("ix_dmp_membership_changes_tenant_id", "tenant_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey(_TENANT, ondelete="CASCADE"))
    uuid: Mapped[str] = mapped_column(String(38))
    segment_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[int] = mapped_column(Integer)  # 1 entered, 0 left (AAM real-time Status)
    at_ms: Mapped[int] = mapped_column(BigInteger)


class Population(Base):
    """Unique devices per trait or segment over a window, refreshed by the population job."""

    __tablename__ = "dmp_populations"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey(_TENANT, ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # "trait" | "segment"
    ref_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    days: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0 = total
    uniques: Mapped[int] = mapped_column(BigInteger)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
