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
    session: Session,
    tenant_id: int,
    environment: str,
    property_token: str = "",
    *,
    server: bool = False,
) -> StoredArtifact | None:
    """The artifact now served for ``environment`` (a lower-cased environment name), or None
    when none was built yet. ``server=True`` gives the delivery API's variant, which keeps the
    rules of activities that need server-side data."""
    row = session.scalar(
        select(Artifact).where(
            Artifact.tenant_id == tenant_id,
            Artifact.environment == environment,
            Artifact.property_token == property_token,
        )
    )
    if row is None:
        return None
    if server and row.server_body is not None and row.server_etag is not None:
        return StoredArtifact(row.server_body, row.server_etag, row.generated_at)
    return StoredArtifact(body=row.body, etag=row.etag, generated_at=row.generated_at)


def replace(
    session: Session,
    tenant_id: int,
    environment: str,
    body: bytes,
    generated_at: datetime,
    property_token: str = "",
    server_body: bytes | None = None,
) -> StoredArtifact:
    """Store ``body`` as the artifact of ``environment``, in the caller's transaction, with the
    delivery API's variant ``server_body`` (``body`` itself when not given)."""
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
    server_body = body if server_body is None else server_body
    row.server_body, row.server_etag = server_body, etag_of(server_body)
    session.flush()
    return StoredArtifact(body=body, etag=tag, generated_at=generated_at)


def prune(session: Session, tenant_id: int, keep: set[tuple[str, str]]) -> None:
    """Drop artifacts whose (environment, property token) is no longer built."""
    for row in session.scalars(select(Artifact).where(Artifact.tenant_id == tenant_id)):
        if (row.environment, row.property_token) not in keep:
            session.delete(row)
    session.flush()
