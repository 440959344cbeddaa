"""What `decide` precomputes so that a decision does only the work its visitor needs.

Two things, both derived from a rule's JSON Logic condition and both optional (a rule without
them is decided by its compiled condition, as Adobe's SDKs decide every rule):

- `Fast`, per rule, at load: the condition split into its audience (every clause of the top-level
  ``and`` that does not read ``allocation``, compiled by `compile_test`) and its traffic band
  (the clauses comparing ``allocation`` with number literals, checked with two float
  comparisons). A visitor outside the audience costs no hash; inside it, the band check replaces
  four JSON Logic nodes.
- `Plan`, per rule list, built on first use: when several rules require one variable to equal
  string literals (an audience on an mbox parameter, ``{"==": ["gold", {"var": "mbox.tier_lc"}]}``),
  the rules are indexed by those literals, so a request reads the variable once and walks only
  the rules that can match (in artifact order) instead of all of them.

Both skip only rules whose condition would be false; `decide(..., trace=True)` evaluates every
rule in full and must give the same decisions (tests/engine/test_fast_path.py checks it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cible.engine._jsonlogic import (
    CompiledCondition,
    compile_test,
    conjuncts,
    plain_var,
    string_literal_equality,
)
from cible.engine._logic_base import MISSING, args_of, path_getter

__all__ = ["Fast", "Plan", "analyse", "fast_of", "plan_for"]

Band = Callable[[float], bool]

# A plan indexes at most this many (value, rule) pairs; past it the list is walked whole.
_MAX_INDEX_CELLS = 200_000
# Plans kept per artifact (one per rule list, plus those of delivery's sticky views).
_MAX_PLANS = 4096


@dataclass(frozen=True, slots=True)
class Fast:
    """A rule's condition as an audience test and a traffic band (see the module docstring)."""

    condition: CompiledCondition  # the compiled condition this was derived from
    audience: Callable[[Any], bool] | None
    band: Band | None
    keys: tuple[str, frozenset[str]] | None  # (variable path, string values it must equal)


def analyse(
    logic: Any, condition: CompiledCondition
) -> tuple[Fast | None, CompiledCondition | None]:
    """(fast form, precondition) of a compiled rule condition; either may be None.

    The precondition is the audience alone (for a condition that also reads ``allocation``),
    which the full evaluation tests before hashing the visitor.
    """
    variables = condition.variables
    if "*" in variables:
        return None, None
    clauses = conjuncts(logic)
    if not clauses:
        return None, None
    band_clauses: list[Any] = []
    others: list[Any] = []
    for clause in clauses:
        (band_clauses if _mentions_allocation(clause) else others).append(clause)
    audience = compile_test({"and": others}) if others else None
    precondition = None
    if audience is not None and band_clauses:
        precondition = CompiledCondition(audience, frozenset(), {"and": others})
    band = _band(band_clauses) if band_clauses else None
    if band_clauses and band is None:
        return None, precondition
    return Fast(condition, audience, band, _keys(others)), precondition


def _mentions_allocation(logic: Any) -> bool:
    """Whether the string "allocation" appears anywhere in a clause.

    A scan instead of a compile keeps loading as fast as before. It finds every way a clause
    can read the variable (`var`, `missing`, `missing_some`: computed names make the whole rule
    take the general path) and more (a literal "allocation", a scoped `var` inside `map`), which
    only sends such a clause to the band, where it is not a bound, so the rule takes the general
    path: correct, only slower.
    """
    stack = [logic]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if item == "allocation":
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _keys(clauses: list[Any]) -> tuple[str, frozenset[str]] | None:
    for clause in clauses:
        found = string_literal_equality(clause)
        if found is not None:
            return found[0], frozenset((found[1],))
        if isinstance(clause, dict) and len(clause) == 1 and "or" in clause:
            pairs = [string_literal_equality(item) for item in args_of(clause["or"])]
            paths = {pair[0] for pair in pairs if pair is not None}
            if pairs and None not in pairs and len(paths) == 1:
                return paths.pop(), frozenset(pair[1] for pair in pairs if pair is not None)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _band(clauses: list[Any]) -> Band | None:
    """A check of `allocation` against the clauses' bounds, or None if one is not a bound."""
    low, low_strict, high, high_strict = float("-inf"), False, float("inf"), False
    for clause in clauses:
        if not isinstance(clause, dict) or len(clause) != 1:
            return None
        ((operator, raw),) = clause.items()
        if operator not in ("<", "<=", ">", ">=") or not isinstance(raw, list):
            return None
        strict = operator in ("<", ">")
        is_var = [plain_var(item) == "allocation" for item in raw]
        if len(raw) == 3 and operator in ("<", "<=") and is_var == [False, True, False]:
            if not (_is_number(raw[0]) and _is_number(raw[2])):
                return None
            bounds = [("low", raw[0]), ("high", raw[2])]
        elif len(raw) == 2 and is_var in ([False, True], [True, False]):
            number = raw[0] if is_var[1] else raw[1]
            if not _is_number(number):
                return None
            # "n < a" and "a > n" bound it from below; "a < n" and "n > a" from above.
            below = (operator in ("<", "<=")) == is_var[1]
            bounds = [("low" if below else "high", number)]
        else:
            return None
        for side, number in bounds:
            value = float(number)
            if side == "low" and (value > low or (value == low and strict)):
                low, low_strict = value, strict
            elif side == "high" and (value < high or (value == high and strict)):
                high, high_strict = value, strict
    return _band_check(low, low_strict, high, high_strict)


def _band_check(low: float, low_strict: bool, high: float, high_strict: bool) -> Band:
    if low_strict and high_strict:
        return lambda a: low < a < high
    if low_strict:
        return lambda a: low < a <= high
    if high_strict:
        return lambda a: low <= a < high
    return lambda a: low <= a <= high


@dataclass(frozen=True, slots=True)
class Plan:
    """The rules of one list to walk for a request: all, or those a value can match."""

    rules: tuple[Any, ...]
    read: Callable[[Any], Any] | None  # the indexed variable, read from the context
    by_value: Mapping[str, tuple[Any, ...]]
    unkeyed: tuple[Any, ...]
    # Every rule has its fast form and none reads `profile.*`: `decide`'s flat path may walk
    # the list (see `_decide.py`, `_flat`).
    flat: bool = False
    # The flat path's response fragments, per rule (keyed by `id(rule)`; `rules` keeps each rule
    # alive) and mode: filled on first use.
    fragments: dict[tuple[int, bool], Any] = field(default_factory=dict, compare=False)

    def candidates(self, context: Any) -> tuple[Any, ...]:
        """The rules that can match, in artifact order."""
        if self.read is None:
            return self.rules
        value = self.read(context)
        if type(value) is not str:
            return self.rules
        return self.by_value.get(value, self.unkeyed)


def plan_for(plans: dict[int, Plan], rules: tuple[Any, ...]) -> Plan:
    """The plan of a rule list, built once and kept in `plans` (keyed by the list's identity)."""
    plan = plans.get(id(rules))
    if plan is not None and plan.rules is rules:
        return plan
    plan = _build(rules)
    if len(plans) >= _MAX_PLANS:
        plans.clear()
    plans[id(rules)] = plan
    return plan


def fast_of(rule: Any) -> Fast | None:
    """The rule's fast form, unless its condition was replaced after loading."""
    fast: Fast | None = rule.fast
    return fast if fast is not None and fast.condition is rule.condition else None


def _build(rules: tuple[Any, ...]) -> Plan:
    flat = all(fast_of(rule) is not None and not rule.reads_profile for rule in rules)
    counts: dict[str, int] = {}
    for rule in rules:
        fast = fast_of(rule)
        if fast is not None and fast.keys is not None and not rule.reads_profile:
            counts[fast.keys[0]] = counts.get(fast.keys[0], 0) + 1
    if not counts or max(counts.values()) < 2:
        return Plan(rules, None, {}, rules, flat)
    path = max(counts, key=lambda name: counts[name])
    keyed: list[frozenset[str] | None] = []
    for rule in rules:
        fast = fast_of(rule)
        keys = fast.keys if fast is not None and not rule.reads_profile else None
        keyed.append(keys[1] if keys is not None and keys[0] == path else None)
    values = set().union(*(keys for keys in keyed if keys is not None))
    if len(values) * len(rules) > _MAX_INDEX_CELLS:
        return Plan(rules, None, {}, rules, flat)
    by_value = {
        value: tuple(
            r for r, keys in zip(rules, keyed, strict=True) if keys is None or value in keys
        )
        for value in values
    }
    unkeyed = tuple(r for r, keys in zip(rules, keyed, strict=True) if keys is None)
    return Plan(rules, _reader(path), by_value, unkeyed, flat)


def _reader(path: str) -> Callable[[Any], Any]:
    getter = path_getter(path)

    def read(context: Any) -> Any:
        value = getter(context)
        return None if value is MISSING else value

    return read
