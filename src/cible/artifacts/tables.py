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
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime)
