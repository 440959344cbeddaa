"""Where the delivery API gets the artifact it decides with: the ``ArtifactSource`` interface.

The default reads the served artifact (``cible.artifacts.store.current``) and keeps the loaded
``Artifact`` until the stored ETag changes; it re-reads the store at most once per
``refresh_seconds`` per tenant, environment and property token, so a publish reaches every
replica within that delay and a delivery call costs no artifact read. ``peek`` answers from
memory only, so the event loop reads the store (in a thread) only when a refresh is due. Tests
inject their own source through ``app.state.artifact_source``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol

from cible.artifacts import store
from cible.artifacts.store import StoredArtifact
from cible.engine import Artifact, load_artifact
from cible.store import Database

__all__ = ["EMPTY_ARTIFACT", "ArtifactSource", "FixedArtifactSource", "StoreArtifactSource"]

EMPTY_ARTIFACT = load_artifact({"version": "1.0.0", "rules": {"mboxes": {}, "views": {}}})
"""What a tenant with nothing published decides with: every mbox answered without options."""


class ArtifactSource(Protocol):
    """Gives the artifact to decide with for a tenant and environment (None: nothing served).

    ``property_token`` is the request's ``property.token`` (an at.js property, which Adobe calls
    a workspace token); ``""`` when the request names none. The delivery service passes it
    only when the request has one, so a source may omit the parameter.
    """

    def get(
        self, tenant_id: int, client_code: str, environment: str, property_token: str = ""
    ) -> Artifact | None: ...


class FixedArtifactSource:
    """One artifact for every tenant (tests, benchmarks, a single-tenant embedding).

    >>> source = FixedArtifactSource(EMPTY_ARTIFACT)
    >>> source.get(1, "acme", "production") is EMPTY_ARTIFACT
    True
    """

    def __init__(self, artifact: Artifact | None) -> None:
        self.artifact = artifact

    def get(
        self, tenant_id: int, client_code: str, environment: str, property_token: str = ""
    ) -> Artifact | None:
        return self.artifact

    def peek(self, tenant_id: int, environment: str, property_token: str = "") -> Artifact | None:
        """The artifact without I/O (None: ``get`` must be called, in a thread)."""
        return self.artifact


@dataclass
class _Entry:
    etag: str | None
    artifact: Artifact | None
    checked: float


class StoreArtifactSource:
    """Artifacts from the store, loaded once per ETag."""

    def __init__(self, db: Database, refresh_seconds: float = 1.0) -> None:
        self.db = db
        self.refresh_seconds = refresh_seconds
        self._entries: dict[tuple[int, str, str], _Entry] = {}
        self._lock = threading.Lock()

    def peek(self, tenant_id: int, environment: str, property_token: str = "") -> Artifact | None:
        """The loaded artifact while it is fresh, without I/O; None when ``get`` must look."""
        entry = self._entries.get((tenant_id, environment, property_token))
        if entry is None or time.monotonic() - entry.checked >= self.refresh_seconds:
            return None
        return entry.artifact

    def get(
        self, tenant_id: int, client_code: str, environment: str, property_token: str = ""
    ) -> Artifact | None:
        key = (tenant_id, environment, property_token)
        entry = self._entries.get(key)
        now = time.monotonic()
        if entry is not None and now - entry.checked < self.refresh_seconds:
            return entry.artifact
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and now - entry.checked < self.refresh_seconds:
                return entry.artifact
            stored = self._current(tenant_id, environment, property_token)
            etag = stored.etag if stored is not None else None
            if entry is not None and entry.etag == etag:
                entry.checked = now
                return entry.artifact
            artifact = load_artifact(stored.body) if stored is not None else None
            self._entries[key] = _Entry(etag, artifact, now)
            return artifact

    def _current(
        self, tenant_id: int, environment: str, property_token: str
    ) -> StoredArtifact | None:
        # The server variant keeps the rules an SDK cannot decide (profile, visitor, segment
        # audiences): the delivery API has that data.
        with self.db.session() as session:
            stored = store.current(session, tenant_id, environment, property_token, server=True)
            if stored is None and property_token:
                # A property without an artifact of its own (created since the last rebuild, or
                # unknown) decides with the environment's tokenless artifact, as rules.json does.
                stored = store.current(session, tenant_id, environment, "", server=True)
            return stored
