"""The reporting audiences a visitor qualifies for, recorded on his events of a delivery call.

An activity's ``reportingAudiences`` (Adobe Admin API, ``ABActivity``) let its reports count only
the visitors who met an audience during the activity. The server artifact carries their
conditions, translated as targeting audiences are (``cible.artifacts._reporting``); here they
become a small artifact of their own, one rule per reporting audience on the global mbox, which
``cible.engine.decide`` evaluates with the request's context, the visitor's profile and
segments, exactly as it evaluates targeting. The global mbox collects every matching rule, so one
decision answers every reporting audience of the call's activities.

The visitor qualifies for a reporting audience in a call when it holds at one of the call's
locations (``pageLoad``, mboxes, views, notifications; each with its own mbox parameters).
Each event of the activity in the call (impression, display, click, conversion, order) then
carries the ids as ``reporting_audiences``; reports keep the visitor in that audience from then
on (``cible.reports._aggregate``). A call without events of such an activity costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from cible.delivery.events import EventBatch
from cible.engine import EXTRA_KEY, Artifact, ArtifactError, decide, load_artifact

__all__ = ["KEY", "ReportingAudiences"]

KEY = "reportingAudiences"  # cible.artifacts._reporting.KEY
_MBOX = "cible-reporting-audiences"
_UNCOUNTED = frozenset({"rejected"})


def _rules(raw: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(raw, Mapping):
        return
    for activity, entries in raw.items():
        if not isinstance(entries, list) or not str(activity).isdigit():
            continue
        for entry in entries:
            local = entry.get("reportingAudienceLocalId") if isinstance(entry, Mapping) else None
            if not isinstance(local, int) or "condition" not in entry:
                continue
            yield {
                "ruleKey": f"{activity}:{local}",
                "activityId": int(activity),
                "meta": {"activity.id": int(activity), "experience.id": local},
                "condition": entry["condition"],
                "consequence": {},
            }


class ReportingAudiences:
    """The reporting audiences of one served artifact, ready to evaluate.

    >>> from cible.engine import load_artifact
    >>> served = load_artifact({"version": "1.0.0", "rules": {"mboxes": {}, "views": {}},
    ...                         "reportingAudiences": {"7": [{"reportingAudienceLocalId": 1,
    ...                                                      "condition": True}]}})
    >>> ReportingAudiences.of(served).activities
    frozenset({7})
    """

    def __init__(self, artifact: Artifact, activities: frozenset[int]) -> None:
        self.artifact = artifact
        self.activities = activities

    @classmethod
    def of(cls, served: Artifact) -> ReportingAudiences | None:
        """The served artifact's reporting audiences; None when it has none."""
        rules = list(_rules(served.raw.get(KEY)))
        if not rules:
            return None
        try:
            artifact = load_artifact(
                {
                    "version": "1.0.0",
                    "globalMbox": _MBOX,
                    "localMboxes": [_MBOX],
                    "rules": {"mboxes": {_MBOX: rules}, "views": {}},
                }
            )
        except ArtifactError:
            return None
        return cls(artifact, frozenset(rule["activityId"] for rule in rules))

    def qualified(
        self,
        request: Mapping[str, Any],
        locations: list[Mapping[str, Any]],
        profile: Mapping[str, Any],
        now: datetime,
        client: str,
        activities: set[int],
    ) -> dict[int, list[int]]:
        """``{activity: sorted reporting audience local ids}`` that hold at one of
        ``locations`` (mbox details, their ``parameters`` read as ``mbox.*``)."""
        details = [
            {"name": _MBOX, "index": i, "parameters": dict(detail.get("parameters") or {})}
            for i, detail in enumerate(locations or [{}])
        ]
        probe = {
            "context": request.get("context") or {},
            "id": request.get("id") or {},
            "experienceCloud": request.get("experienceCloud") or {},
            "prefetch": {"mboxes": details},
        }
        decision = decide(self.artifact, probe, profile=profile, now=now, client=client)
        found: dict[int, set[int]] = {}
        for entry in decision.get(EXTRA_KEY, {}).get("decided", ()):
            activity, local = entry.get("activityId"), entry.get("experienceId")
            if activity in activities and isinstance(local, int):
                found.setdefault(activity, set()).add(local)
        return {activity: sorted(ids) for activity, ids in found.items()}

    def concerns(self, batch: EventBatch) -> bool:
        """True when the batch has a counted event of an activity with reporting audiences."""
        return any(
            row["activity_id"] in self.activities and row["kind"] not in _UNCOUNTED
            for row in batch.rows.values()
        )

    def tag(
        self,
        batch: EventBatch,
        request: Mapping[str, Any],
        locations: list[Mapping[str, Any]],
        profile: Mapping[str, Any],
        now: datetime,
        client: str,
    ) -> None:
        """Adds ``reporting_audiences`` to the batch's events of activities that have some."""
        rows = [
            row
            for row in batch.rows.values()
            if row["activity_id"] in self.activities and row["kind"] not in _UNCOUNTED
        ]
        if not rows:
            return
        wanted = {row["activity_id"] for row in rows}
        found = self.qualified(request, locations, profile, now, client, wanted)
        for row in rows:
            ids = found.get(row["activity_id"])
            if ids:
                row["reporting_audiences"] = ids
