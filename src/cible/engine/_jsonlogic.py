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

The compiler also records which variables a condition reads (`allocation`, `profile.*`,
`current_*`…), so the engine computes allocations only for rules that use them and can tell which
rules need data it does not have.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cible.engine._jsvalues import (
    NAN,
    js_le,
    js_less,
    js_loose_eq,
    js_parse_float,
    js_strict_eq,
    js_to_int,
    js_to_number,
    js_to_string,
    js_truthy,
)

__all__ = ["DYNAMIC_VARIABLE", "CompiledCondition", "LogicError", "compile_condition"]

Evaluator = Callable[[Any], Any]

DYNAMIC_VARIABLE = "*"
"""Recorded in `CompiledCondition.variables` when a `var` path is computed at decision time."""

_MISSING: Any = object()
_DYNAMIC_MARK = DYNAMIC_VARIABLE


class LogicError(ValueError):
    """A condition that cannot be compiled; `path` locates the node (e.g. `condition.and[1]`)."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


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


def _path_getter(path: Any) -> Callable[[Any], Any]:
    """A function returning the value at a dotted `path` in data, or `_MISSING`."""
    if path is None or path == "":
        return lambda data: data
    parts = tuple(js_to_string(path).split("."))

    if len(parts) == 1:
        (key,) = parts

        def get_one(data: Any) -> Any:
            if type(data) is dict:
                return data.get(key, _MISSING)
            return _step(data, key)

        return get_one

    if len(parts) == 2:
        first, second = parts

        def get_two(data: Any) -> Any:
            if type(data) is dict:
                inner = data.get(first, _MISSING)
                if type(inner) is dict:
                    return inner.get(second, _MISSING)
                return _step(inner, second)
            return _step(_step(data, first), second)

        return get_two

    def get_many(data: Any) -> Any:
        for part in parts:
            data = _step(data, part)
            if data is _MISSING:
                break
        return data

    return get_many


def _step(data: Any, key: str) -> Any:
    if isinstance(data, Mapping):
        return data.get(key, _MISSING)
    if isinstance(data, list) and key.isdigit():
        index = int(key)
        return data[index] if index < len(data) else _MISSING
    return _MISSING


def _args(values: Any) -> list[Any]:
    # json-logic-js: a single non-array argument is the one-element argument list.
    return values if isinstance(values, list) else [values]


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
        return [self.compile(arg, f"{path}[{i}]", scoped) for i, arg in enumerate(_args(raw_args))]

    def note_variable(self, name: Any, scoped: bool) -> None:
        if not scoped:
            self.variables.add(js_to_string(name) if name is not None else "")


Builder = Callable[[_Compiler, Any, str, bool], Evaluator]
_OPERATORS: dict[str, Builder] = {}


def _operator(*names: str) -> Callable[[Builder], Builder]:
    def register(builder: Builder) -> Builder:
        for name in names:
            _OPERATORS[name] = builder
        return builder

    return register


def _require(count: int, args: list[Evaluator], path: str, at_most: int | None = None) -> None:
    if len(args) < count or (at_most is not None and len(args) > at_most):
        wanted = f"{count}" if at_most == count else f"{count} to {at_most or 'any'}"
        raise LogicError(f"expects {wanted} arguments, got {len(args)}", path)


# --- data access ------------------------------------------------------------------------------


@_operator("var")
def _build_var(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    raw_args = _args(raw)
    if len(raw_args) > 2:
        raise LogicError(f"expects 0 to 2 arguments, got {len(raw_args)}", path)
    name = raw_args[0] if raw_args else None
    default = compiler.compile(raw_args[1], f"{path}[1]", scoped) if len(raw_args) > 1 else None
    if isinstance(name, dict | list):
        name_fn = compiler.compile(name, f"{path}[0]", scoped)
        compiler.note_variable(_DYNAMIC_MARK, scoped)

        def var_dynamic(data: Any) -> Any:
            value = _path_getter(name_fn(data))(data)
            if value is _MISSING:
                return default(data) if default else None
            return value

        return var_dynamic
    if name is not None and not isinstance(name, str | int | float):
        raise LogicError("variable names must be strings or numbers", path)
    compiler.note_variable(name, scoped)
    if default is None and isinstance(name, str) and name:
        parts = name.split(".")
        if len(parts) == 1:
            return _var_one(name)
        if len(parts) == 2:
            return _var_two(*parts)
    getter = _path_getter(name)
    if default is None:

        def var(data: Any) -> Any:
            value = getter(data)
            return None if value is _MISSING else value

        return var

    def var_with_default(data: Any) -> Any:
        value = getter(data)
        return default(data) if value is _MISSING else value

    return var_with_default


def _var_one(key: str) -> Evaluator:
    def var_one(data: Any) -> Any:
        if type(data) is dict:
            return data.get(key)
        value = _step(data, key)
        return None if value is _MISSING else value

    return var_one


def _var_two(first: str, second: str) -> Evaluator:
    # The common shape of Adobe's conditions ("mbox.x", "page.url_lc"), without a default.
    slow = _path_getter(f"{first}.{second}")

    def var_two(data: Any) -> Any:
        if type(data) is dict:
            inner = data.get(first)
            if type(inner) is dict:
                return inner.get(second)
        value = slow(data)
        return None if value is _MISSING else value

    return var_two


def _missing_keys(keys: list[Any], data: Any) -> list[Any]:
    missing = []
    for key in keys:
        value = _path_getter(key)(data)
        if value is _MISSING or value is None or value == "":
            missing.append(key)
    return missing


@_operator("missing")
def _build_missing(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)
    raw_args = _args(raw)
    for key in raw_args:
        compiler.note_variable(_DYNAMIC_MARK if isinstance(key, dict | list) else key, scoped)

    def missing(data: Any) -> list[Any]:
        values = [arg(data) for arg in args]
        keys = values[0] if values and isinstance(values[0], list) else values
        return _missing_keys(keys, data)

    return missing


@_operator("missing_some")
def _build_missing_some(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)
    _require(2, args, path, 2)
    keys_raw = _args(raw)[1]
    for key in keys_raw if isinstance(keys_raw, list) else [_DYNAMIC_MARK]:
        compiler.note_variable(_DYNAMIC_MARK if isinstance(key, dict | list) else key, scoped)
    need_fn, keys_fn = args

    def missing_some(data: Any) -> list[Any]:
        keys = keys_fn(data)
        if not isinstance(keys, list):
            return []
        missing = _missing_keys(keys, data)
        if len(keys) - len(missing) >= js_to_number(need_fn(data)):
            return []
        return missing

    return missing_some


# --- logic ------------------------------------------------------------------------------------


@_operator("if", "?:")
def _build_if(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)
    pairs = [(args[i], args[i + 1]) for i in range(0, len(args) - 1, 2)]
    otherwise = args[-1] if len(args) % 2 == 1 else None

    def if_(data: Any) -> Any:
        for test, then in pairs:
            if js_truthy(test(data)):
                return then(data)
        return otherwise(data) if otherwise else None

    return if_


def _and_args(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> list[Evaluator]:
    # {"and": [{"and": [a, b]}, c]} evaluates as {"and": [a, b, c]}: same value, one call less
    # per level. Adobe's artifacts nest the allocation test this way in every rule.
    evaluators: list[Evaluator] = []
    for index, arg in enumerate(_args(raw)):
        here = f"{path}[{index}]"
        if isinstance(arg, dict) and len(arg) == 1 and "and" in arg:
            evaluators.extend(_and_args(compiler, arg["and"], f"{here}.and", scoped))
        else:
            evaluators.append(compiler.compile(arg, here, scoped))
    return evaluators


@_operator("and")
def _build_and(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = _and_args(compiler, raw, path, scoped)

    def and_(data: Any) -> Any:
        value = None
        for arg in args:
            value = arg(data)
            if not js_truthy(value):
                return value
        return value

    return and_


@_operator("or")
def _build_or(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)

    def or_(data: Any) -> Any:
        value = None
        for arg in args:
            value = arg(data)
            if js_truthy(value):
                return value
        return value

    return or_


@_operator("!")
def _build_not(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)
    _require(1, args, path)
    first = args[0]
    return lambda data: not js_truthy(first(data))


@_operator("!!")
def _build_truthy(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)
    _require(1, args, path)
    first = args[0]
    return lambda data: js_truthy(first(data))


def _literal(raw: Any) -> tuple[bool, Any]:
    """(True, value) when a raw argument is a literal that needs no evaluation."""
    if isinstance(raw, str | int | float | bool) or raw is None:
        return True, raw
    return False, None


def _binary(function: Callable[[Any, Any], bool]) -> Builder:
    def build(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
        args = compiler.compile_args(raw, path, scoped)
        _require(2, args, path, 2)
        left, right = args
        raw_left, raw_right = _args(raw)
        right_is_literal, right_value = _literal(raw_right)
        if right_is_literal:
            return lambda data: function(left(data), right_value)
        left_is_literal, left_value = _literal(raw_left)
        if left_is_literal:
            return lambda data: function(left_value, right(data))
        return lambda data: function(left(data), right(data))

    return build


_OPERATORS["=="] = _binary(js_loose_eq)
_OPERATORS["==="] = _binary(js_strict_eq)
_OPERATORS["!="] = _binary(lambda a, b: not js_loose_eq(a, b))
_OPERATORS["!=="] = _binary(lambda a, b: not js_strict_eq(a, b))
_OPERATORS[">"] = _binary(lambda a, b: js_less(b, a))
_OPERATORS[">="] = _binary(lambda a, b: js_le(b, a))


def _ordering(function: Callable[[Any, Any], bool]) -> Builder:
    # `<` and `<=` also take three arguments: {"<": [low, x, high]} is "x strictly between".
    def build(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
        args = compiler.compile_args(raw, path, scoped)
        _require(2, args, path, 3)
        if len(args) == 2:
            return _binary(function)(compiler, raw, path, scoped)
        low, middle, high = args

        def between(data: Any) -> bool:
            value = middle(data)
            return function(low(data), value) and function(value, high(data))

        return between

    return build


_OPERATORS["<"] = _ordering(js_less)
_OPERATORS["<="] = _ordering(js_le)


# --- numbers ----------------------------------------------------------------------------------


def _numbers(values: list[Any]) -> list[float | int]:
    return [js_to_number(value) for value in values]


def _extreme(pick_max: bool) -> Builder:
    # Math.max / Math.min: NaN wins, no argument gives -Infinity / Infinity.
    def build(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
        args = compiler.compile_args(raw, path, scoped)

        def extreme(data: Any) -> float | int:
            numbers = _numbers([arg(data) for arg in args])
            if not numbers:
                return -math.inf if pick_max else math.inf
            if any(number != number for number in numbers):
                return NAN
            return max(numbers) if pick_max else min(numbers)

        return extreme

    return build


_OPERATORS["max"] = _extreme(pick_max=True)
_OPERATORS["min"] = _extreme(pick_max=False)


@_operator("+")
def _build_add(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)

    def add(data: Any) -> float | int:
        total: float | int = 0
        for arg in args:
            total += js_parse_float(arg(data))
        return total

    return add


@_operator("*")
def _build_multiply(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)
    _require(1, args, path)

    def multiply(data: Any) -> float | int:
        product: float | int = 1
        for arg in args:
            product *= js_parse_float(arg(data))
        return product

    return multiply


@_operator("-")
def _build_subtract(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)
    _require(1, args, path, 2)
    if len(args) == 1:
        (only,) = args
        return lambda data: -js_to_number(only(data))
    left, right = args
    return lambda data: js_to_number(left(data)) - js_to_number(right(data))


def _divide(left: float | int, right: float | int) -> float | int:
    if right == 0:
        if left == 0 or left != left:
            return NAN
        return math.copysign(math.inf, left) * math.copysign(1, right)
    return left / right


def _remainder(left: float | int, right: float | int) -> float | int:
    if right == 0 or math.isinf(left) or left != left or right != right:
        return NAN
    if math.isinf(right):
        return left
    return math.fmod(left, right)


@_operator("/")
def _build_divide(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)
    _require(2, args, path, 2)
    left, right = args
    return lambda data: _divide(js_to_number(left(data)), js_to_number(right(data)))


@_operator("%")
def _build_remainder(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)
    _require(2, args, path, 2)
    left, right = args
    return lambda data: _remainder(js_to_number(left(data)), js_to_number(right(data)))


# --- strings and arrays -----------------------------------------------------------------------


def _in(needle: Any, haystack: Any) -> bool:
    # json-logic-js: b.indexOf(a) !== -1 — substring for strings, strict equality for arrays.
    if isinstance(haystack, str):
        return js_to_string(needle) in haystack
    if isinstance(haystack, list):
        return any(js_strict_eq(needle, item) for item in haystack)
    return False


_OPERATORS["in"] = _binary(_in)


@_operator("cat")
def _build_cat(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)
    return lambda data: "".join(js_to_string(arg(data)) for arg in args)


def _substr(source: Any, start: Any, length: Any = None) -> str:
    text = js_to_string(source)
    begin = js_to_int(start)
    if begin < 0:
        begin = max(len(text) + begin, 0)
    tail = text[begin:]
    if length is None:
        return tail
    count = js_to_int(length)
    if count < 0:
        return tail[: max(len(tail) + count, 0)]
    return tail[:count]


@_operator("substr")
def _build_substr(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)
    _require(1, args, path, 3)
    return lambda data: _substr(*[arg(data) for arg in args] + ([0] if len(args) == 1 else []))


@_operator("merge")
def _build_merge(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)

    def merge(data: Any) -> list[Any]:
        merged: list[Any] = []
        for arg in args:
            value = arg(data)
            if isinstance(value, list):
                merged.extend(value)
            else:
                merged.append(value)
        return merged

    return merge


@_operator("log")
def _build_log(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)
    _require(1, args, path)
    return args[0]


# --- scoped array operations ------------------------------------------------------------------


def _scoped_pair(
    compiler: _Compiler, raw: Any, path: str, scoped: bool, count: int = 2
) -> tuple[Evaluator, list[Evaluator]]:
    raw_args = _args(raw)
    if len(raw_args) < 2 or len(raw_args) > count:
        raise LogicError(f"expects 2 to {count} arguments, got {len(raw_args)}", path)
    items = compiler.compile(raw_args[0], f"{path}[0]", scoped)
    # The inner logic reads each item, not the decisioning context.
    inner = [compiler.compile(raw_args[1], f"{path}[1]", scoped=True)]
    inner += [
        compiler.compile(arg, f"{path}[{i}]", scoped) for i, arg in enumerate(raw_args[2:], 2)
    ]
    return items, inner


@_operator("map")
def _build_map(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    items, (logic,) = _scoped_pair(compiler, raw, path, scoped)

    def map_(data: Any) -> list[Any]:
        values = items(data)
        return [logic(item) for item in values] if isinstance(values, list) else []

    return map_


@_operator("filter")
def _build_filter(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    items, (logic,) = _scoped_pair(compiler, raw, path, scoped)

    def filter_(data: Any) -> list[Any]:
        values = items(data)
        if not isinstance(values, list):
            return []
        return [item for item in values if js_truthy(logic(item))]

    return filter_


@_operator("reduce")
def _build_reduce(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    items, inner = _scoped_pair(compiler, raw, path, scoped, count=3)
    logic = inner[0]
    initial = inner[1] if len(inner) > 1 else None

    def reduce_(data: Any) -> Any:
        accumulator = initial(data) if initial else None
        values = items(data)
        if not isinstance(values, list):
            return accumulator
        for item in values:
            accumulator = logic({"current": item, "accumulator": accumulator})
        return accumulator

    return reduce_


@_operator("all")
def _build_all(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    items, (logic,) = _scoped_pair(compiler, raw, path, scoped)

    def all_(data: Any) -> bool:
        values = items(data)
        if not isinstance(values, list) or not values:
            return False
        return all(js_truthy(logic(item)) for item in values)

    return all_


@_operator("some")
def _build_some(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    items, (logic,) = _scoped_pair(compiler, raw, path, scoped)

    def some(data: Any) -> bool:
        values = items(data)
        return isinstance(values, list) and any(js_truthy(logic(item)) for item in values)

    return some


@_operator("none")
def _build_none(compiler: _Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    items, (logic,) = _scoped_pair(compiler, raw, path, scoped)

    def none(data: Any) -> bool:
        values = items(data)
        return not (isinstance(values, list) and any(js_truthy(logic(item)) for item in values))

    return none


OPERATOR_NAMES = frozenset(_OPERATORS)
"""Every JSON Logic operator the engine accepts."""
