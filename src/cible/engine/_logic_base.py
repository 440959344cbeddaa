"""Shared pieces of the JSON Logic compiler: errors, data access, the operator registry.

`_jsonlogic.py` compiles a condition by looking each operator up in a `Registry` that the
operator modules (`_logic_ops.py`, `_array_ops.py`) fill; a builder receives the compiler (as
the `Compiler` protocol, to compile its arguments) and returns the operator's closure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from cible.engine._jsvalues import js_to_string

__all__ = [
    "DYNAMIC_VARIABLE",
    "MISSING",
    "Builder",
    "Compiler",
    "Evaluator",
    "LogicError",
    "Registry",
    "args_of",
    "binary",
    "literal",
    "path_getter",
    "require",
    "step",
]

Evaluator = Callable[[Any], Any]

DYNAMIC_VARIABLE = "*"
"""Recorded in `CompiledCondition.variables` when a `var` path is computed at decision time."""

MISSING: Any = object()
"""What `path_getter` returns for an absent path (distinct from a present null)."""


class LogicError(ValueError):
    """A condition that cannot be compiled; `path` locates the node (e.g. `condition.and[1]`)."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class Compiler(Protocol):
    """What an operator builder may ask of the compiler."""

    def compile(self, logic: Any, path: str, scoped: bool) -> Evaluator: ...

    def compile_args(self, raw_args: Any, path: str, scoped: bool) -> list[Evaluator]: ...

    def note_variable(self, name: Any, scoped: bool) -> None: ...


Builder = Callable[[Compiler, Any, str, bool], Evaluator]


class Registry(dict[str, Builder]):
    """Operator name → builder."""

    def register(self, *names: str) -> Callable[[Builder], Builder]:
        def add(builder: Builder) -> Builder:
            for name in names:
                self[name] = builder
            return builder

        return add


def path_getter(path: Any) -> Callable[[Any], Any]:
    """A function returning the value at a dotted `path` in data, or `MISSING`."""
    if path is None or path == "":
        return lambda data: data
    parts = tuple(js_to_string(path).split("."))

    if len(parts) == 1:
        (key,) = parts

        def get_one(data: Any) -> Any:
            if type(data) is dict:
                return data.get(key, MISSING)
            return step(data, key)

        return get_one

    if len(parts) == 2:
        first, second = parts

        def get_two(data: Any) -> Any:
            if type(data) is dict:
                inner = data.get(first, MISSING)
                if type(inner) is dict:
                    return inner.get(second, MISSING)
                return step(inner, second)
            return step(step(data, first), second)

        return get_two

    def get_many(data: Any) -> Any:
        for part in parts:
            data = step(data, part)
            if data is MISSING:
                break
        return data

    return get_many


def step(data: Any, key: str) -> Any:
    """`data[key]` as json-logic-js reads it (JavaScript property access), else `MISSING`.

    Arrays and strings answer their indexes and `length`; a string's index and length count
    UTF-16 code units, as JavaScript does.
    """
    if type(data) is dict:
        return data.get(key, MISSING)
    if isinstance(data, Mapping):
        return data.get(key, MISSING)
    if isinstance(data, list | str):
        if isinstance(data, str):
            data = _utf16_units(data)
        if key == "length":
            return len(data)
        if key.isdigit() and key.isascii():
            index = int(key)
            return data[index] if index < len(data) else MISSING
    return MISSING


def _utf16_units(text: str) -> str | list[str]:
    # A character above U+FFFF is two code units in JavaScript; each unit reads as one string.
    if text.isascii() or all(ord(char) <= 0xFFFF for char in text):
        return text
    encoded = text.encode("utf-16-le", "surrogatepass")
    return [chr(int.from_bytes(encoded[i : i + 2], "little")) for i in range(0, len(encoded), 2)]


def args_of(values: Any) -> list[Any]:
    # json-logic-js: a single non-array argument is the one-element argument list.
    return values if isinstance(values, list) else [values]


def require(count: int, args: list[Evaluator], path: str, at_most: int | None = None) -> None:
    if len(args) < count or (at_most is not None and len(args) > at_most):
        wanted = f"{count}" if at_most == count else f"{count} to {at_most or 'any'}"
        raise LogicError(f"expects {wanted} arguments, got {len(args)}", path)


def literal(raw: Any) -> tuple[bool, Any]:
    """(True, value) when a raw argument is a literal that needs no evaluation."""
    if isinstance(raw, str | int | float | bool) or raw is None:
        return True, raw
    return False, None


def binary(function: Callable[[Any, Any], bool]) -> Builder:
    def build(compiler: Compiler, raw: Any, path: str, scoped: bool) -> Evaluator:
        args = compiler.compile_args(raw, path, scoped)
        require(2, args, path, 2)
        left, right = args
        raw_left, raw_right = args_of(raw)
        right_is_literal, right_value = literal(raw_right)
        if right_is_literal:
            return lambda data: function(left(data), right_value)
        left_is_literal, left_value = literal(raw_left)
        if left_is_literal:
            return lambda data: function(left_value, right(data))
        return lambda data: function(left(data), right(data))

    return build
