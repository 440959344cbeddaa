"""Rules that pick catalog items: collections and exclusions, and promotions by attribute.

Two shapes from Adobe's Recommendations API:

* ``BasicMatcher`` (collections, exclusions): ``{attribute: {operator: [values]}}``, e.g.
  ``{"id": {"contains": ["backpacking", "camping"]}}``; Adobe's exclusion example writes a lone
  string (``{"name": {"contains": "backpacking"}}``), which is read as a one-item list.
* ``InclusionMatcher`` (promotions): ``{attribute, operation, values, lowRange, highRange,
  source}``; with a ``source`` the values come from the key item (``ENTITY``), the profile
  (``PROFILE``) or the mbox parameters (``MBOX``) of the call.

Semantics (Adobe, "Work with multi-value attributes" and "Entity attributes"): string operators
ignore case; a rule with several values holds when any value does (all, for negative operators);
on a multi-value attribute a positive operator needs any element to pass, a negative one all of
them; numeric operators skip values that are not numbers. An item without ``inventory`` passes
every inventory rule (Adobe: unset inventory evaluates TRUE, so a global exclusion
``inventory = 0`` excludes it). Without the attribute, only ``valueIsNotPresent`` and the
negative operators hold.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

__all__ = [
    "BASIC_OPERATORS",
    "INCLUSION_OPERATIONS",
    "Item",
    "check_basic_rule",
    "check_inclusion_rule",
    "matches_basic",
    "matches_inclusion",
]

NUMERIC = frozenset({"greaterOrEquals", "lesserOrEquals"})
NEGATIVE = frozenset({"notEquals", "doesNotContain", "isNotContainedInList"})
NO_VALUES = frozenset({"valueIsPresent", "valueIsNotPresent"})
BASIC_OPERATORS = frozenset(
    {"equals", "notEquals", "contains", "doesNotContain", "startsWith", "endsWith"}
    | NUMERIC
    | NO_VALUES
)
DYNAMIC = frozenset({"dynamicallyMatches", "dynamicallyDoesNotMatch", "dynamicallyRanges"})
INCLUSION_OPERATIONS = BASIC_OPERATORS | DYNAMIC | {"isContainedInList", "isNotContainedInList"}
SOURCE_TYPES = frozenset({"ENTITY", "PROFILE", "MBOX"})


class Item(Protocol):
    """What a rule reads of a catalog item (``cible.recs.entities.Entity`` is one)."""

    def get(self, name: str) -> Any: ...


# A source's values for one call: (type, name) -> values, or None when it has none.
Resolver = Callable[[str, str], Sequence[Any] | None]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).casefold()


def _test(operator: str, actual: Any, expected: Any) -> bool:
    """One element of the item against one value, for a positive operator."""
    if operator in ("greaterOrEquals", "lesserOrEquals"):
        a, b = _number(actual), _number(expected)
        if a is None or b is None:
            return False
        return a >= b if operator == "greaterOrEquals" else a <= b
    if operator in ("equals", "isContainedInList", "dynamicallyMatches"):
        a, b = _number(actual), _number(expected)
        if a is not None and b is not None:
            return a == b
        return _text(actual) == _text(expected)
    a_text, b_text = _text(actual), _text(expected)
    if operator == "contains":
        return b_text in a_text
    if operator == "startsWith":
        return a_text.startswith(b_text)
    if operator == "endsWith":
        return a_text.endswith(b_text)
    return False


_POSITIVE_OF = {
    "notEquals": "equals",
    "doesNotContain": "contains",
    "isNotContainedInList": "isContainedInList",
    "dynamicallyDoesNotMatch": "dynamicallyMatches",
}


def _present(value: Any) -> bool:
    if value is None or value == "":
        return False
    return not (isinstance(value, list | tuple) and not value)


def _evaluate(attribute: str, operator: str, actual: Any, values: Sequence[Any]) -> bool:
    if not _present(actual):
        if attribute == "inventory":
            return True
        return operator == "valueIsNotPresent" or operator in _POSITIVE_OF
    if operator == "valueIsPresent":
        return True
    if operator == "valueIsNotPresent":
        return False
    elements = list(actual) if isinstance(actual, list | tuple) else [actual]
    positive = _POSITIVE_OF.get(operator)
    if positive is not None:
        return not any(_test(positive, e, v) for e in elements for v in values)
    return any(_test(operator, e, v) for e in elements for v in values)


def _values(raw: Any) -> list[Any]:
    if raw is None:
        return []
    return list(raw) if isinstance(raw, list | tuple) else [raw]


def matches_basic(item: Item, rule: Mapping[str, Any]) -> bool:
    """Whether ``item`` passes every ``{attribute: {operator: values}}`` of ``rule``."""
    for attribute, condition in rule.items():
        for operator, raw in condition.items():
            if not _evaluate(attribute, operator, item.get(attribute), _values(raw)):
                return False
    return True


def matches_inclusion(item: Item, rule: Mapping[str, Any], resolve: Resolver | None = None) -> bool:
    """Whether ``item`` passes one ``InclusionMatcher``; ``resolve`` gives a source's values."""
    attribute = rule["attribute"]
    operation = rule["operation"]
    values = _values(rule.get("values"))
    source = rule.get("source")
    if isinstance(source, Mapping):
        found = resolve(str(source.get("type")), str(source.get("name"))) if resolve else None
        found = [v for v in (found or ()) if _present(v)]
        if not found and source.get("defaultValue") not in (None, ""):
            found = [source["defaultValue"]]
        if not found:
            # Adobe, "If x is empty": entity matching shows no results by default; profile
            # and parameter matching ignore the rule.
            exclude = source.get("excludeAllWhenEmpty")
            if exclude is None:
                exclude = source.get("type") == "ENTITY"
            return not exclude
        values = found
    actual = item.get(attribute)
    if operation == "dynamicallyRanges":
        return _in_range(actual, values, rule.get("lowRange"), rule.get("highRange"))
    return _evaluate(attribute, operation, actual, values)


def _in_range(actual: Any, values: Sequence[Any], low: Any, high: Any) -> bool:
    # UI: "value is between 90% and 110% of current item's value".
    a = _number(actual)
    if a is None:
        return False
    low_pct, high_pct = _number(str(low).rstrip("%")), _number(str(high).rstrip("%"))
    for value in values:
        base = _number(value)
        if base is None:
            continue
        lo = base * (low_pct if low_pct is not None else 0.0) / 100
        hi = base * (high_pct if high_pct is not None else math.inf) / 100
        if lo <= a <= hi:
            return True
    return False


# --- validation of stored rules (the schemas call these; messages become 400 errors) -----


def check_basic_rule(rule: Any) -> dict[str, dict[str, list[Any]]]:
    """The rule in its normal form; raises ``ValueError`` with a message for a client."""
    if not isinstance(rule, Mapping) or not rule:
        raise ValueError("a rule is an object {attribute: {operator: [values]}}")
    normal: dict[str, dict[str, list[Any]]] = {}
    for attribute, condition in rule.items():
        if not isinstance(attribute, str) or not 1 <= len(attribute) <= 100:
            raise ValueError("an attribute name has 1 to 100 characters")
        if attribute.startswith("entity."):
            raise ValueError(f"write the attribute {attribute!r} without 'entity.'")
        if not isinstance(condition, Mapping) or not condition:
            raise ValueError(f"{attribute}: an object {{operator: [values]}}")
        normal[attribute] = {}
        for operator, raw in condition.items():
            if operator not in BASIC_OPERATORS:
                allowed = ", ".join(sorted(BASIC_OPERATORS))
                raise ValueError(f"{attribute}: unknown operator {operator!r} (use {allowed})")
            normal[attribute][operator] = _check_values(attribute, operator, raw)
    return normal


def _check_values(where: str, operator: str, raw: Any) -> list[Any]:
    values = _values(raw)
    if operator in NO_VALUES:
        return values
    if not 1 <= len(values) <= 1000:
        raise ValueError(f"{where}: {operator} needs 1 to 1000 values")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError(f"{where}: values are strings or numbers")
        if isinstance(value, str) and len(value) > 250:
            raise ValueError(f"{where}: a value has at most 250 characters")
        if operator in NUMERIC and _number(value) is None:
            raise ValueError(f"{where}: {operator} compares numbers, not {value!r}")
    return values


def check_inclusion_rule(rule: Any) -> dict[str, Any]:
    """An ``InclusionMatcher`` in its normal form; raises ``ValueError``."""
    if not isinstance(rule, Mapping):
        raise ValueError("a rule is an object {attribute, operation, values}")
    unknown = set(rule) - {"attribute", "operation", "values", "lowRange", "highRange", "source"}
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")
    attribute, operation = rule.get("attribute"), rule.get("operation")
    if not isinstance(attribute, str) or not 1 <= len(attribute) <= 100:
        raise ValueError("attribute: a name of 1 to 100 characters")
    if attribute.startswith("entity."):
        raise ValueError(f"attribute: write {attribute!r} without 'entity.'")
    if operation not in INCLUSION_OPERATIONS:
        raise ValueError(f"operation: one of {', '.join(sorted(INCLUSION_OPERATIONS))}")
    normal: dict[str, Any] = {"attribute": attribute, "operation": operation}
    source = rule.get("source")
    if source is not None:
        if not isinstance(source, Mapping) or source.get("type") not in SOURCE_TYPES:
            raise ValueError(f"source: an object with type {', '.join(sorted(SOURCE_TYPES))}")
        if not isinstance(source.get("name"), str) or not source["name"]:
            raise ValueError("source: name is required")
        normal["source"] = dict(source)
    elif operation in DYNAMIC:
        raise ValueError(f"{operation} compares with the key item: give a source")
    else:
        normal["values"] = _check_values(attribute, _static(operation), rule.get("values"))
    for bound in ("lowRange", "highRange"):
        if rule.get(bound) is not None:
            if _number(str(rule[bound]).rstrip("%")) is None:
                raise ValueError(f"{bound}: a percentage")
            normal[bound] = rule[bound]
    return normal


def _static(operation: str) -> str:
    return {"isContainedInList": "equals", "isNotContainedInList": "notEquals"}.get(
        operation, operation
    )
