"""The ``artifacts`` table: the current ``rules.json`` of each tenant, environment and property.

One row per (tenant, environment, property token); the rebuild job replaces the body in one
transaction, so readers see the previous artifact until the new one is committed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cible.store.base import Base, UTCDateTime


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("tenant_id", "environment", "property_token"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # The ``{environment}`` of the URL: the environment's lower-cased name.
    environment: Mapped[str] = mapped_column(String(250))
    # "" for the artifact without a property token.
    property_token: Mapped[str] = mapped_column(String(64), default="")
    # The artifact as compact UTF-8 JSON (``cible.artifacts.dump_artifact``).
    body: Mapped[bytes] = mapped_column(LargeBinary)
    etag: Mapped[str] = mapped_column(String(80))
    # The same activities compiled with the rules an on-device SDK cannot evaluate (profile,
    # visitor, segment audiences), for the delivery API, which has that data. Null on rows
    # stored before migration 0006; readers then fall back to ``body``.
    server_body: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    server_etag: Mapped[str | None] = mapped_column(String(80), nullable=True)
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime)
