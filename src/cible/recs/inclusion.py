"""Criteria inclusion and ranking rules (Adobe ``InclusionMatcher``, ``AlgorithmRankingRule``).

A rule tests one attribute of a recommended entity, either against static ``values`` or, with a
``source`` (Adobe, "Use dynamic and static inclusion rules"), against the key item's attribute
(``{"type": "ENTITY", "name": attr}``), the visitor's profile attribute (``{"type": "PROFILE",
"name": "profile.favoriteBrand"}``) or the call's mbox parameter (``{"type": "MBOX", "name":
"mbox.brand"}``). Rules are ANDed. Semantics kept from Adobe:

- on a multi-value attribute, a positive operation passes when one value passes, a negative one
  (``notEquals``, ``doesNotContain``, ``isNotContainedInList``, ``dynamicallyDoesNotMatch``)
  only when all do; numeric operations skip values that are not numbers;
- an entity without ``inventory`` passes inventory rules (Adobe: unset inventory evaluates TRUE);
- a dynamic rule whose source is empty: ``defaultValue`` when given, else no result when
  ``excludeAllWhenEmpty`` (the default for entity matching), else the rule is ignored (the
  default for profile and parameter matching).

>>> keep = compile_rules([{"attribute": "brand", "operation": "equals", "source":
...     {"type": "ENTITY", "name": "brand"}}])
>>> keep(Entity("b", "", (), 1, {"brand": "Acme"}), Entity("a", "", (), 1, {"brand": "Acme"}),
...     no_sources)
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cible.errors import BadRequest
from cible.recs.entities import Entity

__all__ = [
    "DYNAMIC",
    "OPERATIONS",
    "Lookup",
    "Rule",
    "check_rules",
    "compile_ranking",
    "compile_rules",
    "no_sources",
]

# A PROFILE or MBOX source's values for this call: (type, name) -> values ([] when none).
Lookup = Callable[[str, str], list[Any]]
# Candidate, key item (None when the criteria has no key item), the call's other sources.
Rule = Callable[[Entity, Entity | None, Lookup], bool]
SOURCES = ("ENTITY", "PROFILE", "MBOX")


def no_sources(kind: str, name: str) -> list[Any]:
    """The lookup of a call that has no profile or mbox parameters."""
    return []


STATIC = (
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
)
DYNAMIC = ("dynamicallyMatches", "dynamicallyDoesNotMatch", "dynamicallyRanges")
OPERATIONS = STATIC + DYNAMIC
NEGATIVE = frozenset(
    {"notEquals", "doesNotContain", "isNotContainedInList", "dynamicallyDoesNotMatch"}
)
NUMERIC = frozenset({"greaterOrEquals", "lesserOrEquals", "dynamicallyRanges"})


def _values(entity: Entity, name: str) -> list[Any]:
    value = entity.get(name)
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, list) else [value]


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _percent(value: Any, default: float) -> float:
    if value is None:
        return default
    number = _float(str(value).rstrip("%"))
    return default if number is None else number


def _one(op: str, value: Any, targets: Sequence[Any], low: float, high: float) -> bool:
    """One candidate value against the rule's targets (static values or the key's values)."""
    if op in NUMERIC:
        number = _float(value)
        if number is None:
            return False
        limits = [t for t in (_float(t) for t in targets) if t is not None]
        if op == "greaterOrEquals":
            return any(number >= t for t in limits)
        if op == "lesserOrEquals":
            return any(number <= t for t in limits)
        return any(t * low / 100 <= number <= t * high / 100 for t in limits)
    text = str(value).casefold()
    wanted = [str(t).casefold() for t in targets]
    if op in ("equals", "isContainedInList", "dynamicallyMatches"):
        return text in wanted
    if op in ("notEquals", "isNotContainedInList", "dynamicallyDoesNotMatch"):
        return text not in wanted
    if op == "contains":
        return any(w in text for w in wanted)
    if op == "doesNotContain":
        return all(w not in text for w in wanted)
    if op == "startsWith":
        return any(text.startswith(w) for w in wanted)
    if op == "endsWith":
        return any(text.endswith(w) for w in wanted)
    return False


def _compile(rule: dict[str, Any]) -> Rule:
    attribute: str = rule["attribute"]
    op: str = rule["operation"]
    static = list(rule.get("values") or [])
    source = rule.get("source") or None
    low = _percent(rule.get("lowRange"), 100.0)
    high = _percent(rule.get("highRange"), 100.0)

    kind = str(source.get("type") or "ENTITY") if source else "ENTITY"
    # Adobe: an empty key-item attribute shows nothing by default; an empty profile attribute
    # or mbox parameter ignores the rule by default.
    exclude_when_empty = (
        bool(source.get("excludeAllWhenEmpty", kind == "ENTITY")) if source else True
    )

    def test(candidate: Entity, key: Entity | None, lookup: Lookup) -> bool:
        values = _values(candidate, attribute)
        if op == "valueIsPresent":
            return bool(values)
        if op == "valueIsNotPresent":
            return not values
        targets: list[Any] = static
        if source is not None:
            name = source.get("name") or attribute
            if kind == "ENTITY":
                targets = _values(key, name) if key is not None else []
            else:
                targets = [v for v in lookup(kind, name) if v is not None and v != ""]
            if not targets:
                default = source.get("defaultValue")
                if default not in (None, ""):
                    targets = [default]
                else:
                    return not exclude_when_empty
        if not values:
            # Adobe: an entity without inventory passes inventory rules.
            return attribute == "inventory" or op in NEGATIVE
        if op in NEGATIVE:
            return all(_one(op, v, targets, low, high) for v in values)
        return any(_one(op, v, targets, low, high) for v in values)

    return test


def compile_rules(rules: Sequence[dict[str, Any]]) -> Rule:
    """One predicate for rules that must all pass (an empty list passes everything)."""
    tests = [_compile(r) for r in rules]
    return lambda candidate, key, lookup: all(t(candidate, key, lookup) for t in tests)


def compile_ranking(
    rules: Sequence[dict[str, Any]],
) -> Callable[[Entity, Entity | None], int]:
    """An entity's boost: the sum of the weightings (0 to 4) of the ranking rules it matches
    (static rules only: ``check_rules`` refuses sources in ranking rules)."""
    weighted = [(_compile(r["matcher"]), int(r.get("weighting", 0))) for r in rules]
    return lambda candidate, key: sum(w for test, w in weighted if test(candidate, key, no_sources))


def check_rules(rules: Sequence[dict[str, Any]], where: str) -> None:
    """400 for a rule Cible cannot evaluate (the shape itself is checked by the schema)."""
    problems: list[tuple[str, str]] = []
    for index, rule in enumerate(rules):
        op = rule.get("operation")
        source = rule.get("source")
        if str(rule.get("attribute", "")).startswith("entity."):
            problems.append((f"{where}[{index}].attribute", "names the attribute without entity."))
        if op in DYNAMIC and not source:
            problems.append((f"{where}[{index}].source", f"{op} needs a source"))
        if source and source.get("type") not in SOURCES:
            problems.append(
                (
                    f"{where}[{index}].source.type",
                    "is ENTITY (the key item), PROFILE (profile.<name>) or MBOX (mbox.<name>)",
                )
            )
        elif source and source.get("type") != "ENTITY" and not source.get("name"):
            problems.append((f"{where}[{index}].source.name", "names the attribute to read"))
        needs_values = op not in ("valueIsPresent", "valueIsNotPresent") and not source
        if needs_values and not rule.get("values"):
            problems.append((f"{where}[{index}].values", f"{op} needs at least one value"))
    if problems:
        raise BadRequest.fields(problems)
