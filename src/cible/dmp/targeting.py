"""A visitor's segments for targeting: resolved server-side from his ids, read through a cache.

Adobe's integration makes a visitor's Audience Manager segments available to Target on his next
call, resolved on Adobe's side from his Experience Cloud ID and the ``experienceCloud.
audienceManager`` object of the request; the client never sends a segment list (Adobe Audience
Manager, "Audience Manager and Target integration"). Cible's delivery API does the same with
this module:

1. :func:`request_ids` names the visitor's audience manager profiles from a delivery request:
   ``id.marketingCloudVisitorId`` (the ECID the DCS saw as ``d_mid``), ``id.customerIds``
   (declared ids by integration code, with their ``authenticatedState``) and
   ``experienceCloud.audienceManager.uuid`` (the DCS ``uuid``, Cible's addition for callers that
   hold it).
2. :func:`load` reads those profiles (device and authenticated, cible.dmp.merge) once, when the
   delivery reads the visitor's state; :class:`SegmentCache` keeps them per process beside the
   visitor's cached Target state, so a cached call does no database read for them.
3. :func:`Snapshot.segments` evaluates the segments at the call's instant (recency windows and
   TTLs move with time) with the tenant's rules of that read.

Invalidation rides on the Target profile's version: when a DCS call changes what a device's
segments can be (a realization of a trait some segment reads, or a membership change),
:func:`touch_visitors` bumps the ``version`` of the Target profiles known by the device's
ECIDs and declared ids, in the DCS call's transaction. The delivery's compare-and-set on that
version then fails on the visitor's next call, which reads his state (and his segments) again:
the call after a qualification sees it, whichever worker answers.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select, tuple_, update

from cible.dmp import devices, merge
from cible.dmp.qualify import DeviceState, RuleSet
from cible.dmp.rules import rules_for
from cible.dmp.tables import DataSource
from cible.profiles.tables import Profile, ProfileId

__all__ = [
    "AamIds",
    "SegmentCache",
    "Snapshot",
    "load",
    "request_ids",
    "touch_visitors",
]

_DS: Table = DataSource.__table__  # type: ignore[assignment]
_PROFILES: Table = Profile.__table__  # type: ignore[assignment]
_PROFILE_IDS: Table = ProfileId.__table__  # type: ignore[assignment]
_IDS = devices.DEVICE_IDS
_MAPPED = select(_IDS.c.namespace, _IDS.c.external_id).where(
    _IDS.c.tenant_id == bindparam("tenant"), _IDS.c.uuid == bindparam("uuid")
)


@dataclass(frozen=True, slots=True)
class AamIds:
    """A delivery request's audience manager ids.

    ``devices``: ``("uuid", <AAM UUID>)`` and ``("mid", <ECID>)``; ``declared``: ``(namespace,
    id, authenticated)`` where the namespace is ``ic:<integration code>`` or a DPID.
    """

    devices: tuple[tuple[str, str], ...] = ()
    declared: tuple[tuple[str, str, bool], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.devices or self.declared)

    def key(self) -> tuple[Any, ...]:
        return (self.devices, self.declared)


def request_ids(request: Mapping[str, Any]) -> AamIds:
    """The audience manager ids of a delivery request (never a segment list it sends)."""
    ids = request.get("id")
    found: list[tuple[str, str]] = []
    declared: list[tuple[str, str, bool]] = []
    if isinstance(ids, Mapping):
        mid = ids.get("marketingCloudVisitorId")
        if isinstance(mid, str) and mid:
            found.append((devices.MID, mid))
        for entry in ids.get("customerIds") or ():
            if not isinstance(entry, Mapping):
                continue
            code, value = entry.get("integrationCode"), entry.get("id")
            if isinstance(code, str) and code and isinstance(value, str | int) and value != "":
                authenticated = entry.get("authenticatedState") == "authenticated"
                declared.append((f"ic:{code}", str(value), authenticated))
    cloud = request.get("experienceCloud")
    manager = cloud.get("audienceManager") if isinstance(cloud, Mapping) else None
    uuid = manager.get("uuid") if isinstance(manager, Mapping) else None
    if isinstance(uuid, str) and devices.is_uuid(uuid):
        found.append((devices.UUID_NAMESPACE, uuid))
    return AamIds(tuple(found), tuple(declared))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A visitor's profiles as read, with the rules they are evaluated by."""

    rules: RuleSet | None
    profiles: merge.Profiles

    def segments(self, now_ms: int) -> list[str]:
        """The segment ids the visitor is in at ``now_ms``, as strings, sorted."""
        if self.rules is None or not self.profiles:
            return []
        return [str(s) for s in sorted(merge.segments_in(self.rules, self.profiles, now_ms))]


EMPTY = Snapshot(None, merge.Profiles())


def _states(conn: Connection, tenant_id: int, keys: Iterable[str]) -> tuple[DeviceState, ...]:
    out = []
    for key in sorted(set(keys)):
        found = devices.read_state(conn, tenant_id, key)
        if found is not None:
            out.append(found[1])
    return tuple(out)


def load(conn: Connection, tenant_id: int, ids: AamIds) -> Snapshot:
    """Reads the profiles ``ids`` name and the tenant's rules (a few indexed reads)."""
    if not ids:
        return EMPTY
    rules = rules_for(conn, tenant_id)
    uuids: set[str] = set()
    for namespace, value in ids.devices:
        if namespace == devices.UUID_NAMESPACE:
            uuids.add(value)
        else:
            found = devices.lookup(conn, tenant_id, [(namespace, value)])
            if found is not None:
                uuids.add(found)
    by_code = {code: ds for ds, code in rules.source_codes.items()}
    declared: dict[int, list[tuple[str, bool]]] = {}
    mapped: set[str] = set()
    for namespace, value, authenticated in ids.declared:
        if namespace.startswith("ic:"):
            ds = by_code.get(namespace[3:])
        else:
            ds = int(namespace) if namespace.isdigit() and len(namespace) < 10 else None
        if ds is None:
            continue
        declared.setdefault(ds, []).append((value, authenticated))
        found = devices.lookup(conn, tenant_id, [(str(ds), value)])
        if found is not None:
            mapped.add(found)
    # The device profile is the visitor's device; a visitor named only by declared ids is on
    # the device they were last declared on.
    uuids = uuids or mapped
    current: dict[int, tuple[DeviceState, ...]] = {}
    last: dict[int, tuple[DeviceState, ...]] = {}
    for ds in rules.authenticated_sources:
        sent = declared.get(ds, [])
        current[ds] = _states(
            conn, tenant_id, (devices.authenticated_key(str(ds), v) for v, auth in sent if auth)
        )
        values = [v for v, _ in sent] or _last_declared(conn, tenant_id, ds, uuids)
        last[ds] = _states(conn, tenant_id, (devices.authenticated_key(str(ds), v) for v in values))
    profiles = merge.Profiles(_states(conn, tenant_id, uuids), current, last)
    return Snapshot(rules, profiles)


def _last_declared(conn: Connection, tenant_id: int, ds: int, uuids: Iterable[str]) -> list[str]:
    """The id of data source ``ds`` most recently declared on one of the devices ``uuids``."""
    wanted = sorted(uuids)
    if not wanted:
        return []
    row = conn.execute(
        select(_IDS.c.external_id)
        .where(
            _IDS.c.tenant_id == tenant_id,
            _IDS.c.namespace == str(ds),
            _IDS.c.uuid.in_(wanted),
        )
        .order_by(_IDS.c.updated_ms.desc())
        .limit(1)
    ).first()
    return [] if row is None else [str(row[0])]


def _weight(snapshot: Snapshot) -> int:
    """About how many bytes ``snapshot`` holds: a device profile may hold up to 150,000 traits
    (AAM's limit), so the cache is bounded by this, not only by its count of entries."""
    profiles = snapshot.profiles
    states = [*profiles.device]
    for group in (profiles.current, profiles.last):
        for found in group.values():
            states.extend(found)
    size = 200
    for state in states:
        size += 200 + 40 * len(state.segments)
        for entry in state.realizations.values():
            size += 120 + 8 * len(entry[1])  # type: ignore[arg-type]
    return size


class SegmentCache:
    """Snapshots per (tenant, ids), least recently used dropped past ``max_entries`` or
    ``max_bytes`` (estimated by ``_weight``); a snapshot heavier than ``max_bytes`` is not kept.

    Delivery keeps it beside its cache of Target visitor states and forgets an entry whenever
    it forgets the visitor's state (a lost compare-and-set), so both are read again together.
    """

    def __init__(self, max_entries: int = 100_000, max_bytes: int = 128 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[tuple[Any, ...], tuple[Snapshot, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, tenant_id: int, ids: AamIds) -> Snapshot | None:
        if not ids:
            return EMPTY
        key = (tenant_id, *ids.key())
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            self._entries.move_to_end(key)
            return found[0]

    def put(self, tenant_id: int, ids: AamIds, snapshot: Snapshot) -> None:
        if not ids:
            return
        key = (tenant_id, *ids.key())
        weight = _weight(snapshot)
        with self._lock:
            self._drop(key)
            if weight > self.max_bytes:
                return
            self._entries[key] = (snapshot, weight)
            self.bytes += weight
            while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self.bytes -= dropped

    def forget(self, tenant_id: int, ids: AamIds) -> None:
        with self._lock:
            self._drop((tenant_id, *ids.key()))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.bytes = 0

    def _drop(self, key: tuple[Any, ...]) -> None:
        found = self._entries.pop(key, None)
        if found is not None:
            self.bytes -= found[1]


def matters(
    rules: RuleSet, realized: Sequence[int], entered: Sequence[int], exited: Sequence[int]
) -> bool:
    """Whether a DCS call's outcome can change what targeting sees of the device."""
    if entered or exited:
        return True
    return any(sid in rules.segments_of_trait for sid in realized)


def touch_visitors(conn: Connection, tenant_id: int, uuid: str, rules: RuleSet) -> int:
    """Bumps the version of the Target profiles known by the device's ECIDs and declared ids
    (their next delivery call reads their segments again); returns how many."""
    keys: list[tuple[str, str]] = []
    for namespace, external in conn.execute(_MAPPED, {"tenant": tenant_id, "uuid": uuid}):
        if namespace == devices.MID:
            keys.append(("mcid", str(external)))
        elif str(namespace).isdigit() and int(namespace) in rules.source_codes:
            keys.append((f"cust:{rules.source_codes[int(namespace)]}", str(external)))
    if not keys:
        return 0
    linked = select(_PROFILE_IDS.c.profile_id).where(
        _PROFILE_IDS.c.tenant_id == tenant_id,
        tuple_(_PROFILE_IDS.c.kind, _PROFILE_IDS.c.value).in_(keys),
    )
    result = conn.execute(
        update(_PROFILES).where(_PROFILES.c.id.in_(linked)).values(version=_PROFILES.c.version + 1)
    )
    return int(result.rowcount or 0)
