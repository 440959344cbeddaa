"""Visitor profiles: find (and merge) a visitor's profile by any of his ids, keep his sessions and
built-in attributes, store profile attributes and his sticky activity assignments.

A delivery call opens a ``Visit`` from the stored state (``cible.profiles.state``: cached, or
read once), changes it in memory, and ``change_of`` says what to write; the write is a
compare-and-set committed before the response, so the update is durable and no concurrent
update is lost.

Merge (Adobe, "Real-time profile syncing for mbox3rdPartyId"): the thirdPartyId profile wins
over the customer-id profile, which wins over the tntId profile, which wins over the Marketing
Cloud visitor id profile. When one call names ids of two profiles, the winner's attributes and
assignments overwrite the others', every id is pointed at the winner and the others are deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from cible.ids import random_hex
from cible.profiles import state
from cible.profiles.state import ProfileRow
from cible.profiles.tables import Assignment, Profile, ProfileId

__all__ = [
    "MAX_PROFILE_BYTES",
    "ProfileTooLarge",
    "Visit",
    "VisitorIds",
    "apply_attributes",
    "change_of",
    "find_profile",
    "find_profiles",
    "id_rows",
    "new_profile",
    "new_tnt_id",
    "open_state",
    "profile_document",
    "reset_activity",
    "snapshot_after",
    "tnt_key",
]

MAX_PROFILE_BYTES = 64 * 1024
"""Adobe's limit on external profile data per profile (target-limits: 64 KB)."""

LAST_SEEN_GRANULARITY_MS = 60_000
"""``last_seen`` is rewritten at most once a minute when nothing else changed (fewer writes)."""

_PRECEDENCE = ("3p", "cust", "tnt", "mcid")


class ProfileTooLarge(ValueError):
    """The profile's attributes would exceed ``MAX_PROFILE_BYTES``."""


def tnt_key(tnt_id: str) -> str:
    """The part of a tntId that identifies the visitor (before the location-hint suffix)."""
    return tnt_id.split(".", 1)[0]


def new_tnt_id() -> str:
    """A fresh tntId: 32 hex digits and a suffix without ``_``.

    Adobe's SDKs read ``<id>.<cluster>_<n>`` as a location hint and then call
    ``mboxedge<cluster>.tt.omtrdc.net`` instead of the configured server (sdk-facts,
    ``extract_cluster_from_device_id``); ``.0`` carries no cluster.
    """
    return f"{random_hex()}.0"


@dataclass(frozen=True)
class VisitorIds:
    """The ids of a delivery request's ``id`` object that lead to a profile."""

    tnt_id: str | None = None
    third_party_id: str | None = None
    marketing_cloud_visitor_id: str | None = None
    customer: tuple[str, str] | None = None  # (integrationCode, id), authenticated only

    @classmethod
    def from_request(cls, ids: Mapping[str, Any] | None) -> VisitorIds:
        if not isinstance(ids, Mapping):
            return cls()
        customer = None
        for entry in ids.get("customerIds") or ():
            # Adobe: only the first authenticated customer id is used for the profile lookup.
            if isinstance(entry, Mapping) and entry.get("authenticatedState") == "authenticated":
                customer = (str(entry["integrationCode"]), str(entry["id"]))
                break
        return cls(
            tnt_id=ids.get("tntId") or None,
            third_party_id=ids.get("thirdPartyId") or None,
            marketing_cloud_visitor_id=ids.get("marketingCloudVisitorId") or None,
            customer=customer,
        )

    def keys(self) -> list[tuple[str, str]]:
        """``(kind, value)`` rows of ``profile_ids`` for these ids, in merge precedence."""
        keys: list[tuple[str, str]] = []
        if self.third_party_id:
            keys.append(("3p", self.third_party_id))
        if self.customer:
            keys.append((f"cust:{self.customer[0]}", self.customer[1]))
        if self.tnt_id:
            keys.append(("tnt", tnt_key(self.tnt_id)))
        if self.marketing_cloud_visitor_id:
            keys.append(("mcid", self.marketing_cloud_visitor_id))
        return keys


@dataclass
class Visit:
    """A visitor's profile during one call: read once, changed in memory, saved once."""

    profile: ProfileRow
    tnt_id: str
    attributes: dict[str, list[Any]]
    assignments: dict[int, int]
    is_new_session: bool = False
    dirty: bool = False
    attributes_changed: bool = False
    new_assignments: dict[int, int] = field(default_factory=dict)
    missing_keys: list[tuple[str, str]] = field(default_factory=list)
    created: bool = False
    known_keys: frozenset[tuple[str, str]] = frozenset()
    losers: list[tuple[int, int]] = field(default_factory=list)
    attributes_bytes: int = 2
    attributes_text: str | None = None  # the JSON of ``attributes`` once serialized

    def set_attributes(self, updates: Mapping[str, str], now_ms: int) -> bool:
        """Store ``updates`` (names without ``profile.``); True when a value changed."""
        changed = False
        for written, value in updates.items():
            name = written.removeprefix("profile.")
            current = self.attributes.get(name)
            if current is None or current[0] != value:
                self.attributes[name] = [value, now_ms]
                changed = True
        if changed:
            self.attributes_text = orjson.dumps(self.attributes).decode()
            self.attributes_bytes = len(self.attributes_text)
            if self.attributes_bytes > MAX_PROFILE_BYTES:
                raise ProfileTooLarge(f"profile attributes exceed {MAX_PROFILE_BYTES} bytes")
            self.attributes_changed = self.dirty = True
        return changed

    def assign(self, activity_id: int, experience_id: int) -> None:
        if self.assignments.get(activity_id) != experience_id:
            self.assignments[activity_id] = experience_id
            self.new_assignments[activity_id] = experience_id

    def engine_profile(self) -> dict[str, Any]:
        """The attributes ``cible.engine.decide`` reads as ``profile.*`` (docs/profiles.md)."""
        p = self.profile
        values: dict[str, Any] = {name: entry[0] for name, entry in self.attributes.items()}
        values.update(
            {
                "tntId": self.tnt_id,
                "isFirstSession": "true" if p.visit_count <= 1 else "false",
                "isNewSession": "true" if self.is_new_session else "false",
                "sessionCount": p.visit_count,
                "firstSessionStart": p.first_session_start,
                "lastSessionStart": p.session_start,
            }
        )
        if p.days_since_last_visit is not None:
            values["daysSinceLastVisit"] = p.days_since_last_visit
        if p.third_party_id:
            values["thirdPartyId"] = p.third_party_id
        return values

    def fingerprint(self) -> bytes:
        """What a cached decision depends on in this profile (the session cache's key part)."""
        return orjson.dumps(
            [self.engine_profile(), sorted(self.assignments.items())],
            option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
        )


def _load_attributes(profile: Profile) -> dict[str, list[Any]]:
    loaded = orjson.loads(profile.attributes or "{}")
    return loaded if isinstance(loaded, dict) else {}


def find_profile(session: Session, tenant_id: int, kind: str, value: str) -> Profile | None:
    """The profile an id leads to (``kind``: tnt, 3p, mcid, cust:<code>), if any."""
    if kind == "tnt":
        value = tnt_key(value)
    query = (
        select(Profile)
        .join(ProfileId, ProfileId.profile_id == Profile.id)
        .where(ProfileId.tenant_id == tenant_id, ProfileId.kind == kind, ProfileId.value == value)
    )
    return session.scalar(query)


def _precedence(kind: str) -> int:
    return _PRECEDENCE.index(kind.split(":", 1)[0])


def open_state(
    tenant_id: int,
    ids: VisitorIds,
    loaded: state.Loaded,
    session_id: str | None,
    now: datetime,
    session_timeout_seconds: int,
) -> Visit:
    """The visitor's state for this call, merged across his ids, with his session updated.

    ``loaded`` holds the stored profiles his ids lead to (from ``state.load`` or the cache); a
    visitor known by none gets a new profile and, when he sent no tntId, a new tntId. Nothing
    is written here: ``change_of`` says what to write.
    """
    keys = ids.keys()
    now_ms = int(now.timestamp() * 1000)
    if loaded.snapshots:
        winner_kind = min(loaded.found, key=_precedence)
        winner = loaded.snapshots[loaded.found[winner_kind]]
        visit = Visit(
            winner.copy_row(),
            ids.tnt_id or winner.row.tnt_id,
            dict(winner.attributes),
            dict(winner.assignments),
            known_keys=winner.keys,
        )
        for pid, loser in loaded.snapshots.items():
            if pid != winner.row.id:
                _merge(visit, loser)
    else:
        tnt_id = ids.tnt_id or new_tnt_id()
        row = state.ProfileRow(
            id=None,
            version=0,
            tnt_id=tnt_id,
            third_party_id=ids.third_party_id,
            session_id=None,
            visit_count=0,
            first_session_start=None,
            session_start=None,
            last_seen=None,
            days_since_last_visit=None,
            created_at=now,
            modified_at=now,
        )
        visit = Visit(row, tnt_id, {}, {}, created=True, dirty=True)
        if not ids.tnt_id:
            keys.append(("tnt", tnt_key(tnt_id)))
    visit.missing_keys = [key for key in keys if key not in visit.known_keys]
    if ids.third_party_id and visit.profile.third_party_id != ids.third_party_id:
        visit.profile.third_party_id = ids.third_party_id
        visit.dirty = True
    if session_id is not None:
        _touch_session(visit, session_id, now_ms, session_timeout_seconds)
    return visit


def _merge(visit: Visit, loser: state.Snapshot) -> None:
    # The winner's values overwrite the loser's (Adobe: the thirdPartyId profile wins).
    winner, other = visit.profile, loser.row
    visit.attributes = {**loser.attributes, **visit.attributes}
    for activity_id, experience_id in loser.assignments.items():
        if activity_id not in visit.assignments:
            visit.assign(activity_id, experience_id)
    winner.visit_count = max(winner.visit_count, other.visit_count)
    starts = [s for s in (winner.first_session_start, other.first_session_start) if s]
    winner.first_session_start = min(starts) if starts else None
    assert other.id is not None
    visit.losers.append((other.id, other.version))
    visit.known_keys = visit.known_keys | loser.keys
    visit.attributes_text = orjson.dumps(visit.attributes).decode()
    visit.attributes_bytes = len(visit.attributes_text)
    visit.attributes_changed = visit.dirty = True


def _touch_session(visit: Visit, session_id: str, now_ms: int, timeout_seconds: int) -> None:
    p = visit.profile
    last = p.last_seen
    expired = last is None or now_ms - last > timeout_seconds * 1000
    if p.session_id != session_id or expired:
        # A visit is a session (Adobe: a new sessionId or 30 idle minutes start a new visit).
        if last is not None:
            p.days_since_last_visit = max(0, (now_ms - last) // 86_400_000)
        p.visit_count = (p.visit_count or 0) + 1
        p.session_id = session_id
        p.session_start = now_ms
        if p.first_session_start is None:
            p.first_session_start = now_ms
        visit.is_new_session = True
        visit.dirty = True
    if visit.dirty or last is None or now_ms - last >= LAST_SEEN_GRANULARITY_MS:
        p.last_seen = now_ms
        visit.dirty = True


def change_of(tenant_id: int, visit: Visit, now: datetime) -> state.Change:
    """What ``state.write`` must store for this call."""
    attributes_json = None
    if visit.attributes_changed or visit.created:
        attributes_json = visit.attributes_text or orjson.dumps(visit.attributes).decode()
        visit.profile.modified_at = now
    return state.Change(
        tenant_id=tenant_id,
        row=visit.profile,
        created=visit.created,
        row_changed=visit.dirty,
        attributes_json=attributes_json,
        new_keys=visit.missing_keys,
        new_assignments=visit.new_assignments,
        losers=visit.losers,
    )


def snapshot_after(visit: Visit, profile_id: int, version: int) -> state.Snapshot:
    """The visitor's state as stored once ``change_of(visit)`` committed with ``version``."""
    row = visit.profile.copy()
    row.id, row.version = profile_id, version
    keys = visit.known_keys | frozenset(visit.missing_keys)
    size = state.estimate_size(visit.attributes_bytes, len(keys), len(visit.assignments))
    return state.Snapshot(row, visit.attributes, visit.assignments, keys, size)


def reset_activity(session: Session, tenant_id: int, activity_id: int) -> int:
    """Forget every visitor's assignment in an activity (Adobe's activity reset); rows deleted.

    The visitors' versions move too, so no cached state of theirs is used afterwards.
    """
    assigned = select(Assignment.profile_id).where(
        Assignment.tenant_id == tenant_id, Assignment.activity_id == activity_id
    )
    session.execute(
        update(Profile)
        .where(Profile.id.in_(assigned))
        .values(version=Profile.version + 1)
        .execution_options(synchronize_session=False)
    )
    result = session.execute(
        delete(Assignment).where(
            Assignment.tenant_id == tenant_id, Assignment.activity_id == activity_id
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def profile_document(client: str, visitor_id: str, profile: Profile) -> dict[str, Any]:
    """Adobe's profile fetch shape (Profile API, "Fetch a profile")."""
    attributes: dict[str, Any] = {}
    for name, (value, modified_ms) in sorted(_load_attributes(profile).items()):
        attributes[name] = {"value": str(value), "modifiedAt": _iso_ms(modified_ms)}
    if profile.first_session_start is not None:
        attributes["firstSessionStart"] = {
            "value": str(profile.first_session_start),
            "modifiedAt": _iso_ms(profile.first_session_start),
        }
    return {
        "client": client,
        "visitorId": visitor_id,
        "modifiedAt": _iso(profile.modified_at),
        "profileAttributes": attributes,
    }


def set_profile_attributes(
    session: Session, profile: Profile, updates: Mapping[str, str], now: datetime
) -> bool:
    """Update a stored profile outside a delivery call (Profile API); True when changed."""
    return apply_attributes(profile, updates, now)


def apply_attributes(profile: Profile, updates: Mapping[str, str], now: datetime) -> bool:
    """Set attributes on a profile row (flushed with the caller's session); True when changed.

    The flush is a compare-and-set on ``profiles.version`` (``StaleDataError`` when another
    writer changed the row since this session read it: the caller retries).
    """
    attributes = _load_attributes(profile)
    changed = False
    now_ms = int(now.timestamp() * 1000)
    for written, value in updates.items():
        name = written.removeprefix("profile.")
        current = attributes.get(name)
        if current is None or current[0] != value:
            attributes[name] = [value, now_ms]
            changed = True
    if not changed:
        return False
    text = orjson.dumps(attributes).decode()
    if len(text) > MAX_PROFILE_BYTES:
        raise ProfileTooLarge(f"profile attributes exceed {MAX_PROFILE_BYTES} bytes")
    profile.attributes = text
    profile.modified_at = now
    return True


def find_profiles(
    session: Session, tenant_id: int, kind: str, values: list[str]
) -> dict[str, Profile]:
    """The profiles some ids of one kind lead to, by id as given."""
    keys = {(tnt_key(v) if kind == "tnt" else v): v for v in values}
    found: dict[str, Profile] = {}
    for start in range(0, len(keys), 500):
        part = list(keys)[start : start + 500]
        rows = session.execute(
            select(ProfileId.value, Profile)
            .join(Profile, Profile.id == ProfileId.profile_id)
            .where(
                ProfileId.tenant_id == tenant_id,
                ProfileId.kind == kind,
                ProfileId.value.in_(part),
            )
        )
        for value, profile in rows:
            found[keys[value]] = profile
    return found


def new_profile(tenant_id: int, kind: str, value: str, now: datetime) -> Profile:
    """An unsaved, empty profile for an id (add it, flush, then add ``id_rows``)."""
    return Profile(
        tenant_id=tenant_id,
        tnt_id=value if kind == "tnt" else new_tnt_id(),
        third_party_id=value if kind == "3p" else None,
        attributes="{}",
        visit_count=0,
        created_at=now,
        modified_at=now,
    )


def id_rows(kind: str, value: str, profile: Profile) -> list[ProfileId]:
    """The ``profile_ids`` rows of a profile made by ``new_profile``."""
    rows = [
        ProfileId(
            tenant_id=profile.tenant_id,
            kind=kind,
            value=tnt_key(value) if kind == "tnt" else value,
            profile_id=profile.id,
        )
    ]
    if kind != "tnt":
        rows.append(
            ProfileId(
                tenant_id=profile.tenant_id,
                kind="tnt",
                value=tnt_key(profile.tnt_id),
                profile_id=profile.id,
            )
        )
    return rows


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds")


def _iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def attribute_names(updates: Iterable[str]) -> set[str]:
    """Names as the Admin API lists them (without Adobe's ``profile.`` prefix)."""
    return {name.removeprefix("profile.") for name in updates}
