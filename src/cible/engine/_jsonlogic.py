"""Compile JSON Logic conditions into Python closures, once, when an artifact loads.

Adobe's SDKs interpret each rule's JSON Logic tree on every evaluation (`jsonLogic(rule.condition,
context)` in `target_decisioning_engine/rule_evaluator.py`). Cible walks the tree once, checks every
operator, and returns a closure per node, so a decision costs a few function calls per condition
and an unknown operator is an error at load time rather than a silent false at decision time.

Operators are those of json-logic-js (https://jsonlogic.com/operations.html), which is what both
SDKs accept: `var missing missing_some if ?: == === != !== ! !! or and > >= < <= max min + - * / %
in cat substr merge map filter reduce all some none log`. Adobe's SDKs add no custom operator.
`log` is accepted and returns its argument without logging (the engine does no I/O); the Python
port's `method` is refused because it calls arbitrary Python methods.

The operators live in `_logic_ops.py` (data access, logic, comparison) and `_array_ops.py`
(numbers, strings, arrays), their shared pieces in `_logic_base.py`; this module walks the tree.

The compiler also records which variables a condition reads (`allocation`, `profile.*`,
`current_*`…), so the engine computes allocations only for rules that use them and can tell which
rules need data it does not have.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cible.engine import _array_ops, _logic_ops
from cible.engine._jsvalues import js_loose_eq, js_to_string, js_truthy
from cible.engine._logic_base import (
    DYNAMIC_VARIABLE,
    MISSING,
    Evaluator,
    LogicError,
    Registry,
    args_of,
    path_getter,
)

__all__ = [
    "DYNAMIC_VARIABLE",
    "OPERATOR_NAMES",
    "CompiledCondition",
    "LogicError",
    "compile_condition",
    "compile_test",
    "conjuncts",
    "plain_var",
    "string_literal_equality",
]

_OPERATORS = Registry({**_logic_ops.OPERATORS, **_array_ops.OPERATORS})

OPERATOR_NAMES = frozenset(_OPERATORS)
"""Every JSON Logic operator the engine accepts."""


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    """A compiled condition: `matches(data)` is the JSON Logic truthiness of the result."""

    matches: Callable[[Any], bool]
    variables: frozenset[str]
    source: Any


def compile_condition(logic: Any, path: str = "condition") -> CompiledCondition:
    """Compile a JSON Logic tree; raises `LogicError` naming the offending node.

    >>> cond = compile_condition({"<": [0, {"var": "allocation"}, 50]})
    >>> cond.matches({"allocation": 12.5}), cond.matches({"allocation": 75}), cond.matches({})
    (True, False, False)
    >>> sorted(cond.variables)
    ['allocation']
    """
    compiler = _Compiler()
    evaluate = compiler.compile(logic, path, scoped=False)

    def matches(data: Any) -> bool:
        return js_truthy(evaluate(data))

    return CompiledCondition(matches, frozenset(compiler.variables), logic)


def _constant(value: Any) -> Evaluator:
    return lambda _data: value


class _Compiler:
    def __init__(self) -> None:
        self.variables: set[str] = set()

    def compile(self, logic: Any, path: str, scoped: bool) -> Evaluator:
        if isinstance(logic, list):
            items = [self.compile(item, f"{path}[{i}]", scoped) for i, item in enumerate(logic)]
            return lambda data: [item(data) for item in items]
        if not isinstance(logic, dict) or len(logic) != 1:
            # Scalars, and objects that are not a one-key operation, are data (json-logic-js).
            return _constant(logic)
        ((operator, raw_args),) = logic.items()
        if not isinstance(operator, str):
            raise LogicError("operator names must be strings", path)
        builder = _OPERATORS.get(operator)
        if builder is None:
            raise LogicError(f"unknown JSON Logic operator {operator!r}", path)
        return builder(self, raw_args, f"{path}.{operator}", scoped)

    def compile_args(self, raw_args: Any, path: str, scoped: bool) -> list[Evaluator]:
        return [
            self.compile(arg, f"{path}[{i}]", scoped) for i, arg in enumerate(args_of(raw_args))
        ]

    def note_variable(self, name: Any, scoped: bool) -> None:
        if not scoped:
            self.variables.add(js_to_string(name) if name is not None else "")


Test = Callable[[Any], bool]


def conjuncts(logic: Any) -> list[Any]:
    """The clauses of a condition's top-level ``and`` (nested ``and`` flattened), else [logic]."""
    if isinstance(logic, dict) and len(logic) == 1 and "and" in logic:
        found: list[Any] = []
        for arg in args_of(logic["and"]):
            found.extend(conjuncts(arg))
        return found
    return [logic]


def plain_var(logic: Any) -> str | None:
    """The path of ``{"var": "a.b"}`` (or ``{"var": ["a.b"]}``) without a default, else None."""
    if not isinstance(logic, dict) or len(logic) != 1 or "var" not in logic:
        return None
    name = logic["var"]
    if isinstance(name, list):
        if len(name) != 1:
            return None
        name = name[0]
    return name if isinstance(name, str) and name else None


def compile_test(logic: Any) -> Test:
    """A closure giving the JSON Logic truthiness of an already validated condition.

    Where `compile_condition` returns each node's value, a test returns only whether it holds,
    which lets ``and``/``or``/``!`` skip the truthiness conversions and lets an equality between
    a variable and a string literal compare strings directly (the common audience clause).

    >>> test = compile_test({"and": [{"==": ["a", {"var": "mbox.x"}]}, {"var": "mbox.y"}]})
    >>> test({"mbox": {"x": "a", "y": 1}}), test({"mbox": {"x": "b", "y": 1}}), test({})
    (True, False, False)
    """
    if isinstance(logic, dict) and len(logic) == 1:
        ((operator, raw),) = logic.items()
        if operator == "and":
            return _all(tuple(compile_test(c) for c in conjuncts(logic)))
        if operator == "or":
            return _any(tuple(compile_test(c) for c in args_of(raw)))
        if operator == "!" and args_of(raw):
            inner = compile_test(args_of(raw)[0])
            return lambda data: not inner(data)
        if operator in ("==", "===", "!=", "!==") and isinstance(raw, list) and len(raw) == 2:
            equal = _string_equality(raw, strict=operator in ("===", "!=="))
            if equal is not None:
                if operator in ("==", "==="):
                    return equal
                return lambda data: not equal(data)
    evaluate = _Compiler().compile(logic, "condition", scoped=False)
    return lambda data: js_truthy(evaluate(data))


def _all(tests: tuple[Test, ...]) -> Test:
    if not tests:
        return lambda _data: False  # json-logic-js: an empty `and` is null
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda data: first(data) and second(data)
    if len(tests) == 3:
        first, second, third = tests
        return lambda data: first(data) and second(data) and third(data)

    def all_(data: Any) -> bool:
        for test in tests:  # noqa: SIM110 - a loop costs less than all() over a generator
            if not test(data):
                return False
        return True

    return all_


def _any(tests: tuple[Test, ...]) -> Test:
    if len(tests) == 1:
        return tests[0]

    def any_(data: Any) -> bool:
        for test in tests:  # noqa: SIM110 - a loop costs less than any() over a generator
            if test(data):
                return True
        return False

    return any_


def string_literal_equality(logic: Any) -> tuple[str, str] | None:
    """(path, literal) for ``{"==" or "===": [var, "literal"]}`` in either order, else None."""
    if not isinstance(logic, dict) or len(logic) != 1:
        return None
    ((operator, raw),) = logic.items()
    if operator not in ("==", "===") or not isinstance(raw, list) or len(raw) != 2:
        return None
    left, right = raw
    if isinstance(left, str):
        left, right = right, left
    path = plain_var(left)
    if path is None or not isinstance(right, str):
        return None
    return path, right


def _string_equality(raw: list[Any], strict: bool) -> Test | None:
    # JavaScript: a string equals a string literal exactly; `==` coerces only other types.
    left, right = raw
    if isinstance(left, str):
        left, right = right, left
    path = plain_var(left)
    if path is None or not isinstance(right, str):
        return None
    literal = right
    parts = path.split(".")
    if len(parts) == 2:
        first, second = parts

        def equal_two(data: Any) -> bool:
            if type(data) is dict:
                inner = data.get(first)
                if type(inner) is dict:
                    value = inner.get(second)
                    if type(value) is str:
                        return value == literal
                    return not strict and value is not None and js_loose_eq(value, literal)
            return _slow_equal(getter, data, literal, strict)

        getter = path_getter(path)
        return equal_two
    getter = path_getter(path)
    return lambda data: _slow_equal(getter, data, literal, strict)


def _slow_equal(getter: Callable[[Any], Any], data: Any, literal: str, strict: bool) -> bool:
    value = getter(data)
    if value is MISSING or value is None:
        return False
    if isinstance(value, str):
        return value == literal
    return not strict and js_loose_eq(value, literal)
