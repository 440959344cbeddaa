"""Visitor state on the delivery hot path: read through a bounded cache, written by compare-and-set.

A visitor's state is his ``profiles`` row (attributes, session built-ins, ``version``), the ids
that lead to it (``profile_ids``) and his sticky assignments. The delivery API reads it from
``VisitorCache`` (an LRU bounded in bytes, per process) and never trusts the cache alone: the
write that ends a call is a compare-and-set on ``version`` (``UPDATE ... WHERE id = :id AND
version = :expected``), or, when the call changed nothing, a read of ``version`` by primary key.
Either fails with ``Conflict`` when another request, worker or host wrote since the state was
read; the caller then reloads and decides again, so concurrent calls lose nothing and a visitor's
next call sees his previous writes whichever worker answers it (docs/profiles.md).

Everything here is SQLAlchemy Core on a connection handed in by the caller: ``load`` in a read
connection, the ``write`` unit inside the group commit of ``cible.events.GroupCommitter``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Table, bindparam, delete, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from cible.profiles.tables import Assignment, Profile, ProfileId
from cible.store.prepared import Prepared

__all__ = [
    "Conflict",
    "ProfileRow",
    "Snapshot",
    "VisitorCache",
    "load",
    "write",
]

_profiles: Table = Profile.__table__  # type: ignore[assignment]
_ids: Table = ProfileId.__table__  # type: ignore[assignment]
_assignments: Table = Assignment.__table__  # type: ignore[assignment]

_ROW_COLUMNS = (
    "id",
    "version",
    "tnt_id",
    "third_party_id",
    "session_id",
    "visit_count",
    "first_session_start",
    "session_start",
    "last_seen",
    "days_since_last_visit",
    "created_at",
    "modified_at",
)


class Conflict(Exception):
    """The state changed since it was read (or an id was taken meanwhile): reload and retry."""


@dataclass(slots=True)
class ProfileRow:
    """The columns of a ``profiles`` row that a delivery call reads and writes."""

    id: int | None
    version: int
    tnt_id: str
    third_party_id: str | None
    session_id: str | None
    visit_count: int
    first_session_start: int | None
    session_start: int | None
    last_seen: int | None
    days_since_last_visit: int | None
    created_at: datetime
    modified_at: datetime

    def copy(self) -> ProfileRow:
        # Spelled out: dataclasses.replace costs several times more on the hot path.
        return ProfileRow(
            self.id,
            self.version,
            self.tnt_id,
            self.third_party_id,
            self.session_id,
            self.visit_count,
            self.first_session_start,
            self.session_start,
            self.last_seen,
            self.days_since_last_visit,
            self.created_at,
            self.modified_at,
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One stored profile as read (or as just written): never changed once built."""

    row: ProfileRow
    attributes: dict[str, list[Any]]
    assignments: dict[int, int]
    keys: frozenset[tuple[str, str]]
    size: int

    def copy_row(self) -> ProfileRow:
        return self.row.copy()


def estimate_size(attributes_bytes: int, keys: int, assignments: int) -> int:
    """Bytes a cached snapshot holds, roughly (dict and object overheads included)."""
    return 600 + 2 * attributes_bytes + 160 * keys + 120 * assignments


@dataclass
class Loaded:
    """What ``load`` found for a call's ids: the profiles and which id kind leads to which."""

    snapshots: dict[int, Snapshot] = field(default_factory=dict)
    found: dict[str, int] = field(default_factory=dict)


_LOOKUP = select(_ids.c.kind, _ids.c.value, _ids.c.profile_id).where(
    _ids.c.tenant_id == bindparam("tenant_id"),
    tuple_(_ids.c.kind, _ids.c.value).in_(bindparam("keys", expanding=True)),
)
_ALL_KEYS = select(_ids.c.profile_id, _ids.c.kind, _ids.c.value).where(
    _ids.c.profile_id.in_(bindparam("ids", expanding=True))
)
_PROFILES = select(*(_profiles.c[name] for name in _ROW_COLUMNS), _profiles.c.attributes).where(
    _profiles.c.id.in_(bindparam("ids", expanding=True))
)
_ASSIGNMENTS = select(
    _assignments.c.profile_id, _assignments.c.activity_id, _assignments.c.experience_id
).where(_assignments.c.profile_id.in_(bindparam("ids", expanding=True)))


def load(conn: Connection, tenant_id: int, keys: Sequence[tuple[str, str]]) -> Loaded:
    """Every profile the ids lead to, with all their ids and assignments (three indexed reads)."""
    loaded = Loaded()
    if not keys:
        return loaded
    for kind, _value, profile_id in conn.execute(
        _LOOKUP, {"tenant_id": tenant_id, "keys": list(keys)}
    ):
        loaded.found[kind] = profile_id
    wanted = sorted(set(loaded.found.values()))
    if not wanted:
        return loaded
    keys_of: dict[int, set[tuple[str, str]]] = {pid: set() for pid in wanted}
    for profile_id, kind, value in conn.execute(_ALL_KEYS, {"ids": wanted}):
        keys_of[profile_id].add((kind, value))
    assignments: dict[int, dict[int, int]] = {pid: {} for pid in wanted}
    for profile_id, activity_id, experience_id in conn.execute(_ASSIGNMENTS, {"ids": wanted}):
        assignments[profile_id][activity_id] = experience_id
    for record in conn.execute(_PROFILES, {"ids": wanted}):
        values = record._mapping
        row = ProfileRow(**{name: values[name] for name in _ROW_COLUMNS})
        text = values["attributes"] or "{}"
        attributes = orjson.loads(text)
        if not isinstance(attributes, dict):
            attributes = {}
        pid = row.id
        assert pid is not None
        size = estimate_size(len(text), len(keys_of[pid]), len(assignments[pid]))
        loaded.snapshots[pid] = Snapshot(
            row, attributes, assignments[pid], frozenset(keys_of[pid]), size
        )
    # A profile deleted between the lookup and the read (a concurrent merge) is not found.
    loaded.found = {k: pid for k, pid in loaded.found.items() if pid in loaded.snapshots}
    return loaded


class VisitorCache:
    """Snapshots by profile, found by any of their ids; least recently used go past ``max_bytes``.

    >>> cache = VisitorCache(max_bytes=1_000_000)
    >>> cache.get(1, [("tnt", "abc")]) is None
    True
    """

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._snapshots: OrderedDict[tuple[int, int], Snapshot] = OrderedDict()
        self._by_key: dict[tuple[int, str, str], int] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._snapshots)

    def get(self, tenant_id: int, keys: Iterable[tuple[str, str]]) -> Snapshot | None:
        """The snapshot every one of ``keys`` leads to; None unless all lead to the same one."""
        with self._lock:
            profile_id: int | None = None
            for kind, value in keys:
                pid = self._by_key.get((tenant_id, kind, value))
                if pid is None or (profile_id is not None and pid != profile_id):
                    self.misses += 1
                    return None
                profile_id = pid
            if profile_id is None:
                self.misses += 1
                return None
            snapshot = self._snapshots.get((tenant_id, profile_id))
            if snapshot is None:
                self.misses += 1
                return None
            self._snapshots.move_to_end((tenant_id, profile_id))
            self.hits += 1
            return snapshot

    def put(self, tenant_id: int, snapshot: Snapshot) -> None:
        profile_id = snapshot.row.id
        assert profile_id is not None
        with self._lock:
            self._drop(tenant_id, profile_id)
            self._snapshots[(tenant_id, profile_id)] = snapshot
            for kind, value in snapshot.keys:
                self._by_key[(tenant_id, kind, value)] = profile_id
            self.bytes += snapshot.size
            while self.bytes > self.max_bytes and self._snapshots:
                (old_tenant, old_id), _ = next(iter(self._snapshots.items()))
                self._drop(old_tenant, old_id)

    def forget(self, tenant_id: int, keys: Iterable[tuple[str, str]]) -> None:
        """Drop what the ids lead to (after a ``Conflict``, or a write made elsewhere)."""
        with self._lock:
            for kind, value in keys:
                pid = self._by_key.get((tenant_id, kind, value))
                if pid is not None:
                    self._drop(tenant_id, pid)

    def forget_profiles(self, tenant_id: int, profile_ids: Iterable[int]) -> None:
        with self._lock:
            for pid in profile_ids:
                self._drop(tenant_id, pid)

    def clear(self) -> None:
        with self._lock:
            self._snapshots.clear()
            self._by_key.clear()
            self.bytes = 0

    def _drop(self, tenant_id: int, profile_id: int) -> None:
        snapshot = self._snapshots.pop((tenant_id, profile_id), None)
        if snapshot is None:
            return
        self.bytes -= snapshot.size
        for kind, value in snapshot.keys:
            if self._by_key.get((tenant_id, kind, value)) == profile_id:
                del self._by_key[(tenant_id, kind, value)]


@dataclass
class Change:
    """What one call writes: the row as it should become and the rows to add or remove."""

    tenant_id: int
    row: ProfileRow
    created: bool
    row_changed: bool
    attributes_json: str | None
    new_keys: list[tuple[str, str]]
    new_assignments: dict[int, int]
    losers: list[tuple[int, int]]  # (profile id, version read) of profiles merged into row


_SET_COLUMNS = (
    "third_party_id",
    "session_id",
    "visit_count",
    "first_session_start",
    "session_start",
    "last_seen",
    "days_since_last_visit",
    "modified_at",
)
# Bound names differ from column names: SQLAlchemy reserves those for its own SET parameters.
_CAS_STATEMENT = (
    update(_profiles)
    .where(_profiles.c.id == bindparam("b_id"), _profiles.c.version == bindparam("b_expected"))
    .values(
        version=bindparam("b_version"), **{name: bindparam(f"b_{name}") for name in _SET_COLUMNS}
    )
)
# The statements every delivery call runs go straight to the driver (cible.store.prepared).
_CAS = Prepared(_CAS_STATEMENT)
_CAS_WITH_ATTRIBUTES = Prepared(_CAS_STATEMENT.values(attributes=bindparam("b_attributes")))
_VERSION = Prepared(select(_profiles.c.version).where(_profiles.c.id == bindparam("b_id")))
_INSERT_PROFILE = Prepared(
    insert(_profiles)
    .values(
        tenant_id=bindparam("b_tenant_id"),
        version=bindparam("b_version"),
        tnt_id=bindparam("b_tnt_id"),
        attributes=bindparam("b_attributes"),
        created_at=bindparam("b_created_at"),
        **{name: bindparam(f"b_{name}") for name in _SET_COLUMNS},
    )
    .returning(_profiles.c.id)
)
_INSERT_ID = Prepared(insert(_ids))
_MOVE_IDS = (
    update(_ids)
    .where(_ids.c.profile_id == bindparam("b_loser"))
    .values(profile_id=bindparam("b_winner"))
)
_DROP_ASSIGNMENTS = delete(_assignments).where(_assignments.c.profile_id == bindparam("b_loser"))
_DROP_PROFILE = delete(_profiles).where(
    _profiles.c.id == bindparam("b_loser"), _profiles.c.version == bindparam("b_expected")
)


def _upsert_assignment(dialect: str) -> Any:
    statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(_assignments)
    return statement.on_conflict_do_update(
        index_elements=[_assignments.c.profile_id, _assignments.c.activity_id],
        set_={
            "experience_id": statement.excluded.experience_id,
            "assigned_at": statement.excluded.assigned_at,
        },
    )


_UPSERT_ASSIGNMENT = {name: Prepared(_upsert_assignment(name)) for name in ("postgresql", "sqlite")}


def write(conn: Connection, change: Change, now: datetime) -> tuple[int, int]:
    """Apply ``change`` in the caller's transaction; ``(profile id, new version)``.

    Raises ``Conflict`` (having written nothing the caller must undo beyond its savepoint) when
    the version moved since the read or an id was claimed by another profile meanwhile.
    """
    row = change.row
    try:
        if change.created:
            params = {f"b_{name}": getattr(row, name) for name in _SET_COLUMNS}
            params.update(
                b_tenant_id=change.tenant_id,
                b_tnt_id=row.tnt_id,
                b_attributes=change.attributes_json or "{}",
                b_created_at=row.created_at,
                b_version=1,
            )
            profile_id = int(_INSERT_PROFILE.execute(conn, params).fetchone()[0])
            version = 1
        else:
            profile_id = row.id if row.id is not None else 0
            if change.row_changed or change.attributes_json is not None or change.losers:
                version = row.version + 1
                params = {f"b_{name}": getattr(row, name) for name in _SET_COLUMNS}
                params.update(b_id=profile_id, b_expected=row.version, b_version=version)
                if change.attributes_json is not None:
                    params["b_attributes"] = change.attributes_json
                    cursor = _CAS_WITH_ATTRIBUTES.execute(conn, params)
                else:
                    cursor = _CAS.execute(conn, params)
                if cursor.rowcount != 1:
                    raise Conflict(f"profile {profile_id} changed since it was read")
            else:
                version = row.version
                found = _VERSION.execute(conn, {"b_id": profile_id}).fetchone()
                if found is None or found[0] != version:
                    raise Conflict(f"profile {profile_id} changed since it was read")
        for loser, expected in change.losers:
            conn.execute(_MOVE_IDS, {"b_loser": loser, "b_winner": profile_id})
            conn.execute(_DROP_ASSIGNMENTS, {"b_loser": loser})
            dropped = conn.execute(_DROP_PROFILE, {"b_loser": loser, "b_expected": expected})
            if dropped.rowcount != 1:
                raise Conflict(f"profile {loser} changed while being merged")
        if change.new_keys:
            _INSERT_ID.executemany(
                conn,
                [
                    {"tenant_id": change.tenant_id, "kind": k, "value": v, "profile_id": profile_id}
                    for k, v in change.new_keys
                ],
            )
        if change.new_assignments:
            _UPSERT_ASSIGNMENT[conn.dialect.name].executemany(
                conn,
                [
                    {
                        "profile_id": profile_id,
                        "activity_id": activity,
                        "tenant_id": change.tenant_id,
                        "experience_id": experience,
                        "assigned_at": now,
                    }
                    for activity, experience in change.new_assignments.items()
                ],
            )
    except (IntegrityError, conn.dialect.loaded_dbapi.IntegrityError) as error:
        # Another request created the profile or claimed one of these ids first.
        raise Conflict("an id of this visitor was stored by a concurrent request") from error
    return profile_id, version
