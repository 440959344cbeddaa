"""Wire shapes of A/B and Experience Targeting activities (Adobe Admin API ``ABActivity``).

Two versions are served:

* v3 (the current spec): ``options`` carry the offers and experiences point at them through
  ``optionLocations``.
* v1 (Adobe's 2017 API): experiences carry ``offerLocations: [{locationLocalId, offerId}]`` and
  A/B activities may carry ``autoAllocateTraffic``. ``legacy_to_v3`` and ``v3_to_legacy`` convert
  between the two, so one stored model serves both.

Both models are closed (an unknown field is a 400), which is also what lets a v3 body sent as v1
(or the reverse) be told apart and refused with a 406 rather than misread. Read-only fields a
client gets back (``id``, ``type``, ``createdAt``, ``modifiedAt``, ``modifiedByName``) may be
echoed in a PUT. Fields of the spec that change decisions but that Cible does not implement
(``entryConstraint``, ``applicationContext``, ``offerTemplates``, a metric's ``views``) are refused
as unknown fields rather than silently ignored.

Views (single-page applications, at.js ``triggerView``): ``views`` ``[{viewLocalId, viewId,
audienceIds}]``, ``locations.selectors`` ``[{locationLocalId, name, selector, audienceIds,
selectorVersion, viewLocalId}]`` (a selector without ``viewLocalId`` changes the page load) and
a metric's ``clickTrackSelectors`` ``[{selector, audienceIds, selectorVersion, viewLocalId}]``,
as Adobe's v3 ``ABActivity``. Adobe's ``viewId`` names a view its visual editor created; Cible has
no such entity, so a view also carries its ``name`` (a Cible addition: the name the page passes
to ``triggerView``, which Adobe's on-device artifacts key views by).

Cible additions: ``environmentIds`` (the environments an activity is served in; empty = all),
a view's ``name`` and, on A/B activities, ``autoAllocate`` ``{enabled, successEvaluationCriteria,
metricLocalId}``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

State = Literal["saved", "approved", "deactivated", "deleted"]
Criteria = Literal["conversion_rate", "rpv", "engagement"]
Engagement = Literal["page_count", "score", "time_on_site", "none"]
ActionType = Literal[
    "count_once",
    "count_landings",
    "always_convert",
    "restart_same_experience",
    "restart_random_experience",
    "restart_new_experience",
    "exclude_to_same_experience",
    "ban_from_campaign",
]

LocalId = StrictInt
# Ids are 64-bit signed integers in every supported database; a larger one is a 400 here rather
# than a driver overflow later.
EntityId = Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Option(_Closed):
    option_local_id: LocalId = Field(alias="optionLocalId")
    name: StrictStr | None = Field(default=None, max_length=250)
    offer_id: EntityId = Field(alias="offerId")


class MboxLocation(_Closed):
    location_local_id: LocalId = Field(alias="locationLocalId")
    name: StrictStr = Field(min_length=1, max_length=250)
    audience_ids: list[EntityId] = Field(default_factory=list, alias="audienceIds")


class SelectorLocation(_Closed):
    """A page element the activity changes, in a view or (no ``viewLocalId``) on page load."""

    location_local_id: LocalId = Field(alias="locationLocalId")
    name: StrictStr | None = Field(default=None, max_length=250)
    selector: StrictStr = Field(min_length=1, max_length=2000)
    audience_ids: list[EntityId] = Field(default_factory=list, alias="audienceIds")
    selector_version: StrictInt | None = Field(default=None, alias="selectorVersion")
    view_local_id: LocalId | None = Field(default=None, alias="viewLocalId")


class Locations(_Closed):
    mboxes: list[MboxLocation] = Field(default_factory=list)
    selectors: list[SelectorLocation] = Field(default_factory=list)


class View(_Closed):
    view_local_id: LocalId = Field(alias="viewLocalId")
    view_id: EntityId | None = Field(default=None, alias="viewId")
    # Cible addition: the view's name, as the page's triggerView passes it.
    name: StrictStr = Field(min_length=1, max_length=250)
    audience_ids: list[EntityId] = Field(default_factory=list, alias="audienceIds")


class OptionLocation(_Closed):
    location_local_id: LocalId = Field(alias="locationLocalId")
    option_local_id: LocalId = Field(alias="optionLocalId")


class Experience(_Closed):
    experience_local_id: LocalId = Field(alias="experienceLocalId")
    name: StrictStr | None = Field(default=None, max_length=250)
    audience_ids: list[EntityId] = Field(default_factory=list, alias="audienceIds")
    visitor_percentage: StrictInt | None = Field(
        default=None, ge=0, le=100, alias="visitorPercentage"
    )
    option_locations: list[OptionLocation] = Field(default_factory=list, alias="optionLocations")


class MetricMbox(_Closed):
    name: StrictStr = Field(min_length=1, max_length=250)
    success_event: Literal["mbox_shown", "mbox_clicked"] = Field(
        default="mbox_shown", alias="successEvent"
    )
    audience_ids: list[EntityId] = Field(default_factory=list, alias="audienceIds")


class ClickTrackSelector(_Closed):
    """A click on this element converts the metric (in a view, or on page load)."""

    selector: StrictStr = Field(min_length=1, max_length=2000)
    audience_ids: list[EntityId] = Field(default_factory=list, alias="audienceIds")
    selector_version: StrictInt | None = Field(default=None, alias="selectorVersion")
    view_local_id: LocalId | None = Field(default=None, alias="viewLocalId")


class Action(_Closed):
    type: ActionType
    conditions: dict[str, Any] | None = None
    on_conditions_met_action: dict[str, Any] | None = Field(
        default=None, alias="onConditionsMetAction"
    )


class Metric(_Closed):
    metric_local_id: LocalId = Field(alias="metricLocalId")
    name: StrictStr | None = Field(default=None, max_length=250)
    conversion: StrictBool = False
    mboxes: list[MetricMbox] = Field(default_factory=list)
    click_track_selectors: list[ClickTrackSelector] = Field(
        default_factory=list, alias="clickTrackSelectors"
    )
    engagement: Engagement | None = None
    action: Action | None = None


class ReportingAudience(_Closed):
    reporting_audience_local_id: LocalId = Field(alias="reportingAudienceLocalId")
    audience_id: EntityId = Field(alias="audienceId")
    metric_local_id: LocalId = Field(alias="metricLocalId")


class AutoAllocate(_Closed):
    """Cible addition on A/B activities: traffic moved toward the winner by the reports job."""

    enabled: StrictBool = False
    success_evaluation_criteria: Criteria = Field(
        default="conversion_rate", alias="successEvaluationCriteria"
    )
    metric_local_id: LocalId | None = Field(default=None, alias="metricLocalId")
    # Cible: Adobe's documented bandit, or Thompson sampling (docs/reports.md, "Auto-allocate").
    algorithm: Literal["adobe", "thompson"] | None = None


class _ActivityBody(_Closed):
    """What v1 and v3 share: the scalar fields and the read-only echoes."""

    id: StrictInt | None = None
    type: StrictStr | None = None
    name: StrictStr = Field(min_length=1, max_length=250)
    third_party_id: StrictStr | None = Field(
        default=None, min_length=1, max_length=250, alias="thirdPartyId"
    )
    state: State | None = None
    priority: StrictInt = Field(default=5, ge=0, le=999)
    starts_at: StrictStr | None = Field(default=None, alias="startsAt")
    ends_at: StrictStr | None = Field(default=None, alias="endsAt")
    workspace: StrictStr | None = Field(default=None, max_length=250)
    property_ids: list[EntityId] = Field(default_factory=list, alias="propertyIds")
    environment_ids: list[EntityId] = Field(default_factory=list, alias="environmentIds")
    locations: Locations = Field(default_factory=Locations)
    views: list[View] = Field(default_factory=list)
    metrics: list[Metric] = Field(default_factory=list)
    reporting_audiences: list[ReportingAudience] = Field(
        default_factory=list, alias="reportingAudiences"
    )
    created_at: StrictStr | None = Field(default=None, alias="createdAt")
    modified_at: StrictStr | None = Field(default=None, alias="modifiedAt")
    modified_by_name: StrictStr | None = Field(default=None, alias="modifiedByName")


class ActivityIn(_ActivityBody):
    """``ABActivity`` v3, for A/B and XT alike."""

    options: list[Option] = Field(default_factory=list)
    experiences: list[Experience] = Field(default_factory=list)
    auto_allocate: AutoAllocate | None = Field(default=None, alias="autoAllocate")


class OfferLocation(_Closed):
    location_local_id: LocalId = Field(alias="locationLocalId")
    offer_id: EntityId = Field(alias="offerId")


class LegacyExperience(_Closed):
    experience_local_id: LocalId = Field(alias="experienceLocalId")
    name: StrictStr | None = Field(default=None, max_length=250)
    audience_ids: list[EntityId] = Field(default_factory=list, alias="audienceIds")
    visitor_percentage: StrictInt | None = Field(
        default=None, ge=0, le=100, alias="visitorPercentage"
    )
    offer_locations: list[OfferLocation] = Field(default_factory=list, alias="offerLocations")


class LegacyAutoAllocate(_Closed):
    enabled: StrictBool = False
    success_evaluation_criteria: Criteria = Field(
        default="conversion_rate", alias="successEvaluationCriteria"
    )


class LegacyActivityIn(_ActivityBody):
    """Adobe's 2017 activity (served as v1)."""

    experiences: list[LegacyExperience] = Field(default_factory=list)
    auto_allocate_traffic: LegacyAutoAllocate | None = Field(
        default=None, alias="autoAllocateTraffic"
    )


# Fields of the stored definition (everything but the columns of ``activities``).
DEFINITION_FIELDS = (
    "propertyIds",
    "environmentIds",
    "options",
    "locations",
    "views",
    "experiences",
    "metrics",
    "reportingAudiences",
    "autoAllocate",
)


class StateIn(_Closed):
    state: State


class PriorityIn(_Closed):
    priority: StrictInt = Field(ge=0, le=999)


class ScheduleIn(_Closed):
    starts_at: StrictStr | None = Field(default=None, alias="startsAt")
    ends_at: StrictStr | None = Field(default=None, alias="endsAt")


class NameIn(_Closed):
    name: StrictStr = Field(min_length=1, max_length=250)


def legacy_to_v3(body: LegacyActivityIn) -> tuple[ActivityIn, dict[int, str]]:
    """The v3 form of a v1 body, and for each option index the v1 path naming its offer.

    Each distinct offer becomes one option (``optionLocalId`` = its rank of first use), and each
    ``offerLocation`` an ``optionLocation`` pointing at it.
    """
    option_of: dict[int, int] = {}
    paths: dict[int, str] = {}
    experiences: list[dict[str, Any]] = []
    for i, exp in enumerate(body.experiences):
        pairs = []
        for j, loc in enumerate(exp.offer_locations):
            if loc.offer_id not in option_of:
                option_of[loc.offer_id] = len(option_of)
                paths[option_of[loc.offer_id]] = f"experiences[{i}].offerLocations[{j}].offerId"
            pairs.append(
                {"locationLocalId": loc.location_local_id, "optionLocalId": option_of[loc.offer_id]}
            )
        data = exp.model_dump(by_alias=True, exclude={"offer_locations"})
        experiences.append({**data, "optionLocations": pairs})
    shared = body.model_dump(by_alias=True, exclude={"experiences", "auto_allocate_traffic"})
    auto = body.auto_allocate_traffic
    v3: dict[str, Any] = {
        **shared,
        "options": [{"optionLocalId": n, "offerId": offer} for offer, n in option_of.items()],
        "experiences": experiences,
        "autoAllocate": auto.model_dump(by_alias=True) if auto is not None else None,
    }
    return ActivityIn.model_validate(v3), paths


def v3_to_legacy(activity: dict[str, Any]) -> dict[str, Any]:
    """The v1 form of a v3 activity as ``activity_json`` renders it."""
    offers = {o["optionLocalId"]: o["offerId"] for o in activity.get("options", [])}
    out = {k: v for k, v in activity.items() if k not in ("options", "experiences", "autoAllocate")}
    out["experiences"] = [
        {
            **{k: v for k, v in exp.items() if k != "optionLocations"},
            "offerLocations": [
                {"locationLocalId": ol["locationLocalId"], "offerId": offers[ol["optionLocalId"]]}
                for ol in exp.get("optionLocations", [])
                if ol["optionLocalId"] in offers
            ],
        }
        for exp in activity.get("experiences", [])
    ]
    auto = activity.get("autoAllocate")
    if auto is not None:
        out["autoAllocateTraffic"] = {
            "enabled": auto["enabled"],
            "successEvaluationCriteria": auto["successEvaluationCriteria"],
        }
    return out
