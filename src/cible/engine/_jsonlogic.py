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
from cible.engine._jsvalues import js_to_string, js_truthy
from cible.engine._logic_base import DYNAMIC_VARIABLE, Evaluator, LogicError, Registry, args_of

__all__ = [
    "DYNAMIC_VARIABLE",
    "OPERATOR_NAMES",
    "CompiledCondition",
    "LogicError",
    "compile_condition",
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
