"""The audience manager: trait taxonomy, segments, DCS real-time collection, ID sync.

Public API for other domains:

* :func:`segments_for` -- the segments a visitor is in now, for targeting (delivery reads it
  server-side; a client never sends its segment list).
* :func:`device_data`, :func:`erase_devices` -- a device's audience manager data, for privacy
  requests (export, delete) by device or declared id.
* :func:`compile_trait_rule`, :func:`compile_segment_rule` -- AAM's rule languages.

See docs/audience-manager.md.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Table, select

from cible.dmp import devices, targeting
from cible.dmp.qualify import DeviceState
from cible.dmp.segmentrule import compile_segment_rule
from cible.dmp.tables import DataSource, DeviceId
from cible.dmp.traitrule import compile_trait_rule
from cible.dmp.transfers import erasure, receipts

__all__ = [
    "compile_segment_rule",
    "compile_trait_rule",
    "device_data",
    "erase_devices",
    "segments_for",
]

_IDS: Table = DeviceId.__table__  # type: ignore[assignment]
_DS: Table = DataSource.__table__  # type: ignore[assignment]


def _resolve(conn: Connection, tenant_id: int, device_ids: Iterable[tuple[str, str]]) -> set[str]:
    uuids: set[str] = set()
    for given, external in device_ids:
        namespace = given
        if namespace == devices.UUID_NAMESPACE:
            if devices.is_uuid(external):
                uuids.add(external)
            continue
        if namespace.startswith("ic:"):
            # A delivery request's customerIds name data sources by integration code.
            found_ds = conn.execute(
                select(_DS.c.id).where(
                    _DS.c.tenant_id == tenant_id, _DS.c.integration_code == namespace[3:]
                )
            ).first()
            if found_ds is None:
                continue
            namespace = str(found_ds[0])
        if namespace.isdigit():
            # A declared id's authenticated profile (cible.dmp.merge), when it has one.
            key = devices.authenticated_key(namespace, external)
            if devices.read_state(conn, tenant_id, key) is not None:
                uuids.add(key)
        found = conn.execute(
            select(_IDS.c.uuid).where(
                _IDS.c.tenant_id == tenant_id,
                _IDS.c.namespace == namespace,
                _IDS.c.external_id == external,
            )
        ).scalar_one_or_none()
        if found is not None:
            uuids.add(str(found))
    return uuids


def device_data(
    conn: Connection, tenant_id: int, device_ids: Iterable[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Everything the audience manager keeps on the devices ``device_ids`` name (pairs as in
    :func:`segments_for`): realizations, segments, mapped ids, membership changes; a declared
    id's authenticated profile is listed as well (its ``uuid`` starts with ``A``)."""
    changes_table = devices.CHANGES
    out = []
    for uuid in sorted(_resolve(conn, tenant_id, device_ids)):
        current = devices.read_state(conn, tenant_id, uuid)
        ids = conn.execute(
            select(_IDS.c.namespace, _IDS.c.external_id, _IDS.c.updated_ms).where(
                _IDS.c.tenant_id == tenant_id, _IDS.c.uuid == uuid
            )
        ).all()
        changes = conn.execute(
            select(changes_table.c.segment_id, changes_table.c.status, changes_table.c.at_ms)
            .where(changes_table.c.tenant_id == tenant_id, changes_table.c.uuid == uuid)
            .order_by(changes_table.c.id)
        ).all()
        if current is None and not ids and not changes:
            continue
        state = current[1] if current else DeviceState()
        out.append(
            {
                "uuid": uuid,
                "traits": {
                    str(sid): {"count": entry[0], "realizedMs": entry[1]}
                    for sid, entry in state.realizations.items()
                },
                "segments": {str(k): v for k, v in state.segments.items()},
                "ids": [{"namespace": n, "id": i, "updatedMs": u} for n, i, u in ids],
                "segmentChanges": [
                    {"segmentId": seg, "status": st, "atMs": at} for seg, st, at in changes
                ],
            }
        )
    return out


def erase_devices(
    conn: Connection,
    tenant_id: int,
    device_ids: Iterable[tuple[str, str]],
    now_ms: int | None = None,
) -> list[str]:
    """Deletes the state, id mappings and membership changes of the devices ``device_ids`` name
    (a privacy deletion, not an opt-out: later calls may qualify them again); returns their
    UUIDs. Real-time destinations of their segments receive ``Status:0`` for each, sent from
    the outbox once this transaction commits, and the real-time messages written earlier lose
    every trace of them (``cible.dmp.transfers.erasure``), as the inbound file receipts lose
    every id of theirs (``cible.dmp.transfers.receipts``)."""
    if now_ms is None:
        now_ms = time.time_ns() // 1_000_000
    given = list(device_ids)
    uuids = sorted(_resolve(conn, tenant_id, given))
    synced = conn.execute(
        select(DeviceId.external_id).where(
            DeviceId.tenant_id == tenant_id, DeviceId.uuid.in_(uuids)
        )
    ).scalars()
    receipts.redact(conn, tenant_id, {*uuids, *synced, *(external for _, external in given)})
    for uuid in uuids:
        unsent: set[int] = set()
        if not devices.is_authenticated_key(uuid):
            unsent = erasure.redact(conn, tenant_id, uuid)
        devices.erase_device(conn, tenant_id, uuid, now_ms, unsent)
    return uuids


def segments_for(
    conn: Connection,
    tenant_id: int,
    device_ids: Iterable[tuple[str, str]],
    now_ms: int | None = None,
    *,
    authenticated: bool = False,
) -> set[int]:
    """The segment ids the visitor named by ``device_ids`` is in at ``now_ms`` (default: now).

    ``device_ids`` are ``(namespace, id)`` pairs: ``("uuid", <AAM UUID>)`` (the DCS ``uuid``),
    ``("mid", <ECID>)`` (``id.marketingCloudVisitorId``), ``("<DPID>", <declared id>)`` or
    ``("ic:<integration code>", <declared id>)`` (a delivery request's ``id.customerIds``);
    ``authenticated`` says the declared ids are authenticated now. Each segment is evaluated at
    ``now_ms`` (recency windows and TTLs move with time) on the profiles its merge rule reads
    (cible.dmp.merge), without writing anything.
    """
    found: list[tuple[str, str]] = []
    declared: list[tuple[str, str, bool]] = []
    for namespace, external in device_ids:
        if namespace in (devices.UUID_NAMESPACE, devices.MID):
            found.append((namespace, external))
        else:
            declared.append((namespace, external, authenticated))
    snapshot = targeting.load(conn, tenant_id, targeting.AamIds(tuple(found), tuple(declared)))
    if now_ms is None:
        now_ms = time.time_ns() // 1_000_000
    return {int(s) for s in snapshot.segments(now_ms)}
