"""Mbox and profile-attribute names seen by the delivery API, recorded without a write per call.

Names are buffered in memory per tenant and flushed through two writers, by default the Admin
API's services (``cible.activities.mboxes.service.record_seen`` and
``cible.activities.profileattrs.service.record_profile_attributes``), every ``interval`` seconds
or once ``max_names`` names are pending, whichever comes first. A crash loses at most one
interval of names; the next call of the same mbox records it again.

The names come from unauthenticated traffic, so what is learned is capped per tenant
(``CIBLE_MAX_LEARNED_MBOXES``, ``CIBLE_MAX_LEARNED_PROFILE_ATTRIBUTES``,
``CIBLE_MAX_LEARNED_MBOX_PARAMETERS``): a name over a cap is still served, only not recorded, and
``dropped`` counts it for the ``cible_learned_names_dropped`` metric (docs/security.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.orm import Session

from cible.activities.mboxes.service import record_seen
from cible.activities.profileattrs.service import record_profile_attributes
from cible.store import Database

__all__ = ["AttributeWriter", "MboxWriter", "SeenNames"]

log = logging.getLogger("cible.delivery")

# Defaults of the settings of the same names (docs/settings.md), used when nothing is passed.
MAX_LEARNED_MBOXES = 10_000
MAX_LEARNED_PROFILE_ATTRIBUTES = 1_000
MAX_LEARNED_MBOX_PARAMETERS = 100


class MboxWriter(Protocol):
    """Records mbox names with their parameter names; returns (names, parameters) skipped."""

    def __call__(
        self,
        session: Session,
        tenant_id: int,
        seen: Mapping[str, set[str]],
        now: datetime,
        *,
        max_learned: int | None,
        max_parameters: int | None,
    ) -> tuple[int, int]: ...


class AttributeWriter(Protocol):
    """Records profile attribute names; returns how many new names were skipped."""

    def __call__(
        self,
        session: Session,
        tenant_id: int,
        names: Iterable[str],
        now: datetime,
        *,
        max_names: int | None,
    ) -> int: ...


class SeenNames:
    """The buffer: ``add`` on the hot path (no I/O), ``flush`` when due or on shutdown.

    >>> seen = SeenNames(db, max_mboxes=100, record_mboxes=my_writer)  # doctest: +SKIP
    """

    def __init__(
        self,
        db: Database,
        interval: float = 10.0,
        max_names: int = 1000,
        *,
        max_mboxes: int = MAX_LEARNED_MBOXES,
        max_attributes: int = MAX_LEARNED_PROFILE_ATTRIBUTES,
        max_parameters: int = MAX_LEARNED_MBOX_PARAMETERS,
        record_mboxes: MboxWriter = record_seen,
        record_attributes: AttributeWriter = record_profile_attributes,
    ) -> None:
        self.db = db
        self.interval = interval
        self.max_names = max_names
        self.max_mboxes = max_mboxes
        self.max_attributes = max_attributes
        self.max_parameters = max_parameters
        self.record_mboxes = record_mboxes
        self.record_attributes = record_attributes
        # Names over a cap, by kind ("mbox", "mbox_parameter", "profile_attribute").
        self.dropped: Counter[str] = Counter()
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
        """Hand the buffered names to the writers, one transaction per tenant."""
        with self._lock:
            mboxes, self._mboxes = self._mboxes, {}
            attributes, self._attributes = self._attributes, {}
            self._pending = 0
            self._last_flush = time.monotonic()
        now = datetime.now(UTC)
        for tenant_id in set(mboxes) | set(attributes):
            dropped: Counter[str] = Counter()
            try:
                with self.db.session() as session:
                    if mboxes.get(tenant_id):
                        names, parameters = self.record_mboxes(
                            session,
                            tenant_id,
                            mboxes[tenant_id],
                            now,
                            max_learned=self.max_mboxes,
                            max_parameters=self.max_parameters,
                        )
                        dropped.update({"mbox": names, "mbox_parameter": parameters})
                    if attributes.get(tenant_id):
                        dropped["profile_attribute"] += self.record_attributes(
                            session,
                            tenant_id,
                            attributes[tenant_id],
                            now,
                            max_names=self.max_attributes,
                        )
            except Exception:
                # Names are advisory (the Admin API's mbox list); never fail a delivery call.
                log.exception("could not record seen names", extra={"tenant_id": tenant_id})
                continue
            with self._lock:
                self.dropped.update(+dropped)

    def pending(self) -> dict[int, dict[str, set[str]]]:
        """A copy of the buffered mbox names (for tests and the shutdown hook)."""
        with self._lock:
            return {t: {n: set(p) for n, p in m.items()} for t, m in self._mboxes.items()}
