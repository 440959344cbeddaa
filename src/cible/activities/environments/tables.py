"""The ``environments`` table: Adobe's host groups (Production, Staging, Development, ...).

Each environment gets its own rules artifact, named by the environment's lower-cased name.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from cible.store.base import Base, UTCDateTime, utcnow


class Environment(Base):
    __tablename__ = "environments"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(250))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    serve_inactive_activities: Mapped[bool] = mapped_column(Boolean, default=False)
    # Adobe's "default environment for new hosts" (``/environments/defaults``,
    # ``newHostEnvironmentId``); ``is_default`` is the reporting default. One of each per tenant.
    new_hosts: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def artifact_name(self) -> str:
        """The ``{environment}`` of ``/{client}/{environment}/v1/rules.json``."""
        return self.name.lower()
