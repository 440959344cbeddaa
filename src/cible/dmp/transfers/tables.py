"""The data exchange's tables: destinations, their segment mappings, real-time messages, cursors.

A destination's type-specific settings (URL templates, cookie format, the real-time endpoint
and its signing) are one JSON document in ``config``; they are read as a whole whenever the
destination is used, and never queried field by field. ``dmp_s2s_messages`` is the real-time
outbox: a message is written, with the advance of the ``dmp_transfer_cursors`` row past the
membership changes it carries, in one transaction, so a change is never lost nor sent twice in
two messages; the message keeps its body, hence its idempotency key, across retries.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cible.store.base import Base, UTCDateTime, utcnow

_TENANT = "tenants.id"
_DESTINATION = "dmp_destinations.id"

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"


class Destination(Base):
    """A URL (``PUSH``), cookie (``ADS``) or real-time HTTP (``S2S``) destination."""

    __tablename__ = "dmp_destinations"
    __table_args__ = (Index("ix_dmp_destinations_tenant_type", "tenant_id", "destination_type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey(_TENANT, ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    destination_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    # JSON list of data export labels this destination carries (what it uses data for).
    data_export_labels: Mapped[str] = mapped_column(Text, default="[]")
    config: Mapped[str] = mapped_column(Text, default="{}")
    create_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DestinationMapping(Base):
    """A segment sent to a destination, with its alias, URLs and dates."""

    __tablename__ = "dmp_destination_mappings"
    __table_args__ = (
        UniqueConstraint("destination_id", "sid"),
        Index("ix_dmp_destination_mappings_tenant_sid", "tenant_id", "sid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey(_TENANT, ondelete="CASCADE"))
    destination_id: Mapped[int] = mapped_column(ForeignKey(_DESTINATION, ondelete="CASCADE"))
    sid: Mapped[int] = mapped_column(ForeignKey("dmp_segments.id", ondelete="CASCADE"))
    trait_alias: Mapped[str] = mapped_column(String(255), default="")
    value_alias: Mapped[str] = mapped_column(String(255), default="")
    url: Mapped[str] = mapped_column(Text, default="")
    secure_url: Mapped[str] = mapped_column(Text, default="")
    start_date: Mapped[str | None] = mapped_column(String(10), nullable=True)  # yyyy-mm-dd
    end_date: Mapped[str | None] = mapped_column(String(10), nullable=True)
    create_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class S2SMessage(Base):
    """One real-time message to an ``S2S`` destination, with its delivery state."""

    __tablename__ = "dmp_s2s_messages"
    __table_args__ = (Index("ix_dmp_s2s_messages_destination_state", "destination_id", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey(_TENANT, ondelete="CASCADE"))
    destination_id: Mapped[int] = mapped_column(ForeignKey(_DESTINATION, ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    body: Mapped[str] = mapped_column(Text)
    users: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    delivered_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class InboundFile(Base):
    """One inbound onboarding file: its progress while applied, then its receipt."""

    __tablename__ = "dmp_inbound_files"
    __table_args__ = (
        UniqueConstraint("tenant_id", "file_name", "md5"),
        Index("ix_dmp_inbound_files_data_source", "data_source_id", "started_ms"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey(_TENANT, ondelete="CASCADE"))
    data_source_id: Mapped[int] = mapped_column(
        ForeignKey("dmp_data_sources.id", ondelete="CASCADE")
    )
    file_name: Mapped[str] = mapped_column(String(255))
    md5: Mapped[str] = mapped_column(String(32))
    bytes: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))  # processing | done
    lines_done: Mapped[int] = mapped_column(BigInteger, default=0)
    receipt: Mapped[str] = mapped_column(Text)
    # Devices stored and user ids with failed traits so far (JSON lists), for a resumed count.
    devices: Mapped[str] = mapped_column(Text, default="[]")
    failed_users: Mapped[str] = mapped_column(Text, default="[]")
    started_ms: Mapped[int] = mapped_column(BigInteger)
    finished_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class TransferCursor(Base):
    """How far a consumer of ``dmp_membership_changes`` has read (the last change id taken)."""

    __tablename__ = "dmp_transfer_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)


class ExportRun(Base):
    """One scheduled run of a batch file destination (``cible.dmp.transfers.export``).

    A run is known by its destination, scheduled time and mode, so a restarted or repeated job
    finds it; ``since_change`` is fixed when the run is created and ``files`` (JSON, AAM's
    ``.info`` entries) written when it is done.
    """

    __tablename__ = "dmp_export_runs"
    __table_args__ = (
        UniqueConstraint("destination_id", "scheduled_ms", "mode"),
        Index("ix_dmp_export_runs_destination_started", "destination_id", "started_ms"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey(_TENANT, ondelete="CASCADE"))
    destination_id: Mapped[int] = mapped_column(ForeignKey(_DESTINATION, ondelete="CASCADE"))
    scheduled_ms: Mapped[int] = mapped_column(BigInteger)
    mode: Mapped[str] = mapped_column(String(8))  # full | iter
    state: Mapped[str] = mapped_column(String(16))  # running | done | failed
    engine: Mapped[str] = mapped_column(String(32))
    since_change: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    cutoff_change: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    skipped: Mapped[int] = mapped_column(BigInteger, default=0)
    files: Mapped[str] = mapped_column(Text, default="[]")
    manifest: Mapped[str] = mapped_column(String(255), default="")
    location: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_ms: Mapped[int] = mapped_column(BigInteger)
    finished_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
