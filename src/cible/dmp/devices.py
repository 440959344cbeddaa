"""Device identity and state: AAM UUIDs, declared ids, opt-outs, compare-and-set state writes.

Everything here takes a SQLAlchemy Core ``Connection`` inside the caller's transaction (the DCS
path runs it in a group-commit unit). A device's state is one row of ``dmp_devices``; it is
written with ``UPDATE ... WHERE version = :expected`` and, when another call won the race, read
again and the call re-applied, so concurrent calls for one device lose no realization
(docs/audience-manager.md, "Device state").
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Table, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from cible.dmp.qualify import DeviceState, Outcome, RuleSet, apply_call, next_expiry
from cible.dmp.tables import Device, DeviceId, MembershipChange, OptOut
from cible.dmp.transfers.erasure import farewell
from cible.dmp.transfers.wake import wake

DEVICES: Table = Device.__table__  # type: ignore[assignment]
DEVICE_IDS: Table = DeviceId.__table__  # type: ignore[assignment]
OPT_OUTS: Table = OptOut.__table__  # type: ignore[assignment]
CHANGES: Table = MembershipChange.__table__  # type: ignore[assignment]
MID = "mid"
UUID_NAMESPACE = "uuid"
CAS_ATTEMPTS = 50


def new_uuid() -> str:
    """A 38-digit AAM UUID (Adobe Audience Manager, "Audience Manager IDs")."""
    return str(10**37 + secrets.randbelow(9 * 10**37))


def is_uuid(value: str | None) -> bool:
    return value is not None and len(value) == 38 and value.isdigit()


AUTHENTICATED_PREFIX = "A"


def authenticated_key(dpid: str, external_id: str) -> str:
    """The ``dmp_devices`` key of a declared id's authenticated profile (cible.dmp.merge).

    ``A`` and 37 digits of a SHA-256 of the id: never a device UUID (all digits), stored with
    the same compare-and-set as a device's state.
    """
    digest = hashlib.sha256(f"{dpid}\x01{external_id}".encode()).digest()
    return AUTHENTICATED_PREFIX + str(int.from_bytes(digest, "big") % 10**37).zfill(37)


def is_authenticated_key(key: str) -> bool:
    return key.startswith(AUTHENTICATED_PREFIX)


def _upsert(
    conn: Connection,
    table: object,
    values: dict[str, object],
    keys: Sequence[str],
    updates: Sequence[str],
) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_={k: values[k] for k in updates}
    )
    conn.execute(statement)


def map_ids(
    conn: Connection, tenant_id: int, uuid: str, ids: Iterable[tuple[str, str]], now_ms: int
) -> None:
    """Maps each ``(namespace, id)`` to ``uuid``; the most recent mapping wins."""
    for namespace, external_id in ids:
        _upsert(
            conn,
            DEVICE_IDS,
            {
                "tenant_id": tenant_id,
                "namespace": namespace,
                "external_id": external_id,
                "uuid": uuid,
                "updated_ms": now_ms,
            },
            ("tenant_id", "namespace", "external_id"),
            ("uuid", "updated_ms"),
        )


_LOOKUP = select(DEVICE_IDS.c.uuid, DEVICE_IDS.c.updated_ms).where(
    DEVICE_IDS.c.tenant_id == bindparam("tenant"),
    DEVICE_IDS.c.namespace == bindparam("namespace"),
    DEVICE_IDS.c.external_id == bindparam("external"),
)
# Hot-path statements are built once: building and hashing a statement per call costs more
# than running it on SQLite.
_OPTED_OUT = select(OPT_OUTS.c.created_ms).where(
    OPT_OUTS.c.tenant_id == bindparam("tenant"),
    OPT_OUTS.c.namespace == bindparam("namespace"),
    OPT_OUTS.c.external_id == bindparam("external"),
)
_READ = select(DEVICES.c.version, DEVICES.c.state).where(
    DEVICES.c.tenant_id == bindparam("tenant"), DEVICES.c.uuid == bindparam("uuid")
)
_GUARD = (
    DEVICES.c.tenant_id == bindparam("tenant"),
    DEVICES.c.uuid == bindparam("device"),
    DEVICES.c.version == bindparam("expected"),
)
_WRITE = (
    update(DEVICES)
    .where(*_GUARD)
    .values(
        version=bindparam("next"),
        state=bindparam("new_state"),
        last_seen_ms=bindparam("seen"),
        expires_ms=bindparam("expires"),
    )
)
# A write that is no sighting of the device (TTL expiry): its inactivity clock keeps running.
_WRITE_UNSEEN = (
    update(DEVICES)
    .where(*_GUARD)
    .values(
        version=bindparam("next"), state=bindparam("new_state"), expires_ms=bindparam("expires")
    )
)


def lookup(conn: Connection, tenant_id: int, ids: Sequence[tuple[str, str]]) -> str | None:
    """The UUID most recently mapped to one of ``ids``, if any."""
    best: tuple[int, str] | None = None
    for namespace, external_id in ids:
        row = conn.execute(
            _LOOKUP, {"tenant": tenant_id, "namespace": namespace, "external": external_id}
        ).first()
        if row is not None and (best is None or row.updated_ms > best[0]):
            best = (int(row.updated_ms), str(row.uuid))
    return None if best is None else best[1]


def opted_out(conn: Connection, tenant_id: int, ids: Sequence[tuple[str, str]]) -> bool:
    for namespace, external_id in ids:
        found = conn.execute(
            _OPTED_OUT, {"tenant": tenant_id, "namespace": namespace, "external": external_id}
        ).first()
        if found is not None:
            return True
    return False


def opt_out(
    conn: Connection, tenant_id: int, ids: Sequence[tuple[str, str]], now_ms: int
) -> list[str]:
    """Records the opt-out of ``ids`` and erases the devices they name; returns those UUIDs."""
    uuids = {i for ns, i in ids if ns == UUID_NAMESPACE}
    mapped = lookup(conn, tenant_id, [x for x in ids if x[0] != UUID_NAMESPACE])
    if mapped:
        uuids.add(mapped)
    for namespace, external_id in ids:
        _upsert(
            conn,
            OPT_OUTS,
            {
                "tenant_id": tenant_id,
                "namespace": namespace,
                "external_id": external_id,
                "created_ms": now_ms,
            },
            ("tenant_id", "namespace", "external_id"),
            ("created_ms",),
        )
    for uuid in uuids:
        _upsert(
            conn,
            OPT_OUTS,
            {
                "tenant_id": tenant_id,
                "namespace": UUID_NAMESPACE,
                "external_id": uuid,
                "created_ms": now_ms,
            },
            ("tenant_id", "namespace", "external_id"),
            ("created_ms",),
        )
        erase_device(conn, tenant_id, uuid, now_ms)
    return sorted(uuids)


def erase_device(
    conn: Connection, tenant_id: int, uuid: str, now_ms: int, also: Collection[int] = ()
) -> None:
    """Deletes a device's state, its id mappings and its pending membership changes.

    A device (not an authenticated profile) first says goodbye to the real-time destinations
    of its segments, and of segments ``also``, in the same transaction
    (``cible.dmp.transfers.erasure``).
    """
    if not is_authenticated_key(uuid):
        farewell(conn, tenant_id, uuid, now_ms, also)
    for table in (DEVICES, DEVICE_IDS, CHANGES):
        conn.execute(delete(table).where(table.c.tenant_id == tenant_id, table.c.uuid == uuid))


def read_state(conn: Connection, tenant_id: int, uuid: str) -> tuple[int, DeviceState] | None:
    row = conn.execute(_READ, {"tenant": tenant_id, "uuid": uuid}).first()
    if row is None:
        return None
    return int(row.version), DeviceState.decode(row.state)


Change = Callable[[DeviceState], tuple[DeviceState, Outcome]]


@dataclass
class Attempt:
    """A change computed from a state read earlier, outside the writing transaction.

    ``version`` is the version read (None: the device did not exist).
    """

    version: int | None
    state: DeviceState
    outcome: Outcome


def compute(conn: Connection, tenant_id: int, uuid: str, change: Change) -> Attempt:
    """Reads the device and applies ``change`` without writing (the optimistic first step)."""
    current = read_state(conn, tenant_id, uuid)
    state, outcome = change(current[1] if current else DeviceState())
    return Attempt(current[0] if current else None, state, outcome)


def _write(
    conn: Connection,
    tenant_id: int,
    uuid: str,
    rules: RuleSet,
    attempt: Attempt,
    now_ms: int,
    seen: bool,
) -> bool:
    """Writes ``attempt`` if the device is still at the version it was computed from."""
    values = {
        "state": attempt.state.encode(),
        "last_seen_ms": now_ms,
        "expires_ms": next_expiry(rules, attempt.state),
    }
    if attempt.version is None:
        try:
            with conn.begin_nested():
                conn.execute(
                    DEVICES.insert().values(tenant_id=tenant_id, uuid=uuid, version=1, **values)
                )
        except IntegrityError:
            return False  # another call created the device first
        return True
    params = {
        "tenant": tenant_id,
        "device": uuid,
        "expected": attempt.version,
        "next": attempt.version + 1,
        "new_state": values["state"],
        "expires": values["expires_ms"],
    }
    if seen:
        params["seen"] = now_ms
    written = conn.execute(_WRITE if seen else _WRITE_UNSEEN, params)
    return written.rowcount == 1


def update_state(
    conn: Connection,
    tenant_id: int,
    uuid: str,
    rules: RuleSet,
    change: Change,
    now_ms: int,
    *,
    create: bool = True,
    first: Attempt | None = None,
    record: bool = True,
    seen: bool = True,
) -> tuple[DeviceState, Outcome] | None:
    """Applies ``change`` to the device's state with compare-and-set; None if absent and not
    ``create``. ``first`` is a change computed earlier from a read outside this transaction:
    it is written if the device has not moved since, else the state is read again and
    ``change`` re-applied. Membership changes are recorded in ``dmp_membership_changes`` (for a
    device; never for an authenticated profile, ``record=False``). ``seen=False`` leaves the
    device's ``last_seen_ms``, from which its inactivity counts, where it was."""
    attempt = first
    for _ in range(CAS_ATTEMPTS):
        if attempt is None:
            attempt = compute(conn, tenant_id, uuid, change)
        if attempt.version is None and not create:
            return None
        if _write(conn, tenant_id, uuid, rules, attempt, now_ms, seen):
            if record and not is_authenticated_key(uuid):
                _record_changes(conn, tenant_id, uuid, attempt.outcome, now_ms)
            return attempt.state, attempt.outcome
        attempt = None
    raise RuntimeError(f"device {uuid}: state kept changing under {CAS_ATTEMPTS} attempts")


def _record_changes(
    conn: Connection, tenant_id: int, uuid: str, outcome: Outcome, now_ms: int
) -> None:
    rows = [
        {"tenant_id": tenant_id, "uuid": uuid, "segment_id": s, "status": 1, "at_ms": now_ms}
        for s in outcome.entered
    ] + [
        {"tenant_id": tenant_id, "uuid": uuid, "segment_id": s, "status": 0, "at_ms": now_ms}
        for s in outcome.exited
    ]
    if rows:
        conn.execute(CHANGES.insert(), rows)
        # A real-time destination mapped to one of these segments collects them shortly.
        wake(conn, tenant_id, [*outcome.entered, *outcome.exited])


def qualify(
    conn: Connection,
    tenant_id: int,
    uuid: str,
    rules: RuleSet,
    signals: dict[str, list[str]],
    now_ms: int,
    *,
    data_source: int | None = None,
    direct: Sequence[int] = (),
    first: Attempt | None = None,
) -> tuple[DeviceState, Outcome]:
    """One DCS call's realizations and memberships, written for ``uuid``."""

    def change(state: DeviceState) -> tuple[DeviceState, Outcome]:
        return apply_call(rules, state, signals, now_ms, data_source=data_source, direct=direct)

    result = update_state(conn, tenant_id, uuid, rules, change, now_ms, first=first)
    assert result is not None
    return result
