"""Wire shapes of designs, collections, exclusions and promotions (Adobe Recommendations API
``Design``, ``Collection``, ``Exclusion``, ``Promotion``).

Bodies are closed (an unknown field is a 400); the read-only fields a GET returns (``id``,
``lastModified``, ``lastModifiersName``, ``lastModifiersEmail``) may be sent back in a PUT, as
clients that GET-modify-PUT do, and are ignored. Rules are checked by ``cible.recs.matchers``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from cible.recs.matchers import check_basic_rule, check_inclusion_rule
from cible.recs.velocity import TemplateSyntaxError, compile_template

__all__ = [
    "CollectionIn",
    "DesignIn",
    "DesignValidateIn",
    "ExclusionIn",
    "PromotionIn",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: StrictInt | None = None
    name: StrictStr = Field(min_length=1, max_length=250)
    last_modified: Any = Field(default=None, alias="lastModified")
    last_modifiers_name: Any = Field(default=None, alias="lastModifiersName")
    last_modifiers_email: Any = Field(default=None, alias="lastModifiersEmail")


class DesignIn(_Body):
    script: StrictStr = Field(min_length=1, max_length=65_000)
    type: Literal["HTML", "JSON", "OTHER"] = "OTHER"

    @field_validator("script")
    @classmethod
    def _parses(cls, script: str) -> str:
        try:
            compile_template(script)
        except TemplateSyntaxError as error:
            raise ValueError(f"the script does not parse: {error}") from None
        return script


class DesignValidateIn(BaseModel):
    """``POST /designs/validate``: a design, of which only the script matters."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: StrictInt | None = None
    name: StrictStr | None = None
    script: StrictStr = Field(max_length=65_000)
    type: Literal["HTML", "JSON", "OTHER"] | None = None
    last_modified: Any = Field(default=None, alias="lastModified")
    last_modifiers_name: Any = Field(default=None, alias="lastModifiersName")
    last_modifiers_email: Any = Field(default=None, alias="lastModifiersEmail")


class CollectionIn(_Body):
    description: StrictStr = Field(default="", max_length=1000)
    rules: list[dict[str, Any]] = Field(min_length=1, max_length=1000)

    @field_validator("rules")
    @classmethod
    def _rules(cls, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [check_basic_rule(rule) for rule in rules]


class ExclusionIn(_Body):
    description: StrictStr = Field(default="", max_length=1000)
    rule: dict[str, Any]

    @field_validator("rule")
    @classmethod
    def _rule(cls, rule: dict[str, Any]) -> dict[str, Any]:
        return check_basic_rule(rule)


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: datetime | None = None
    end: datetime | None = None


class Order(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["ORIGINAL", "RANDOM"] = "ORIGINAL"


class PromotionConfiguration(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    collection_id: StrictInt | None = Field(default=None, alias="collectionId")


PromotionKey = Literal[
    "CURRENT", "LAST_PURCHASED", "LAST_VIEWED", "MOST_VIEWED", "PROFILE_ATTRIBUTE"
]


class PromotionIn(_Body):
    """A promotion: a list of ids (``entityIds``, a Cible field: Adobe does not publish how its
    API writes a list promotion), inclusion ``rules``, or a collection (``configuration``)."""

    description: StrictStr = Field(default="", max_length=1000)
    type: Literal["EXTERNAL"]
    key: PromotionKey = "CURRENT"
    attribute: StrictStr | None = Field(default=None, max_length=250)
    schedule: Schedule | None = None
    order: Order = Field(default_factory=Order)
    configuration: PromotionConfiguration | None = None
    rules: list[dict[str, Any]] = Field(default_factory=list, max_length=1000)
    entity_ids: list[StrictStr] | None = Field(
        default=None, alias="entityIds", min_length=1, max_length=1000
    )

    @field_validator("rules")
    @classmethod
    def _rules(cls, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [check_inclusion_rule(rule) for rule in rules]

    @field_validator("entity_ids")
    @classmethod
    def _ids(cls, ids: list[str] | None) -> list[str] | None:
        if ids is not None and any(not i or len(i) > 1000 for i in ids):
            raise ValueError("an entity id has 1 to 1000 characters")
        return ids

    def source_problem(self) -> str | None:
        """Why the promotion names no items, or ``None``."""
        collection = self.configuration.collection_id if self.configuration else None
        if not self.entity_ids and not self.rules and collection is None:
            return "give entityIds, rules or configuration.collectionId"
        start, end = (self.schedule.start, self.schedule.end) if self.schedule else (None, None)
        if start is not None and end is not None and end <= start:
            return "schedule.end is not after schedule.start"
        if self.key == "PROFILE_ATTRIBUTE" and not self.attribute:
            return "key PROFILE_ATTRIBUTE needs an attribute (profile.x or user.x)"
        return None
