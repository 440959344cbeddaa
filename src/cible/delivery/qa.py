"""QA mode: a delivery request's ``qaMode`` previews activities before (or while) they are live.

Adobe's ``qaMode`` (Delivery API ``QAMode``; Adobe, "Use Activity QA with server-side delivery"):

- ``token``: the QA token of a QA link (``cible.delivery.qa_token``), naming the activities the
  tester may see; one that is not the request's client's, forged or expired makes the whole
  request a 400 that records nothing;
- ``previewIndexes`` ``[{activityIndex, experienceIndex}]`` (1-based; the activity's position in
  the token, the experience's in the activity's definition): that experience is shown. An
  ``activityIndex`` past the token's activities is ignored; without an entry for an activity, the
  experience its link was made for; an ``experienceIndex`` past the activity's experiences falls
  back to the activity's own allocation (Adobe: "it falls back to the activity's experience
  selector strategy");
- ``listedActivitiesOnly``: only the token's activities are evaluated; otherwise the live ones
  too, the token's first (Cible evaluates the activities under QA ahead of the live ones, so a
  tester sees them wherever their audiences match);
- ``evaluateAsTrueAudienceIds`` / ``evaluateAsFalseAudienceIds``: those audiences are taken as
  matched / not matched in the activities under QA.

The activities under QA are compiled from their current definition whatever their state (but
deleted) and schedule, as remote rules: the server decides them, with the visitor's profile. A QA
call is QA traffic as a whole: it writes no sticky assignment (the visitor's real ones are read,
but those of the activities under QA are set aside), its events carry ``qa`` and reports leave
them out (``cible.delivery.events``), and it never uses the decision cache. docs/qa-and-trace.md.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from cible.activities.abxt._render import activity_json
from cible.activities.abxt.tables import Activity
from cible.artifacts import ArtifactError, compile_artifact
from cible.artifacts.tasks import compile_inputs
from cible.delivery.qa_token import QaTokenError, read
from cible.engine import Artifact, load_artifact
from cible.store import Database
from cible.tenants.event_keys import TenantTokenKeys

__all__ = ["QaPreview", "QaPreviews", "QaRejected"]

# An audience id no stored audience has: the rule "always true" that evaluateAsFalse negates.
_ALWAYS = -1


class QaRejected(ValueError):
    """A ``qaMode`` that cannot be honoured; ``str(error)`` names the field."""


@dataclass(frozen=True)
class QaPreview:
    """What a QA call decides with: the artifact with the activities under QA, and their ids."""

    artifact: Artifact
    activity_ids: frozenset[int]


class QaPreviews:
    """Builds the ``QaPreview`` of a request (reads the database: call it in a thread)."""

    def __init__(self, db: Database, keys: TenantTokenKeys, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.keys = keys
        self.clock = clock

    def prepare(
        self, tenant_id: int, client_code: str, request: Mapping[str, Any], base: Artifact
    ) -> QaPreview:
        qa = request["qaMode"]
        now = self.clock()
        keys = self.keys.get(tenant_id)
        try:
            grant = read(qa["token"], tenant_id, now=now.timestamp(), keys=keys)
        except QaTokenError as error:
            raise QaRejected(f"qaMode.token: {error}") from None
        chosen = _chosen(qa, grant.activities)
        with self.db.session() as session:
            rows = {
                row.id: row
                for row in session.scalars(
                    select(Activity).where(
                        Activity.tenant_id == tenant_id,
                        Activity.id.in_([a for a, _ in grant.activities]),
                        Activity.state != "deleted",
                    )
                )
            }
            activities = [
                _previewed(activity_json(rows[a]), chosen.get(a))
                for a, _ in grant.activities
                if a in rows
            ]
            offers, audiences = compile_inputs(session, tenant_id, activities)
        audiences = _overridden(audiences, qa)
        try:
            compiled = compile_artifact(
                client=client_code,
                environment=str(base.meta.get("environment", "")),
                activities=activities,
                offers=offers,
                audiences=audiences,
                generated_at=now,
                global_mbox=base.global_mbox,
                include_remote=True,
                token_secret=keys[0],
            )
        except ArtifactError as error:
            raise QaRejected(f"qaMode: an activity under QA cannot be compiled: {error}") from None
        ids = frozenset(rows)
        listed_only = qa.get("listedActivitiesOnly") is True
        return QaPreview(load_artifact(_merged(base.raw, compiled, ids, listed_only)), ids)


def _chosen(qa: Mapping[str, Any], granted: tuple[tuple[int, int], ...]) -> dict[int, int]:
    """The experience index (1-based; 0: the activity's allocation) shown per activity."""
    chosen = {activity: index for activity, index in granted}
    for entry in qa.get("previewIndexes") or ():
        position = entry["activityIndex"]
        if 1 <= position <= len(granted):
            chosen[granted[position - 1][0]] = entry.get("experienceIndex") or 0
    return chosen


def _previewed(activity: dict[str, Any], index: int | None) -> dict[str, Any]:
    """The activity as QA shows it: approved, unscheduled, every visitor entering, and only the
    chosen experience when one is (an A/B split gives it 100 %, an XT keeps it alone)."""
    out = copy.deepcopy(activity)
    out["state"] = "approved"
    for key in ("startsAt", "endsAt", "entryConstraint"):
        out.pop(key, None)
    experiences = out.get("experiences") or []
    if index and 1 <= index <= len(experiences):
        if out.get("type") == "ab":
            for position, experience in enumerate(experiences, start=1):
                experience["visitorPercentage"] = 100 if position == index else 0
        else:
            out["experiences"] = [experiences[index - 1]]
    return out


def _overridden(
    audiences: dict[int, dict[str, Any]], qa: Mapping[str, Any]
) -> dict[int, dict[str, Any]]:
    out = dict(audiences)
    always: dict[str, Any] = {"id": _ALWAYS, "name": "QA: evaluated as true", "targetRule": None}
    for audience_id in qa.get("evaluateAsTrueAudienceIds") or ():
        if audience_id in out:
            out[audience_id] = {**always, "id": audience_id}
    for audience_id in qa.get("evaluateAsFalseAudienceIds") or ():
        if audience_id in out:
            out[audience_id] = {
                "id": audience_id,
                "name": "QA: evaluated as false",
                "targetRule": None,
                "audienceRule": {"restRuleOperator": "NOT", "rules": [_ALWAYS]},
            }
            out[_ALWAYS] = always
    return out


def _merged(
    base: Mapping[str, Any],
    compiled: Mapping[str, Any],
    ids: frozenset[int],
    listed_only: bool,
) -> dict[str, Any]:
    """``base`` with the rules of ``ids`` replaced by ``compiled``'s, placed first (alone when
    ``listed_only``)."""
    merged = dict(base)
    rules = base.get("rules") or {}
    kinds: dict[str, dict[str, list[Any]]] = {}
    for kind in ("mboxes", "views"):
        kept: dict[str, list[Any]] = {}
        if not listed_only:
            for name, items in (rules.get(kind) or {}).items():
                kept[name] = [r for r in items if _activity_of(r) not in ids]
        for name, items in (compiled["rules"].get(kind) or {}).items():
            kept[name] = [*items, *kept.get(name, [])]
        kinds[kind] = kept
    merged["rules"] = kinds
    merged.setdefault("version", compiled["version"])
    return merged


def _activity_of(rule: Any) -> int | None:
    if not isinstance(rule, Mapping):
        return None
    value = rule.get("activityId", (rule.get("meta") or {}).get("activity.id"))
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
