"""Entity values and their validation, shared by the Entities API, feeds and mbox parameters.

An entity arrives in three ways (Adobe, "Entity attributes"): the Entities API (``{id, name,
categories, environment, attributes}``), a feed row, or ``entity.*`` mbox parameters of a delivery
call. Each is parsed here into an :class:`EntityIn`, or refused with a :class:`Rejected` naming the
rule it broke; the limits are Adobe's (docs/recommendations.md, "Catalog").
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from cible.recs.tables import ENTITY_ID_MAX

__all__ = [
    "NUMERIC",
    "TEXT",
    "Entity",
    "EntityIn",
    "Rejected",
    "check_id",
    "entity_from_parameters",
    "parse_api_entity",
    "parse_attribute",
    "split_categories",
]

# Predefined attributes (Adobe Recommendations API, ``Entity.attributes``).
NUMERIC: dict[str, type] = {"value": float, "margin": float, "inventory": int}
TEXT = ("message", "pageUrl", "thumbnailUrl")
SERVER_SET = frozenset({"createdAt", "lastUpdatedAt"})
# Names a custom attribute may not take: they mean something else on every path in.
RESERVED = frozenset({"id", "name", "categoryId", "categories", "environment", "event"})
NAME_MAX = 250
CATEGORY_MAX = 250
CATEGORIES_MAX = 1000
CUSTOM_MAX = 100
CUSTOM_VALUE_MAX = 15_000
MULTI_VALUES_MAX = 500
MULTI_VALUE_MAX = 100
# Adobe, ``entity.id``: no spaces, slashes, ampersands, question marks, percent signs or commas.
_BAD_ID = re.compile(r"[\s/&?%,]")
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,99}$")


class Rejected(Exception):
    """An entity (or one of its values) that breaks a rule; ``key`` groups causes in reports."""

    def __init__(self, key: str, text: str, *arguments: str) -> None:
        super().__init__(text)
        self.key = key
        self.text = text
        self.arguments = list(arguments)


@dataclass(frozen=True)
class EntityIn:
    """A parsed entity write. ``None`` name or categories: leave the stored ones as they are."""

    id: str
    name: str | None = None
    categories: tuple[str, ...] | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Entity:
    """A stored entity, as recommendations read it.

    >>> e = Entity("kit2001", "Toaster", ("housewares",), 1, {"value": 19.2})
    >>> e.get("value"), e.get("categoryId")
    (19.2, ['housewares'])
    """

    id: str
    name: str
    categories: tuple[str, ...]
    environment_id: int
    attributes: Mapping[str, Any]

    def get(self, name: str) -> Any:
        """An attribute by the name rules and designs use (``categoryId`` is the category list)."""
        if name == "id":
            return self.id
        if name == "name":
            return self.name
        if name in ("categoryId", "category", "categories"):
            return list(self.categories)
        return self.attributes.get(name)


def check_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise Rejected("error.entity.id.required", "id must be a non-empty string")
    if len(value) > ENTITY_ID_MAX:
        raise Rejected("error.entity.id.tooLong", f"id is longer than {ENTITY_ID_MAX} characters")
    if _BAD_ID.search(value):
        raise Rejected(
            "error.entity.id.invalid",
            "id may not contain spaces, '/', '&', '?', '%' or ','",
        )
    return value


def _check_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Rejected("error.entity.name.required", "name must be a non-empty string")
    if len(value) > NAME_MAX:
        raise Rejected("error.entity.name.tooLong", f"name is longer than {NAME_MAX} characters")
    return value


def _check_categories(values: Any) -> tuple[str, ...]:
    if not isinstance(values, list) or not values:
        raise Rejected("error.entity.categories.required", "categories must be a non-empty list")
    if len(values) > CATEGORIES_MAX:
        raise Rejected("error.entity.categories.tooMany", f"more than {CATEGORIES_MAX} categories")
    seen: dict[str, None] = {}
    for value in values:
        if not isinstance(value, str) or not value.strip() or len(value) > CATEGORY_MAX:
            raise Rejected(
                "error.entity.categories.invalid",
                f"each category must be a non-empty string of at most {CATEGORY_MAX} characters",
            )
        seen[value.strip()] = None
    return tuple(seen)


def split_categories(text: str) -> tuple[str, ...]:
    """``entity.categoryId`` as sent by pages and feeds: a comma-separated list."""
    return tuple(dict.fromkeys(c.strip() for c in text.split(",") if c.strip()))


def _number(name: str, value: Any, kind: type) -> float | int:
    if isinstance(value, bool):
        raise Rejected("error.entity.attribute.type", f"{name} must be a number", name)
    if isinstance(value, str):
        try:
            value = int(value) if kind is int else float(value)
        except ValueError:
            raise Rejected(
                "error.entity.attribute.type", f"{name} must be a number", name
            ) from None
    if kind is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or not -(2**63) <= value < 2**63:
            raise Rejected("error.entity.attribute.type", f"{name} must be an integer", name)
        return value
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise Rejected("error.entity.attribute.type", f"{name} must be a number", name)
    return float(value)


def _multi(name: str, values: list[Any]) -> list[Any]:
    if len(values) > MULTI_VALUES_MAX:
        raise Rejected(
            "error.entity.attribute.tooManyValues",
            f"{name} has more than {MULTI_VALUES_MAX} values",
            name,
        )
    kinds = {type(v) for v in values}
    # Adobe, multi-value attributes: one element type, no nesting.
    if len(kinds) > 1 or not kinds <= {str, int, float}:
        raise Rejected(
            "error.entity.attribute.mixed",
            f"{name} must be a list of strings or of numbers, not a mix",
            name,
        )
    if any(isinstance(v, str) and len(v) > MULTI_VALUE_MAX for v in values):
        raise Rejected(
            "error.entity.attribute.tooLong",
            f"each value of {name} must have at most {MULTI_VALUE_MAX} characters",
            name,
        )
    return values


def parse_attribute(name: str, value: Any, *, from_text: bool = False) -> Any:
    """One attribute's stored value; ``from_text``: a parameter or CSV cell (JSON arrays are
    multi-value, as Adobe reads ``entity.genre=["a", "b"]``)."""
    if name in NUMERIC:
        return _number(name, value, NUMERIC[name])
    if name in RESERVED or not _ATTRIBUTE_NAME.match(name):
        raise Rejected("error.entity.attribute.name", f"{name!r} is not a custom attribute", name)
    if from_text and isinstance(value, str) and value.startswith("["):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list):
            value = parsed
    if isinstance(value, list):
        return _multi(name, value)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Rejected(
            "error.entity.attribute.type", f"{name} must be a string, number or list", name
        )
    if isinstance(value, str) and len(value) > CUSTOM_VALUE_MAX:
        raise Rejected(
            "error.entity.attribute.tooLong",
            f"{name} is longer than {CUSTOM_VALUE_MAX} characters",
            name,
        )
    return value


def parse_api_entity(raw: Any) -> tuple[EntityIn, int | None]:
    """An Entities API entity and its ``environment`` (None: the default environment)."""
    if not isinstance(raw, dict):
        raise Rejected("error.entity.invalid", "each entity must be a JSON object")
    unknown = set(raw) - {"id", "name", "categories", "environment", "attributes"}
    if unknown:
        raise Rejected(
            "error.entity.field.unknown", f"unknown field {sorted(unknown)[0]!r}", *sorted(unknown)
        )
    entity_id = check_id(raw.get("id"))
    name = _check_name(raw.get("name"))
    categories = _check_categories(raw.get("categories"))
    environment = raw.get("environment")
    if environment is not None and (
        isinstance(environment, bool) or not isinstance(environment, int)
    ):
        raise Rejected("error.entity.environment.invalid", "environment must be an integer")
    attributes = raw.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise Rejected("error.entity.attributes.invalid", "attributes must be a JSON object")
    parsed: dict[str, Any] = {}
    for key, value in attributes.items():
        if key in SERVER_SET or value is None:
            continue  # set by the server; a null leaves the attribute out
        parsed[key] = parse_attribute(key, value)
    _check_custom_count(parsed)
    return EntityIn(entity_id, name, categories, parsed), environment


def _check_custom_count(attributes: Mapping[str, Any]) -> None:
    custom = [k for k in attributes if k not in NUMERIC and k not in TEXT]
    if len(custom) > CUSTOM_MAX:
        raise Rejected(
            "error.entity.attributes.tooMany", f"more than {CUSTOM_MAX} custom attributes"
        )


def entity_from_parameters(parameters: Mapping[str, str]) -> EntityIn:
    """The entity of a page's ``entity.*`` parameters (names without the ``entity.`` prefix).

    The id must be valid (else :class:`Rejected`); any other value that breaks a rule is left
    out alone, so one bad attribute does not lose the view or the rest of the update.
    ``environment`` and ``event.*`` are not attributes (Adobe: reserved).
    """
    entity_id = check_id(parameters.get("id"))
    name = parameters.get("name") or None
    categories = split_categories(parameters.get("categoryId") or "")
    attributes: dict[str, Any] = {}
    for key, value in parameters.items():
        if key in ("id", "name", "categoryId", "environment") or key.startswith("event."):
            continue
        if key in TEXT:
            attributes[key] = value[:CUSTOM_VALUE_MAX]
            continue
        try:
            attributes[key] = parse_attribute(key, value, from_text=True)
        except Rejected:
            continue
        if len(attributes) > CUSTOM_MAX + len(NUMERIC) + len(TEXT):
            break
    kept = tuple(c[:CATEGORY_MAX] for c in categories)[:CATEGORIES_MAX]
    return EntityIn(entity_id, name[:NAME_MAX] if name else None, kept or None, attributes)
