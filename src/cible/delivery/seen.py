"""Mbox and profile-attribute names seen by the delivery API, recorded without a write per call.

Names are buffered in memory per tenant and flushed through the Admin API's services
(``cible.activities.mboxes.service.record_seen`` and
``cible.activities.profileattrs.service.record_profile_attributes``) every ``interval`` seconds
or once ``max_names`` names are pending, whichever comes first. A crash loses at most one
interval of names; the next call of the same mbox records it again.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from cible.store import Database

__all__ = ["SeenNames"]

log = logging.getLogger("cible.delivery")


def _service(module: str, name: str) -> Callable[..., Any] | None:
    try:
        return getattr(importlib.import_module(module), name, None)
    except ModuleNotFoundError:
        return None


class SeenNames:
    """The buffer: ``add`` on the hot path (no I/O), ``flush`` when due or on shutdown."""

    def __init__(self, db: Database, interval: float = 10.0, max_names: int = 1000) -> None:
        self.db = db
        self.interval = interval
        self.max_names = max_names
        self._mboxes: dict[int, dict[str, set[str]]] = {}
        self._attributes: dict[int, set[str]] = {}
        self._pending = 0
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()

    def add(
        self,
        tenant_id: int,
        mboxes: Mapping[str, Iterable[str]],
        attributes: Iterable[str],
    ) -> bool:
        """Buffer names; True when a flush is due (the caller then calls ``flush``)."""
        with self._lock:
            tenant_mboxes = self._mboxes.setdefault(tenant_id, {})
            for name, parameters in mboxes.items():
                known = tenant_mboxes.get(name)
                if known is None:
                    known = tenant_mboxes[name] = set()
                    self._pending += 1
                before = len(known)
                known.update(parameters)
                self._pending += len(known) - before
            tenant_attributes = self._attributes.setdefault(tenant_id, set())
            before = len(tenant_attributes)
            tenant_attributes.update(attributes)
            self._pending += len(tenant_attributes) - before
            elapsed = time.monotonic() - self._last_flush
            return self._pending >= self.max_names or (
                self._pending > 0 and elapsed >= self.interval
            )

    def flush(self) -> None:
        """Hand the buffered names to the Admin API services, one transaction per tenant."""
        with self._lock:
            mboxes, self._mboxes = self._mboxes, {}
            attributes, self._attributes = self._attributes, {}
            self._pending = 0
            self._last_flush = time.monotonic()
        record_seen = _service("cible.activities.mboxes.service", "record_seen")
        record_attributes = _service(
            "cible.activities.profileattrs.service", "record_profile_attributes"
        )
        now = datetime.now(UTC)
        for tenant_id in set(mboxes) | set(attributes):
            try:
                with self.db.session() as session:
                    if record_seen is not None and mboxes.get(tenant_id):
                        record_seen(session, tenant_id, mboxes[tenant_id], now)
                    if record_attributes is not None and attributes.get(tenant_id):
                        record_attributes(session, tenant_id, attributes[tenant_id], now)
            except Exception:
                # Names are advisory (the Admin API's mbox list); never fail a delivery call.
                log.exception("could not record seen names", extra={"tenant_id": tenant_id})

    def pending(self) -> dict[int, dict[str, set[str]]]:
        """A copy of the buffered mbox names (for tests and the shutdown hook)."""
        with self._lock:
            return {t: {n: set(p) for n, p in m.items()} for t, m in self._mboxes.items()}
