"""JSON Logic operators for numbers, strings and arrays, as closure builders.

`max`, `min`, `+`, `-`, `*`, `/`, `%`, `in`, `cat`, `substr`, `merge`, `log`, and the scoped
`map`, `filter`, `reduce`, `all`, `some`, `none`, following json-logic-js
(https://jsonlogic.com/operations.html) with the value semantics of `_jsvalues.py`.
"""

from __future__ import annotations

import math
from typing import Any

from cible.engine._jsvalues import (
    NAN,
    js_parse_float,
    js_strict_eq,
    js_to_int,
    js_to_number,
    js_to_string,
    js_truthy,
)
from cible.engine._logic_base import (
    Builder,
    Compiler,
    Evaluator,
    LogicError,
    Registry,
    args_of,
    binary,
    require,
)

__all__ = ["OPERATORS"]

OPERATORS = Registry()


# --- numbers ----------------------------------------------------------------------------------


def _numbers(values: list[Any]) -> list[float | int]:
    return [js_to_number(value) for value in values]


def _extreme(pick_max: bool) -> Builder:
    # Math.max / Math.min: NaN wins, no argument gives -Infinity / Infinity.
    def build(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
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


OPERATORS["max"] = _extreme(pick_max=True)
OPERATORS["min"] = _extreme(pick_max=False)


@OPERATORS.register("+")
def _build_add(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)

    def add(data: Any) -> float | int:
        total: float | int = 0
        for arg in args:
            total += js_parse_float(arg(data))
        return total

    return add


@OPERATORS.register("*")
def _build_multiply(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)
    require(1, args, path)

    def multiply(data: Any) -> float | int:
        product: float | int = 1
        for arg in args:
            product *= js_parse_float(arg(data))
        return product

    return multiply


@OPERATORS.register("-")
def _build_subtract(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)
    require(1, args, path, 2)
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


@OPERATORS.register("/")
def _build_divide(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)
    require(2, args, path, 2)
    left, right = args
    return lambda data: _divide(js_to_number(left(data)), js_to_number(right(data)))


@OPERATORS.register("%")
def _build_remainder(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)
    require(2, args, path, 2)
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


OPERATORS["in"] = binary(_in)


@OPERATORS.register("cat")
def _build_cat(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
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


@OPERATORS.register("substr")
def _build_substr(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)
    require(1, args, path, 3)
    return lambda data: _substr(*[arg(data) for arg in args] + ([0] if len(args) == 1 else []))


@OPERATORS.register("merge")
def _build_merge(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
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


@OPERATORS.register("log")
def _build_log(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)
    require(1, args, path)
    return args[0]


# --- scoped array operations ------------------------------------------------------------------


def _scoped_pair(
    compiler: Compiler, raw: Any, path: str, scoped: bool, count: int = 2
) -> tuple[Evaluator, list[Evaluator]]:
    raw_args = args_of(raw)
    if len(raw_args) < 2 or len(raw_args) > count:
        wanted = "2" if count == 2 else f"2 to {count}"
        raise LogicError(f"expects {wanted} arguments, got {len(raw_args)}", path)
    items = compiler.compile(raw_args[0], f"{path}[0]", scoped)
    # The inner logic reads each item, not the decisioning context.
    inner = [compiler.compile(raw_args[1], f"{path}[1]", scoped=True)]
    inner += [
        compiler.compile(arg, f"{path}[{i}]", scoped) for i, arg in enumerate(raw_args[2:], 2)
    ]
    return items, inner


@OPERATORS.register("map")
def _build_map(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    items, (logic,) = _scoped_pair(compiler, raw, path, scoped)

    def map_(data: Any) -> list[Any]:
        values = items(data)
        return [logic(item) for item in values] if isinstance(values, list) else []

    return map_


@OPERATORS.register("filter")
def _build_filter(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    items, (logic,) = _scoped_pair(compiler, raw, path, scoped)

    def filter_(data: Any) -> list[Any]:
        values = items(data)
        if not isinstance(values, list):
            return []
        return [item for item in values if js_truthy(logic(item))]

    return filter_


@OPERATORS.register("reduce")
def _build_reduce(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
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


@OPERATORS.register("all")
def _build_all(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    items, (logic,) = _scoped_pair(compiler, raw, path, scoped)

    def all_(data: Any) -> bool:
        values = items(data)
        if not isinstance(values, list) or not values:
            return False
        return all(js_truthy(logic(item)) for item in values)

    return all_


@OPERATORS.register("some")
def _build_some(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    items, (logic,) = _scoped_pair(compiler, raw, path, scoped)

    def some(data: Any) -> bool:
        values = items(data)
        return isinstance(values, list) and any(js_truthy(logic(item)) for item in values)

    return some


@OPERATORS.register("none")
def _build_none(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    items, (logic,) = _scoped_pair(compiler, raw, path, scoped)

    def none(data: Any) -> bool:
        values = items(data)
        return not (isinstance(values, list) and any(js_truthy(logic(item)) for item in values))

    return none
