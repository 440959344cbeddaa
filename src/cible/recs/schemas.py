"""Wire shapes of the catalog, criteria and feeds bodies (Adobe Recommendations API).

Only the envelope of a body is a pydantic model: each entity of ``POST /entities`` is checked on
its own (``cible.recs.entities``), because Adobe rejects bad entities one by one and saves the
rest, counting the causes, rather than refusing the whole call.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class EntitiesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entities: list[Any] = Field(min_length=1)


class CatalogSearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    meta: dict[str, Any]
    query: dict[str, Any] | None = None


# -- criteria (Adobe ``Criteria*`` schemas) -----------------------------------------------------

DAYS = ("ONE_DAY", "TWO_DAYS", "ONE_WEEK", "TWO_WEEKS", "ONE_MONTH", "TWO_MONTHS")


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str | None = Field(default=None, max_length=250)
    type: str
    default_value: str | None = Field(default=None, alias="defaultValue", max_length=250)
    exclude_all_when_empty: bool | None = Field(default=None, alias="excludeAllWhenEmpty")


class InclusionRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    attribute: str = Field(min_length=1, max_length=100)
    operation: Literal[
        "equals",
        "notEquals",
        "contains",
        "doesNotContain",
        "startsWith",
        "endsWith",
        "greaterOrEquals",
        "lesserOrEquals",
        "valueIsPresent",
        "valueIsNotPresent",
        "isContainedInList",
        "isNotContainedInList",
        "dynamicallyMatches",
        "dynamicallyDoesNotMatch",
        "dynamicallyRanges",
    ]
    values: list[Annotated[str, Field(max_length=250)]] = Field(default=[], max_length=1000)
    low_range: float | str | None = Field(default=None, alias="lowRange")
    high_range: float | str | None = Field(default=None, alias="highRange")
    source: SourceIn | None = None


class RankingRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    matcher: InclusionRuleIn
    weighting: int = Field(ge=0, le=4)


class PriceRangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min: float | None = None
    max: float | None = None


class CriteriaConfigurationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    inclusion_rules: list[InclusionRuleIn] = Field(
        default=[], alias="inclusionRules", max_length=1000
    )
    ranking_rules: list[RankingRuleIn] = Field(default=[], alias="rankingRules", max_length=100)
    price_range: PriceRangeIn | None = Field(default=None, alias="priceRange")
    min_similarity: float | None = Field(default=None, alias="minSimilarity", ge=0.1, le=0.98)
    # Cible's behaviour data only (Adobe's default); report suites are not available.
    datasource: Literal["mboxes"] | None = None
    inclusion_rules_key: str | None = Field(default=None, alias="inclusionRulesKey")
    past_behavior_ordinal: int | None = Field(default=None, alias="pastBehaviorOrdinal")


class CriteriaIn(BaseModel):
    """A criteria of any group; group-specific rules are checked by ``cible.recs.criteria``.

    Read-only fields a client got back (``id``, ``criteriaGroup``, ``lastModified*``,
    ``enableCaching``, Cible's training fields) may be echoed in a PUT and are ignored.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: int | None = None
    criteria_group: str | None = Field(default=None, alias="criteriaGroup")
    last_modified: str | None = Field(default=None, alias="lastModified")
    last_modifiers_name: str | None = Field(default=None, alias="lastModifiersName")
    last_modifiers_email: str | None = Field(default=None, alias="lastModifiersEmail")
    enable_caching: bool | None = Field(default=None, alias="enableCaching")
    last_trained: str | None = Field(default=None, alias="lastTrained")
    training_status: str | None = Field(default=None, alias="trainingStatus")

    name: str = Field(min_length=1, max_length=250)
    criteria_title: str | None = Field(default=None, alias="criteriaTitle", max_length=250)
    description: str | None = Field(default=None, max_length=1000)
    type: str | None = Field(default=None, max_length=64)
    key: str | None = Field(default=None, max_length=64)
    days_count: Literal[DAYS] | None = Field(default=None, alias="daysCount")  # type: ignore[valid-type]
    hours_count: Literal[6] | None = Field(default=None, alias="hoursCount")
    aggregation: Literal["NONE", "AGGREGATE", "ALL_OR_NOTHING"] = "NONE"
    partial_design_allowed: bool = Field(default=False, alias="partialDesignAllowed")
    backup_disabled: bool = Field(default=False, alias="backupDisabled")
    backup_inclusion_filtering_enabled: bool = Field(
        default=True, alias="backupInclusionFilteringEnabled"
    )
    exclude_purchases: bool = Field(default=False, alias="excludePurchases")
    exclude_views: bool = Field(default=False, alias="excludeViews")
    min_inventory: int | None = Field(default=None, alias="minInventory", ge=0)
    configuration: CriteriaConfigurationIn | None = None

    def stored(self) -> dict[str, Any]:
        """The body to keep: Adobe's names, read-only fields dropped."""
        read_only = {
            "id",
            "criteria_group",
            "last_modified",
            "last_modifiers_name",
            "last_modifiers_email",
            "enable_caching",
            "last_trained",
            "training_status",
        }
        return self.model_dump(by_alias=True, exclude=read_only, exclude_none=True)


# -- feeds (a Cible addition: Adobe has no feeds API) -------------------------------------------


class FeedConnectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["url", "upload"]
    url: str | None = Field(default=None, max_length=2000)


class FeedIn(BaseModel):
    """A catalog feed. Read-only fields a client got back may be echoed in a PUT."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: int | None = None
    status: str | None = None
    progress: dict[str, Any] | None = None
    report: dict[str, Any] | None = None
    last_run: str | None = Field(default=None, alias="lastRun")
    last_modified: str | None = Field(default=None, alias="lastModified")

    name: str = Field(min_length=1, max_length=250)
    format: Literal["csv", "google"]
    connection: FeedConnectionIn
    schedule_type: Literal["daily", "weekly", "biWeekly", "never"] = Field(
        default="never", alias="scheduleType"
    )
    schedule_time: str = Field(
        default="00:00", alias="scheduleTime", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
    )
    environment_id: int | None = Field(default=None, alias="environmentId")
    mapping: dict[str, Annotated[str, Field(max_length=100)]] = Field(default={}, max_length=200)

    def stored(self) -> dict[str, Any]:
        read_only = {"id", "status", "progress", "report", "last_run", "last_modified"}
        return self.model_dump(by_alias=True, exclude=read_only, exclude_none=True)


class FeedUploadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1)
