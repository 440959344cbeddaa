"""The audience manager: trait taxonomy, segments, DCS real-time collection, ID sync.

Public API for other domains:

* :func:`segments_for` -- the segments a visitor is in now, for targeting (delivery reads it
  server-side; a client never sends its segment list).
* :func:`compile_trait_rule`, :func:`compile_segment_rule` -- AAM's rule languages.

See docs/audience-manager.md.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, Table, select

from cible.dmp import devices
from cible.dmp.qualify import apply_call
from cible.dmp.rules import rules_for
from cible.dmp.segmentrule import compile_segment_rule
from cible.dmp.tables import DeviceId
from cible.dmp.traitrule import compile_trait_rule

__all__ = ["compile_segment_rule", "compile_trait_rule", "segments_for"]

_IDS: Table = DeviceId.__table__  # type: ignore[assignment]


def segments_for(
    conn: Connection, tenant_id: int, device_ids: Iterable[tuple[str, str]], now_ms: int
) -> set[int]:
    """The segment ids the visitor named by ``device_ids`` is in at ``now_ms``.

    ``device_ids`` are ``(namespace, id)`` pairs: ``("uuid", <AAM UUID>)`` (the DCS ``uuid``),
    ``("mid", <ECID>)`` (``id.marketingCloudVisitorId``) or ``("<DPID>", <declared id>)``. The
    memberships of every device they resolve to are re-evaluated at ``now_ms`` (recency windows
    and TTLs move with time) without writing anything, and united.
    """
    uuids: set[str] = set()
    for namespace, external in device_ids:
        if namespace == devices.UUID_NAMESPACE:
            if devices.is_uuid(external):
                uuids.add(external)
            continue
        found = conn.execute(
            select(_IDS.c.uuid).where(
                _IDS.c.tenant_id == tenant_id,
                _IDS.c.namespace == namespace,
                _IDS.c.external_id == external,
            )
        ).scalar_one_or_none()
        if found is not None:
            uuids.add(str(found))
    if not uuids:
        return set()
    rules = rules_for(conn, tenant_id)
    members: set[int] = set()
    for uuid in sorted(uuids):
        current = devices.read_state(conn, tenant_id, uuid)
        if current is None:
            continue
        state, _ = apply_call(rules, current[1], {}, now_ms)
        members.update(state.segments)
    return members
