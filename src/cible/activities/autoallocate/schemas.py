"""Adobe's ``AutoAllocateActivity`` (v1): the ``ABActivity`` fields plus ``autoAllocateTraffic``.

``to_ab`` turns it into the stored A/B body (``autoAllocate`` enabled), ``render`` the other way.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, StrictBool

from cible.activities.abxt.schemas import ActivityIn, Criteria, LocalId, _Closed

__all__ = ["AutoAllocateActivityIn", "AutoAllocateTraffic", "render", "to_ab"]

TYPE = "auto_allocate"  # Adobe's ActivityListDescription.type


class AutoAllocateTraffic(_Closed):
    enabled: StrictBool = True
    success_evaluation_criteria: Criteria = Field(
        default="conversion_rate", alias="successEvaluationCriteria"
    )
    # Cible additions: the metric to optimise (default: the first conversion metric) and the
    # algorithm (Adobe's documented bandit or Thompson sampling).
    metric_local_id: LocalId | None = Field(default=None, alias="metricLocalId")
    algorithm: Literal["adobe", "thompson"] | None = None


class AutoAllocateActivityIn(ActivityIn):
    auto_allocate_traffic: AutoAllocateTraffic = Field(
        default_factory=AutoAllocateTraffic, alias="autoAllocateTraffic"
    )


def to_ab(body: AutoAllocateActivityIn) -> ActivityIn:
    """The A/B body stored for ``body``: its traffic settings as ``autoAllocate``."""
    data = body.model_dump(
        by_alias=True, exclude_none=True, exclude={"auto_allocate_traffic", "auto_allocate"}
    )
    if data.get("type") == TYPE:
        data["type"] = "ab"
    traffic = body.auto_allocate_traffic.model_dump(by_alias=True, exclude_none=True)
    traffic["enabled"] = True  # an activity of this path allocates automatically
    data["autoAllocate"] = traffic
    return ActivityIn.model_validate(data)


def render(activity: dict[str, Any]) -> dict[str, Any]:
    """The stored A/B rendering (``activity_json``) as an ``AutoAllocateActivity``."""
    out = {k: v for k, v in activity.items() if k != "autoAllocate"}
    out["type"] = TYPE
    out["autoAllocateTraffic"] = activity.get("autoAllocate") or {"enabled": True}
    return out
