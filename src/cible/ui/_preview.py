"""Decide a visitor in the UI: activity previews and the audience tester.

Both call ``cible.engine.decide``, the engine the delivery API and the SDKs use, on an artifact
compiled by ``cible.artifacts``: the tenant's served artifact for a live activity, or a trial
artifact holding only what is being edited (a draft activity, an unsaved audience rule), so a
preview shows exactly what delivery would answer, with the engine's reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cible.artifacts import ArtifactError, TargetRuleError, compile_artifact
from cible.engine import EXTRA_KEY, decide, load_artifact
from cible.errors import BadRequest
from cible.ui._forms import lines_to_dict

TRIAL_MBOX = "cible-ui-audience-test"


@dataclass(frozen=True)
class Visitor:
    """A visitor as the preview forms describe one."""

    visitor_id: str = "preview-visitor"
    mbox: str = ""
    parameters: dict[str, str] = field(default_factory=dict)
    profile: dict[str, str] = field(default_factory=dict)
    url: str = ""
    referring_url: str = ""
    user_agent: str = ""

    def request(self) -> dict[str, Any]:
        """The Adobe delivery request this visitor's browser would send for ``mbox``."""
        context: dict[str, Any] = {"channel": "web"}
        address = {k: v for k, v in (("url", self.url), ("referringUrl", self.referring_url)) if v}
        if address:
            context["address"] = address
        if self.user_agent:
            context["userAgent"] = self.user_agent
        mbox: dict[str, Any] = {"index": 0, "name": self.mbox}
        if self.parameters:
            mbox["parameters"] = self.parameters
        if self.profile:
            mbox["profileParameters"] = self.profile
        return {
            "context": context,
            "id": {"tntId": self.visitor_id},
            "execute": {"mboxes": [mbox]},
        }


def visitor_from(fields: dict[str, str]) -> Visitor:
    """A ``Visitor`` from the preview form's fields (``key=value`` lines for parameters)."""
    visitor_id = fields.get("visitor_id", "").strip()
    if not visitor_id:
        raise BadRequest.fields([("visitor_id", "give a visitor id")])
    return Visitor(
        visitor_id=visitor_id,
        mbox=fields.get("mbox", "").strip(),
        parameters=lines_to_dict(fields.get("parameters", "")),
        profile=lines_to_dict(fields.get("profile", "")),
        url=fields.get("url", "").strip(),
        referring_url=fields.get("referring_url", "").strip(),
        user_agent=fields.get("user_agent", "").strip(),
    )


@dataclass(frozen=True)
class Outcome:
    """What the engine answered for the visitor's mbox, and why."""

    options: list[dict[str, Any]]
    rules: list[dict[str, Any]]
    notes: list[str]

    @property
    def matched(self) -> list[dict[str, Any]]:
        return [r for r in self.rules if r.get("matched")]


def _outcome(result: dict[str, Any]) -> Outcome:
    mboxes = result.get("execute", {}).get("mboxes", [])
    options = [o for m in mboxes for o in m.get("options", [])]
    rules: list[dict[str, Any]] = []
    notes: list[str] = []
    for reason in result.get(EXTRA_KEY, {}).get("reasons", []):
        rules += reason.get("rules", [])
        if "message" in reason:
            notes.append(str(reason["message"]))
    return Outcome(options=options, rules=rules, notes=notes)


def decide_stored(body: bytes, visitor: Visitor, now: datetime, client: str) -> Outcome:
    """The visitor decided on a served artifact (``rules.json`` bytes)."""
    artifact = load_artifact(body)
    profile = visitor.profile or None
    return _outcome(
        decide(artifact, visitor.request(), profile=profile, now=now, client=client, trace=True)
    )


def decide_trial(
    visitor: Visitor,
    now: datetime,
    client: str,
    activities: list[dict[str, Any]],
    offers: dict[int, dict[str, Any]],
    audiences: dict[int, dict[str, Any]],
) -> Outcome:
    """The visitor decided on an artifact compiled from ``activities`` alone."""
    try:
        artifact = compile_artifact(
            client=client,
            environment="preview",
            activities=activities,
            offers=offers,
            audiences=audiences,
            generated_at=now,
            include_remote=True,
        )
    except (ArtifactError, TargetRuleError) as exc:
        raise BadRequest.fields([(exc.path or "activity", exc.message)]) from None
    return decide_stored_dict(artifact, visitor, now, client)


def decide_stored_dict(
    artifact: dict[str, Any], visitor: Visitor, now: datetime, client: str
) -> Outcome:
    loaded = load_artifact(artifact)
    profile = visitor.profile or None
    return _outcome(
        decide(loaded, visitor.request(), profile=profile, now=now, client=client, trace=True)
    )


def audience_matches(rule: dict[str, Any], visitor: Visitor, now: datetime, client: str) -> Outcome:
    """Whether a visitor matches ``rule``: a one-experience activity gated by it, decided."""
    activity = {
        "id": 1,
        "type": "xt",
        "name": "audience test",
        "state": "approved",
        "options": [{"optionLocalId": 0, "offerId": 1}],
        "locations": {"mboxes": [{"locationLocalId": 0, "name": TRIAL_MBOX}]},
        "experiences": [
            {
                "experienceLocalId": 0,
                "name": "matches",
                "audienceIds": [1],
                "optionLocations": [{"locationLocalId": 0, "optionLocalId": 0}],
            }
        ],
    }
    offers = {1: {"id": 1, "name": "match", "type": "json", "content": {"matched": True}}}
    audiences = {1: {"id": 1, "name": "tested", "targetRule": rule}}
    tested = Visitor(
        visitor_id=visitor.visitor_id,
        mbox=TRIAL_MBOX,
        parameters=visitor.parameters,
        profile=visitor.profile,
        url=visitor.url,
        referring_url=visitor.referring_url,
        user_agent=visitor.user_agent,
    )
    return decide_trial(tested, now, client, [activity], offers, audiences)
