"""Activities, offers and audiences the delivery tests decide with (compiled by Cible)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cible.artifacts import compile_artifact
from cible.delivery.source import FixedArtifactSource
from cible.engine import Artifact, load_artifact

CLIENT = "acme"

OFFERS: dict[int, dict[str, Any]] = {
    500 + i: {"id": 500 + i, "name": f"offer {i}", "type": "json", "content": {"offer": i}}
    for i in range(6)
}
AUDIENCES: dict[int, dict[str, Any]] = {
    6: {"id": 6, "name": "vip", "targetRule": {"profile": "vip", "equals": ["true"]}},
}


def activity(
    activity_id: int, kind: str, mbox: str, shares: list[int | None], audiences: list[list[int]]
) -> dict[str, Any]:
    return {
        "id": activity_id,
        "type": kind,
        "name": f"{kind} {activity_id}",
        "state": "approved",
        "priority": 5,
        "options": [
            {"optionLocalId": e, "name": f"option {e}", "offerId": 500 + e}
            for e in range(len(shares))
        ],
        "locations": {"mboxes": [{"locationLocalId": 0, "name": mbox}]},
        "experiences": [
            {
                "experienceLocalId": e,
                "name": f"Experience {chr(65 + e)}",
                "audienceIds": audiences[e],
                "optionLocations": [{"locationLocalId": 0, "optionLocalId": e}],
                **({} if share is None else {"visitorPercentage": share}),
            }
            for e, share in enumerate(shares)
        ],
    }


def activities(hero_split: tuple[int, int] = (50, 50)) -> list[dict[str, Any]]:
    return [
        activity(101, "ab", "hero", list(hero_split), [[], []]),
        activity(106, "xt", "vip", [None, None], [[6], []]),
        activity(103, "ab", "checkout", [20, 30, 50], [[], [], []]),
    ]


def artifact_json(hero_split: tuple[int, int] = (50, 50), remote: bool = True) -> dict[str, Any]:
    return compile_artifact(
        client=CLIENT,
        environment="production",
        activities=activities(hero_split),
        offers=OFFERS,
        audiences=AUDIENCES,
        generated_at=datetime(2026, 1, 1, tzinfo=UTC),
        include_remote=remote,
        response_tokens=[
            "activity.id",
            "experience.id",
            "activity.name",
            "offer.name",
            "profile.isFirstSession",
        ],
    )


def artifact(hero_split: tuple[int, int] = (50, 50)) -> Artifact:
    return load_artifact(artifact_json(hero_split))


def install(app: Any, loaded: Artifact) -> FixedArtifactSource:
    """Make ``app`` decide with ``loaded`` (tests inject the source as the brief says)."""
    source = FixedArtifactSource(loaded)
    app.state.artifact_source = source
    delivery = getattr(app.state, "delivery", None)
    if delivery is not None:
        delivery.source = source
    return source


def request(tnt_id: str | None = None, **blocks: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"context": {"channel": "web"}, **blocks}
    if tnt_id is not None:
        body["id"] = {"tntId": tnt_id}
    return body


def mboxes(*names: str, **detail: Any) -> dict[str, Any]:
    return {"mboxes": [{"index": i, "name": n, **detail} for i, n in enumerate(names, 1)]}


def content(response: dict[str, Any], mode: str = "execute") -> dict[str, Any]:
    """``{mbox name: option content}`` of a response (None when no option)."""
    found: dict[str, Any] = {}
    for entry in response.get(mode, {}).get("mboxes", []):
        options = entry.get("options") or [{}]
        found[entry["name"]] = options[0].get("content")
    return found


def allocated(activity_id: int, experience: int, prefix: str, split: Any = None) -> str:
    """A tntId (``<prefix><n>.0``, or ``<prefix>.0`` when it fits) whose allocation in the
    scenario's A/B activity gives it ``experience``: notifications count only for that one."""
    from cible.delivery.notify_plausible import Plausibility

    check = Plausibility(artifact() if split is None else artifact(split))
    for n in range(10_000):
        name = prefix if n == 0 else f"{prefix}{n}"
        if check.allows(activity_id, experience, assigned={}, visitor_id=name, client=CLIENT):
            return f"{name}.0"
    raise AssertionError("no visitor found")
