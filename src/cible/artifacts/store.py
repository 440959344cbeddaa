"""Stored ``rules.json`` artifacts: read the current one, replace it.

The delivery API and the ``rules.json`` route read with ``current``; the rebuild job writes with
``replace``. The ETag is a strong validator derived from the bytes, so equal artifacts (a rebuild
that changed nothing) keep their ETag and clients keep their cache.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cible.artifacts.tables import Artifact


@dataclass(frozen=True)
class StoredArtifact:
    """An artifact as served: its bytes, quoted ETag and generation time."""

    body: bytes
    etag: str
    generated_at: datetime


def etag_of(body: bytes) -> str:
    """A strong ETag (quoted) for ``body``."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def current(
    session: Session, tenant_id: int, environment: str, property_token: str = ""
) -> StoredArtifact | None:
    """The artifact now served for ``environment`` (a lower-cased environment name), or None
    when none was built yet."""
    row = session.scalar(
        select(Artifact).where(
            Artifact.tenant_id == tenant_id,
            Artifact.environment == environment,
            Artifact.property_token == property_token,
        )
    )
    if row is None:
        return None
    return StoredArtifact(body=row.body, etag=row.etag, generated_at=row.generated_at)


def replace(
    session: Session,
    tenant_id: int,
    environment: str,
    body: bytes,
    generated_at: datetime,
    property_token: str = "",
) -> StoredArtifact:
    """Store ``body`` as the artifact of ``environment``, in the caller's transaction."""
    row = session.scalar(
        select(Artifact).where(
            Artifact.tenant_id == tenant_id,
            Artifact.environment == environment,
            Artifact.property_token == property_token,
        )
    )
    tag = etag_of(body)
    if row is None:
        row = Artifact(tenant_id=tenant_id, environment=environment, property_token=property_token)
        session.add(row)
    row.body, row.etag, row.generated_at = body, tag, generated_at
    session.flush()
    return StoredArtifact(body=body, etag=tag, generated_at=generated_at)


def prune(session: Session, tenant_id: int, keep: set[tuple[str, str]]) -> None:
    """Drop artifacts whose (environment, property token) is no longer built."""
    for row in session.scalars(select(Artifact).where(Artifact.tenant_id == tenant_id)):
        if (row.environment, row.property_token) not in keep:
            session.delete(row)
    session.flush()
