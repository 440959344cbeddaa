"""Per-tenant keys for event tokens, derived from the stored signing keys.

Event tokens (``cible.artifacts.tokens``) carry an HMAC tag so the delivery API can tell a token
it minted from a made-up one. Signed with one key for every tenant, a token published in one
tenant's ``rules.json`` would verify for every other tenant holding the same activity id. Each
tenant's key is therefore ``HMAC-SHA256(signing key, "cible.event-token|<tenant id>")`` over the
stored signing keys (``cible.tenants.keys``): nothing more to store or back up, unguessable
without the database, different per tenant, and rotated with ``cible keys rotate``. The newest key
signs the tokens of a rebuilt artifact; the keys a rotation retired keep verifying until they
retire (``CIBLE_TOKEN_TTL_SECONDS`` after the rotation), so tokens an SDK read from an artifact
served before the rotation still count (docs/security.md, "Event tokens").

``CIBLE_SECRET_KEY`` does not take part: it signs access tokens only, and the stored keys exist
whether it is set or not.

    >>> keys = TenantTokenKeys(db)  # doctest: +SKIP
    >>> signing, *still_accepted = keys.get(tenant_id)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from cible.events import DatabaseUnavailable
from cible.store import Database
from cible.store.base import utcnow
from cible.tenants.keys import keyring

__all__ = ["TenantTokenKeys", "derive", "event_token_keys"]

REFRESH_SECONDS = 30.0
"""How long a process keeps a tenant's keys before reading them again (a rotation reaches
every process within this time)."""


def derive(signing_secret: str, tenant_id: int) -> bytes:
    """The event-token key of one tenant under one signing key."""
    message = f"cible.event-token|{tenant_id}".encode()
    return hmac.new(signing_secret.encode(), message, hashlib.sha256).digest()


def event_token_keys(session: Session, tenant_id: int, *, now: datetime) -> tuple[bytes, ...]:
    """The tenant's keys in force: the signing one first, then those still verifying."""
    ring = keyring(session, override=None, now=now)
    others = [key for key in ring.accepted if key.kid != ring.signing.kid]
    return tuple(derive(key.secret, tenant_id) for key in (ring.signing, *reversed(others)))


class TenantTokenKeys:
    """Each tenant's event-token keys, read from the database at most every ``refresh_seconds``.

    ``fresh`` answers without I/O, so an event-loop caller reads in a thread only on a miss.
    """

    def __init__(
        self,
        db: Database,
        refresh_seconds: float = REFRESH_SECONDS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self._cache: dict[int, tuple[tuple[bytes, ...], float]] = {}
        self._lock = threading.Lock()

    def fresh(self, tenant_id: int) -> bool:
        hit = self._cache.get(tenant_id)
        return hit is not None and time.monotonic() - hit[1] < self.refresh_seconds

    def get(self, tenant_id: int) -> tuple[bytes, ...]:
        hit = self._cache.get(tenant_id)
        now = time.monotonic()
        if hit is not None and now - hit[1] < self.refresh_seconds:
            return hit[0]
        try:
            with self.db.session() as session:
                found = event_token_keys(session, tenant_id, now=self.clock())
        except DBAPIError as error:
            # The delivery API answers 503 and the caller resends (docs/delivery.md).
            raise DatabaseUnavailable(f"the database could not be read: {error.orig}") from None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[tenant_id] = (found, now)
        return found
