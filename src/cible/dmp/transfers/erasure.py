"""``Status:0`` to real-time destinations for a device that is about to be erased.

AAM sends ``Status:0`` for a segment "when the user leaves by rule, by TTL expiry, after 120 days
inactive, or through a privacy (GDPR) deletion; every synced partner ID receives it" (Adobe
Audience Manager, "Real-time outbound data transfers"). Exits by rule and by TTL are membership
changes that the collector (``cible.dmp.transfers.s2s``) turns into messages; an erased device,
though, leaves no row behind for it to read: its state, its synced ids and its changes are
deleted. So :func:`farewell` runs first, in the erasing transaction, and writes the messages
themselves, one ``dmp.s2s.send`` job each, into the same real-time outbox: the deletion and its
messages commit together or not at all, and the sender delivers, retries and dead-letters them
as any other message.

A farewell names every segment the device is in, every segment of its changes the collector has
not read yet, and every segment of the messages :func:`redact` took it out of before they were
delivered (an exit not sent yet must not be lost with the rows); each mapped segment is sent
with ``Status:0`` and the time of the erasure, to each partner id synced in the destination's
namespace (the AAM UUID itself for ``User_DPID`` 0). A device with no partner id there gets
nothing, as for any real-time message.

A privacy deletion also calls :func:`redact` first: the real-time messages already written keep
no trace of the device (its ``Users`` items are taken out of every message, delivered, pending
or dead; a message left with none is deleted), so none is sent after the deletion and the
outbound history holds no id of the user. The farewell written next is the one message that
names him, as it must to reach the partner.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from typing import Any

import orjson
from sqlalchemy import Connection, Table, bindparam, delete, select, update

from cible.config import get_settings
from cible.dmp.qualify import DeviceState
from cible.dmp.tables import Device, MembershipChange
from cible.dmp.transfers import s2s
from cible.dmp.transfers.tables import (
    DELIVERED,
    PENDING,
    Destination,
    DestinationMapping,
    S2SMessage,
    TransferCursor,
)
from cible.jobs.tables import PENDING as JOB_PENDING
from cible.jobs.tables import Job
from cible.store.base import utcnow

_DEVICES: Table = Device.__table__  # type: ignore[assignment]
_CHANGES: Table = MembershipChange.__table__  # type: ignore[assignment]
_D: Table = Destination.__table__  # type: ignore[assignment]
_M: Table = DestinationMapping.__table__  # type: ignore[assignment]
_MESSAGES: Table = S2SMessage.__table__  # type: ignore[assignment]
_JOBS: Table = Job.__table__  # type: ignore[assignment]
_CURSORS: Table = TransferCursor.__table__  # type: ignore[assignment]


def _segments(conn: Connection, tenant_id: int, uuid: str) -> set[int]:
    """The device's segments now, and those of changes the collector has not read yet."""
    raw = conn.execute(
        select(_DEVICES.c.state).where(_DEVICES.c.tenant_id == tenant_id, _DEVICES.c.uuid == uuid)
    ).scalar_one_or_none()
    found = set(DeviceState.decode(raw).segments)
    position = conn.execute(
        select(_CURSORS.c.position).where(_CURSORS.c.name == s2s.CURSOR)
    ).scalar_one_or_none()
    pending = select(_CHANGES.c.segment_id).where(
        _CHANGES.c.tenant_id == tenant_id,
        _CHANGES.c.uuid == uuid,
        _CHANGES.c.id > int(position or 0),
    )
    found.update(int(sid) for sid in conn.execute(pending).scalars())
    return found


def _destinations(
    conn: Connection, tenant_id: int, segments: set[int], now_ms: int
) -> dict[int, tuple[dict[str, Any], set[int]]]:
    """Active real-time destinations mapping some of ``segments`` on the day of ``now_ms``:
    id -> (config, those sids)."""
    rows = conn.execute(
        select(_D.c.id, _D.c.config, _M.c.sid)
        .join(_M, _M.c.destination_id == _D.c.id)
        .where(
            _D.c.tenant_id == tenant_id,
            _D.c.destination_type == "S2S",
            _D.c.status == "ACTIVE",
            _M.c.sid.in_(bindparam("sids", expanding=True)),
            s2s.mapped_on(s2s.utc_day(now_ms)),
        )
        .order_by(_D.c.id, _M.c.sid),
        {"sids": sorted(segments)},
    )
    found: dict[int, tuple[dict[str, Any], set[int]]] = {}
    for dest_id, config, sid in rows:
        entry = found.setdefault(int(dest_id), (orjson.loads(config), set()))
        entry[1].add(int(sid))
    return found


def _enqueue(conn: Connection, message_id: int, max_attempts: int) -> None:
    # cible.jobs.enqueue takes an ORM session; the erasing caller holds a Core connection.
    now = utcnow()
    conn.execute(
        _JOBS.insert().values(
            kind=s2s.SEND,
            payload=orjson.dumps({"message": message_id}).decode(),
            state=JOB_PENDING,
            attempts=0,
            max_attempts=max_attempts,
            run_at=now,
            created_at=now,
        )
    )


def farewell(
    conn: Connection, tenant_id: int, uuid: str, now_ms: int, also: Collection[int] = ()
) -> int:
    """Writes the ``Status:0`` messages of device ``uuid``, in the caller's transaction, before
    it erases the device, for its segments and ``also`` these; returns how many messages were
    written."""
    segments = _segments(conn, tenant_id, uuid) | set(also)
    if not segments:
        return 0
    region = get_settings().dcs_region
    # Unique per device and instant, and short enough for the key column.
    device_key = hashlib.sha256(uuid.encode()).hexdigest()[:12]
    written = 0
    for dest_id, (config, sids) in _destinations(conn, tenant_id, segments, now_ms).items():
        left = {sid: ("0", now_ms) for sid in sids}
        users = [
            s2s.user_entry(uuid, partner, region, left)
            for partner in s2s.partner_ids(conn, tenant_id, uuid, config.get("userDpid"))
        ]
        for n, chunk in enumerate(s2s.chunks(users, s2s.users_per_message(config))):
            inserted = conn.execute(
                _MESSAGES.insert().values(
                    tenant_id=tenant_id,
                    destination_id=dest_id,
                    idempotency_key=f"{tenant_id}.{dest_id}.x{now_ms}.{device_key}.{n}",
                    body=s2s.message_body(config, dest_id, chunk, now_ms),
                    users=len(chunk),
                    state=PENDING,
                    attempts=0,
                    created_ms=now_ms,
                )
            )
            (message_id,) = inserted.inserted_primary_key or (None,)
            assert message_id is not None
            _enqueue(conn, int(message_id), s2s.max_attempts(config))
            written += 1
    return written


def redact(conn: Connection, tenant_id: int, uuid: str) -> set[int]:
    """Takes device ``uuid`` out of the tenant's real-time messages; returns the segments it had
    in those not delivered yet, for :func:`farewell` to close."""
    # orjson writes no spaces, so the item's key and value are found as written.
    needle = f'%"AAM_UUID":"{uuid}"%'
    rows = conn.execute(
        select(_MESSAGES.c.id, _MESSAGES.c.body, _MESSAGES.c.state).where(
            _MESSAGES.c.tenant_id == tenant_id, _MESSAGES.c.body.like(needle)
        )
    ).all()
    undelivered: set[int] = set()
    for message_id, raw, state in rows:
        body = orjson.loads(raw)
        users = [u for u in body["Users"] if u.get("AAM_UUID") != uuid]
        if len(users) == len(body["Users"]):
            continue  # LIKE's "_" matched another character
        if state != DELIVERED:
            undelivered.update(
                int(seg["Segment_ID"])
                for user in body["Users"]
                if user.get("AAM_UUID") == uuid
                for seg in user["Segments"]
            )
        if not users:
            # A pending message's send job then finds nothing to send and ends.
            conn.execute(delete(_MESSAGES).where(_MESSAGES.c.id == message_id))
            continue
        body["Users"], body["User_count"] = users, str(len(users))
        conn.execute(
            update(_MESSAGES)
            .where(_MESSAGES.c.id == message_id)
            .values(body=orjson.dumps(body).decode(), users=len(users))
        )
    return undelivered
