"""Visitor profiles: find (and merge) a visitor's profile by any of his ids, keep his sessions and
built-in attributes, store profile attributes and his sticky activity assignments.

A delivery call opens a ``Visit`` (one read), changes it in memory, and ``save_visit`` writes
what changed in the caller's transaction, so the update is durable before the response.

Merge (Adobe, "Real-time profile syncing for mbox3rdPartyId"): the thirdPartyId profile wins
over the customer-id profile, which wins over the tntId profile, which wins over the Marketing
Cloud visitor id profile. When one call names ids of two profiles, the winner's attributes and
assignments overwrite the others', every id is pointed at the winner and the others are deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import bindparam, delete, select, tuple_, update
from sqlalchemy.orm import Session

from cible.profiles.tables import Assignment, Profile, ProfileId

__all__ = [
    "MAX_PROFILE_BYTES",
    "ProfileTooLarge",
    "Visit",
    "VisitorIds",
    "apply_attributes",
    "find_profile",
    "find_profiles",
    "id_rows",
    "new_profile",
    "new_tnt_id",
    "open_visit",
    "profile_document",
    "reset_activity",
    "save_visit",
    "tnt_key",
]

MAX_PROFILE_BYTES = 64 * 1024
"""Adobe's limit on external profile data per profile (target-limits: 64 KB)."""

LAST_SEEN_GRANULARITY_MS = 60_000
"""``last_seen`` is rewritten at most once a minute when nothing else changed (fewer writes)."""

_PRECEDENCE = ("3p", "cust", "tnt", "mcid")


# The delivery hot path's statements, built once (a statement built per call costs more than
# running it on SQLite); tuple IN with an expanding parameter covers any number of ids.
_LOOKUP = select(ProfileId.kind, ProfileId.profile_id).where(
    ProfileId.tenant_id == bindparam("tenant_id"),
    tuple_(ProfileId.kind, ProfileId.value).in_(bindparam("keys", expanding=True)),
)
_PROFILES = select(Profile).where(Profile.id.in_(bindparam("ids", expanding=True)))
_ASSIGNMENTS = select(
    Assignment.profile_id, Assignment.activity_id, Assignment.experience_id
).where(Assignment.profile_id.in_(bindparam("ids", expanding=True)))


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
    return f"{uuid.uuid4().hex}.0"


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

    profile: Profile
    tnt_id: str
    attributes: dict[str, list[Any]]
    assignments: dict[int, int]
    is_new_session: bool = False
    dirty: bool = False
    attributes_changed: bool = False
    new_assignments: dict[int, int] = field(default_factory=dict)
    missing_keys: list[tuple[str, str]] = field(default_factory=list)
    created: bool = False

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
            if len(orjson.dumps(self.attributes)) > MAX_PROFILE_BYTES:
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


def _lookup(session: Session, tenant_id: int, keys: list[tuple[str, str]]) -> dict[str, int]:
    if not keys:
        return {}
    rows = session.execute(_LOOKUP, {"tenant_id": tenant_id, "keys": keys})
    found: dict[str, int] = {}
    for kind, profile_id in rows:
        found[kind] = profile_id
    return found


def _precedence(kind: str) -> int:
    return _PRECEDENCE.index(kind.split(":", 1)[0])


def open_visit(
    session: Session,
    tenant_id: int,
    ids: VisitorIds,
    session_id: str | None,
    now: datetime,
    session_timeout_seconds: int,
    *,
    create: bool = True,
) -> Visit | None:
    """The visitor's profile for this call, merged across his ids, with his session updated.

    A visitor known by no id gets a new profile (and a new tntId) when ``create``; otherwise
    None is returned. Nothing is written until ``save_visit``.
    """
    keys = ids.keys()
    found = _lookup(session, tenant_id, keys)
    now_ms = int(now.timestamp() * 1000)
    profile_ids = sorted(set(found.values()))
    profiles = {p.id: p for p in session.scalars(_PROFILES, {"ids": profile_ids})}
    if profiles:
        winner_kind = min(found, key=_precedence)
        profile = profiles[found[winner_kind]]
        attributes = _load_attributes(profile)
        assignments = _load_assignments(session, [profile.id])
        losers = [p for pid, p in profiles.items() if pid != profile.id]
        visit = Visit(profile, ids.tnt_id or profile.tnt_id, attributes, assignments[profile.id])
        if losers:
            _merge(session, visit, losers, tenant_id)
    elif create:
        tnt_id = ids.tnt_id or new_tnt_id()
        profile = Profile(
            tenant_id=tenant_id,
            tnt_id=tnt_id,
            third_party_id=ids.third_party_id,
            attributes="{}",
            visit_count=0,
            created_at=now,
            modified_at=now,
        )
        visit = Visit(profile, tnt_id, {}, {}, created=True, dirty=True)
        if not ids.tnt_id:
            keys.append(("tnt", tnt_key(tnt_id)))
    else:
        return None
    visit.missing_keys = [(k, v) for k, v in keys if k not in found]
    if ids.third_party_id and visit.profile.third_party_id != ids.third_party_id:
        visit.profile.third_party_id = ids.third_party_id
        visit.dirty = True
    if session_id is not None:
        _touch_session(visit, session_id, now_ms, session_timeout_seconds)
    return visit


def _load_assignments(session: Session, profile_ids: list[int]) -> dict[int, dict[int, int]]:
    out: dict[int, dict[int, int]] = {pid: {} for pid in profile_ids}
    rows = session.execute(_ASSIGNMENTS, {"ids": profile_ids})
    for profile_id, activity_id, experience_id in rows:
        out[profile_id][activity_id] = experience_id
    return out


def _merge(session: Session, visit: Visit, losers: list[Profile], tenant_id: int) -> None:
    loser_ids = [p.id for p in losers]
    loser_assignments = _load_assignments(session, loser_ids)
    winner = visit.profile
    for loser in losers:
        # The winner's values overwrite the loser's (Adobe: the thirdPartyId profile wins).
        visit.attributes = {**_load_attributes(loser), **visit.attributes}
        for activity_id, experience_id in loser_assignments[loser.id].items():
            if activity_id not in visit.assignments:
                visit.assign(activity_id, experience_id)
        winner.visit_count = max(winner.visit_count, loser.visit_count)
        starts = [s for s in (winner.first_session_start, loser.first_session_start) if s]
        winner.first_session_start = min(starts) if starts else None
    session.execute(
        update(ProfileId)
        .where(ProfileId.tenant_id == tenant_id, ProfileId.profile_id.in_(loser_ids))
        .values(profile_id=winner.id)
    )
    session.execute(delete(Assignment).where(Assignment.profile_id.in_(loser_ids)))
    session.execute(delete(Profile).where(Profile.id.in_(loser_ids)))
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


def save_visit(session: Session, tenant_id: int, visit: Visit, now: datetime) -> None:
    """Write what the call changed: the profile row, new ids, new assignments."""
    p = visit.profile
    if visit.attributes_changed:
        p.attributes = orjson.dumps(visit.attributes).decode()
        p.modified_at = now
    if visit.created:
        session.add(p)
        session.flush()
    for kind, value in visit.missing_keys:
        session.add(ProfileId(tenant_id=tenant_id, kind=kind, value=value, profile_id=p.id))
    for activity_id, experience_id in visit.new_assignments.items():
        session.merge(
            Assignment(
                profile_id=p.id,
                activity_id=activity_id,
                tenant_id=tenant_id,
                experience_id=experience_id,
                assigned_at=now,
            )
        )
    if visit.missing_keys or visit.new_assignments:
        session.flush()


def reset_activity(session: Session, tenant_id: int, activity_id: int) -> int:
    """Forget every visitor's assignment in an activity (Adobe's activity reset); rows deleted."""
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
    """Set attributes on a profile row (flushed with the caller's session); True when changed."""
    visit = Visit(profile, profile.tnt_id, _load_attributes(profile), {})
    if not visit.set_attributes(updates, int(now.timestamp() * 1000)):
        return False
    profile.attributes = orjson.dumps(visit.attributes).decode()
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
