"""Which experience a display or click notification may be counted for.

Event tokens are public: they travel in every delivery response and in ``rules.json``, so anyone
can post a display of any experience for any visitor. In an A/B activity the experience a
visitor gets is not his to choose: it is his sticky assignment (stored by the server when it
decided or counted for him) or, for a visitor the server never decided for, the traffic band his
allocation falls in (a pure function of the client code, the activity and the visitor id, which
is why a decision an SDK made on-device passes: it hashed the same id). A notification naming
another experience of such an activity is answered as rejected and recorded apart, as a
``rejected`` event that reports count but never as a visit, impression or conversion
(docs/security.md, "Notifications").

Exempt, because their choice needs what a notification does not carry: XT activities (the
visitor's context picks the experience), auto-allocate activities (their weights move hourly;
the server decides them) and rules whose condition is not an audience plus a traffic band.

    >>> check = Plausibility(artifact)  # doctest: +SKIP
    >>> check.allows(101, 1, assigned={}, visitor_id="v1", client="acme")  # doctest: +SKIP
    False
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cible.engine import Artifact, allocation_for

__all__ = ["Plausibility"]

_AB = "ab"


class Plausibility:
    """The traffic bands of one artifact's A/B activities, read once per loaded artifact."""

    def __init__(self, artifact: Artifact) -> None:
        bands: dict[int, list[tuple[int, Callable[[float], bool]]]] = {}
        exempt: set[int] = set()
        for rules in (*artifact.mbox_rules.values(), *artifact.view_rules.values()):
            for rule in rules:
                try:
                    activity = int(rule.activity_id)
                    experience = int(rule.experience_id)
                except (TypeError, ValueError):
                    continue
                band = _band(rule)
                if band is None:
                    exempt.add(activity)
                else:
                    bands.setdefault(activity, []).append((experience, band))
        self.exempt = frozenset(exempt)
        self.bands = {a: tuple(b) for a, b in bands.items() if a not in exempt}

    def allows(
        self,
        activity: int,
        experience: int,
        *,
        assigned: Mapping[int, int],
        visitor_id: str | None,
        client: str,
    ) -> bool:
        """Whether a notification of ``experience`` may count for this visitor."""
        bands = self.bands.get(activity)
        if bands is None:
            return True  # exempt, or not an activity of this artifact (tokens checked before)
        if assigned.get(activity) == experience:
            return True
        if visitor_id is None:
            return False  # never decided for, and no id an SDK could have hashed
        allocation = allocation_for(client, activity, visitor_id)
        return any(own == experience and band(allocation) for own, band in bands)


def _band(rule: Any) -> Callable[[float], bool] | None:
    """The rule's traffic band, or None when the rule's activity is exempt."""
    meta = rule.meta
    if meta.get("activity.type", _AB) != _AB or meta.get("activity.autoAllocate"):
        return None
    if not rule.reads_allocation:
        return None  # no split: whoever the audience takes sees it
    fast = rule.fast
    band: Callable[[float], bool] | None = None if fast is None else fast.band
    return band
