"""JSON Logic operators for data access, logic and comparison, as closure builders.

`var`, `missing`, `missing_some`, `if`/`?:`, `and`, `or`, `!`, `!!`, `==`, `===`, `!=`, `!==`,
`<`, `<=` (with their three-argument "between" forms), `>`, `>=`, following json-logic-js
(https://jsonlogic.com/operations.html) with the value semantics of `_jsvalues.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from cible.engine._jsvalues import (
    js_le,
    js_less,
    js_loose_eq,
    js_strict_eq,
    js_to_number,
    js_truthy,
)
from cible.engine._logic_base import (
    DYNAMIC_VARIABLE,
    MISSING,
    Builder,
    Compiler,
    Evaluator,
    LogicError,
    Registry,
    args_of,
    binary,
    literal,
    path_getter,
    require,
    step,
)

__all__ = ["OPERATORS"]

OPERATORS = Registry()


# --- data access ------------------------------------------------------------------------------


def _build_var(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    raw_args = args_of(raw)
    if len(raw_args) > 2:
        raise LogicError(f"expects 0 to 2 arguments, got {len(raw_args)}", path)
    name = raw_args[0] if raw_args else None
    default = compiler.compile(raw_args[1], f"{path}[1]", scoped) if len(raw_args) > 1 else None
    if isinstance(name, dict | list):
        name_fn = compiler.compile(name, f"{path}[0]", scoped)
        compiler.note_variable(DYNAMIC_VARIABLE, scoped)

        def var_dynamic(data: Any) -> Any:
            value = path_getter(name_fn(data))(data)
            if value is MISSING:
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
    getter = path_getter(name)
    if default is None:

        def var(data: Any) -> Any:
            value = getter(data)
            return None if value is MISSING else value

        return var

    def var_with_default(data: Any) -> Any:
        value = getter(data)
        return default(data) if value is MISSING else value

    return var_with_default


def _var_one(key: str) -> Evaluator:
    def var_one(data: Any) -> Any:
        if type(data) is dict:
            return data.get(key)
        value = step(data, key)
        return None if value is MISSING else value

    return var_one


def _var_two(first: str, second: str) -> Evaluator:
    # The common shape of Adobe's conditions ("mbox.x", "page.url_lc"), without a default.
    slow = path_getter(f"{first}.{second}")

    def var_two(data: Any) -> Any:
        if type(data) is dict:
            inner = data.get(first)
            if type(inner) is dict:
                return inner.get(second)
        value = slow(data)
        return None if value is MISSING else value

    return var_two


def _missing_keys(keys: list[Any], data: Any) -> list[Any]:
    missing = []
    for key in keys:
        value = path_getter(key)(data)
        if value is MISSING or value is None or value == "":
            missing.append(key)
    return missing


def _build_missing(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)
    raw_args = args_of(raw)
    for key in raw_args:
        compiler.note_variable(DYNAMIC_VARIABLE if isinstance(key, dict | list) else key, scoped)

    def missing(data: Any) -> list[Any]:
        values = [arg(data) for arg in args]
        keys = values[0] if values and isinstance(values[0], list) else values
        return _missing_keys(keys, data)

    return missing


def _build_missing_some(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)
    require(2, args, path, 2)
    keys_raw = args_of(raw)[1]
    for key in keys_raw if isinstance(keys_raw, list) else [DYNAMIC_VARIABLE]:
        compiler.note_variable(DYNAMIC_VARIABLE if isinstance(key, dict | list) else key, scoped)
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


def _build_if(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)
    pairs = [(args[i], args[i + 1]) for i in range(0, len(args) - 1, 2)]
    otherwise = args[-1] if len(args) % 2 == 1 else None

    def if_(data: Any) -> Any:
        for test, then in pairs:
            if js_truthy(test(data)):
                return then(data)
        return otherwise(data) if otherwise else None

    return if_


def _and_args(compiler: Compiler, raw: Any, path: str, scoped: bool) -> list[Evaluator]:
    # {"and": [{"and": [a, b]}, c]} evaluates as {"and": [a, b, c]}: same value, one call less
    # per level. Adobe's artifacts nest the allocation test this way in every rule.
    evaluators: list[Evaluator] = []
    for index, arg in enumerate(args_of(raw)):
        here = f"{path}[{index}]"
        if isinstance(arg, dict) and len(arg) == 1 and "and" in arg:
            evaluators.extend(_and_args(compiler, arg["and"], f"{here}.and", scoped))
        else:
            evaluators.append(compiler.compile(arg, here, scoped))
    return evaluators


def _build_and(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = _and_args(compiler, raw, path, scoped)

    def and_(data: Any) -> Any:
        value = None
        for arg in args:
            value = arg(data)
            if not js_truthy(value):
                return value
        return value

    return and_


def _build_or(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)

    def or_(data: Any) -> Any:
        value = None
        for arg in args:
            value = arg(data)
            if js_truthy(value):
                return value
        return value

    return or_


def _build_not(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)
    require(1, args, path)
    first = args[0]
    return lambda data: not js_truthy(first(data))


def _build_truthy(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    args = compiler.compile_args(raw, path, scoped)
    require(1, args, path)
    first = args[0]
    return lambda data: js_truthy(first(data))


OPERATORS["=="] = binary(js_loose_eq)
OPERATORS["==="] = binary(js_strict_eq)
OPERATORS["!="] = binary(lambda a, b: not js_loose_eq(a, b))
OPERATORS["!=="] = binary(lambda a, b: not js_strict_eq(a, b))
OPERATORS[">"] = binary(lambda a, b: js_less(b, a))
OPERATORS[">="] = binary(lambda a, b: js_le(b, a))


def _ordering(function: Callable[[Any, Any], bool]) -> Builder:
    # `<` and `<=` also take three arguments: {"<": [low, x, high]} is "x strictly between".
    def build(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
        args = compiler.compile_args(raw, path, scoped)
        require(2, args, path, 3)
        if len(args) == 2:
            return binary(function)(compiler, raw, path, scoped)
        low, middle, high = args

        def between(data: Any) -> bool:
            value = middle(data)
            return function(low(data), value) and function(value, high(data))

        return between

    return build


OPERATORS["<"] = _ordering(js_less)
OPERATORS["<="] = _ordering(js_le)


def _build_regex(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
    """``{"regex": [value, "pattern"]}``: a Cible extension, true when ``value`` is a string
    that ``pattern`` (a literal, Python ``re`` syntax) matches anywhere. Only the delivery API's
    artifacts use it (``matchesRegex`` audiences); Adobe's SDKs never receive it."""
    args = compiler.compile_args(raw, path, scoped)
    require(2, args, path, 2)
    subject = args[0]
    is_literal, pattern = literal(args_of(raw)[1])
    if not is_literal or not isinstance(pattern, str):
        raise LogicError("expects a literal string pattern as its second argument", path)
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise LogicError(f"invalid regular expression: {exc}", path) from None

    def matches(data: Any) -> bool:
        value = subject(data)
        return isinstance(value, str) and compiled.search(value) is not None

    return matches


# Registered here rather than by decorators: a decorated function is one that mutation tools
# (mutmut) leave unmutated (docs/engine.md, "Mutation testing").
OPERATORS.register("var")(_build_var)
OPERATORS.register("missing")(_build_missing)
OPERATORS.register("missing_some")(_build_missing_some)
OPERATORS.register("if", "?:")(_build_if)
OPERATORS.register("and")(_build_and)
OPERATORS.register("or")(_build_or)
OPERATORS.register("!")(_build_not)
OPERATORS.register("!!")(_build_truthy)
OPERATORS.register("regex")(_build_regex)
