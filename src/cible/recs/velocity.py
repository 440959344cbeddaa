"""A sandboxed renderer of the Velocity subset that Recommendations designs use.

Adobe Target renders designs with Apache Velocity 1.7 (Adobe, "Create a design" and "Design
FAQ"). Cible cannot run Java, and would not want to: a design must not reach anything but the
data it is given. So this module interprets the parsed template (:mod:`._velocity_syntax`)
over plain values only -- strings, numbers, booleans, lists and mappings -- and calls no
Python attribute or method of them: ``$a.b`` reads key ``b`` of a mapping, and ``$a.m(...)``
runs one of a fixed set of functions chosen by the receiver's kind (string, list, mapping,
number, ``$esc``). Anything else has no value and, as in Velocity, prints as written.

Limits bound the work a design can cause: the script length (65,000 characters, Adobe's
limit), the nesting depth, the number of loop iterations, the number of evaluation steps and
the size of any string built, output included. Over a limit, rendering stops with
:class:`TemplateLimitError` -- nothing partial is returned.

Semantics kept from Velocity 1.7: values print unescaped (use ``$esc.html(...)``); a
reference without value prints as written unless quiet (``$!x``); ``#if`` is false only for
null and ``false``; ``#set`` to a null value leaves the variable as it was; ``+`` concatenates
when either side is a string; integer division truncates; ``$velocityCount`` and ``$foreach``
(``count``, ``index``, ``hasNext``, ``first``, ``last``) inside loops. Cible additions: ``\\$``
and ``\\#`` always print the character (designs use ``\\${profile.x}`` for Target tokens);
relational operators compare numeric strings as numbers; ``split`` takes a literal separator,
not a regular expression; ``$esc`` (``html``, ``xml``, ``javascript``, ``json``, ``url``)
stands in for Velocity Tools' EscapeTool, which Adobe does not offer.

Example::

    >>> compile_template("#foreach($e in $entities)$e.name;#end").render(
    ...     {"entities": [{"name": "Tent"}, {"name": "Stove"}]})
    'Tent;Stove;'
"""

from __future__ import annotations

import functools
import json
import math
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cible.recs._velocity_syntax import (
    Attr,
    BinOp,
    BreakNode,
    Call,
    ForeachNode,
    IfNode,
    Interpolated,
    ListExpr,
    Literal,
    RangeExpr,
    Ref,
    SetNode,
    TemplateSyntaxError,
    Text,
    Unary,
    parse,
)

__all__ = [
    "Escaper",
    "Limits",
    "Template",
    "TemplateError",
    "TemplateLimitError",
    "TemplateSyntaxError",
    "compile_template",
    "to_text",
]


class TemplateError(ValueError):
    """Rendering failed (a limit was hit)."""


class TemplateLimitError(TemplateError):
    """The design asked for more work or output than the limits allow."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_output_chars: int = 1_000_000
    max_iterations: int = 10_000
    max_steps: int = 1_000_000


class Escaper:
    """``$esc``: escaping for the places a value can land in a design."""

    __slots__ = ()


class _Loop:
    __slots__ = ("count", "first", "has_next", "index", "last")

    def __init__(self, index: int, size: int) -> None:
        self.index = index
        self.count = index + 1
        self.first = index == 0
        self.last = index == size - 1
        self.has_next = not self.last

    def attr(self, name: str) -> Any:
        return {
            "count": self.count,
            "index": self.index,
            "hasNext": self.has_next,
            "first": self.first,
            "last": self.last,
        }.get(name)


class _Break(Exception):
    pass


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _List(list[Any]):
    """A list a design built, carrying how many items it holds with its nested lists, so that
    ``#set($l = [$l, $l])`` in a loop cannot build an exponentially large value."""

    weight: int = 0


def _weight(value: Any) -> int:
    if isinstance(value, _List):
        return value.weight
    return len(value) if isinstance(value, list | tuple) else 1


def to_text(value: Any, limit: int | None = None) -> str:
    """How Velocity prints a value (Java's ``toString``); over ``limit`` characters, a
    :class:`TemplateLimitError`."""
    if limit is not None and isinstance(value, list | tuple | Mapping):
        return _bounded_text(value, limit)
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e7:
            return f"{value:.1f}"
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(to_text(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}={to_text(v)}" for k, v in value.items()) + "}"
    if value is None:
        return ""
    return "$esc" if isinstance(value, Escaper) else ""


def _bounded_text(value: Any, limit: int) -> str:
    parts: list[str] = []
    size = 0

    def add(text: str) -> None:
        nonlocal size
        size += len(text)
        if size > limit:
            raise TemplateLimitError(f"a value is longer than {limit} characters")
        parts.append(text)

    def walk(item: Any) -> None:
        if isinstance(item, list | tuple):
            add("[")
            for i, inner in enumerate(item):
                if i:
                    add(", ")
                walk(inner)
            add("]")
        elif isinstance(item, Mapping):
            add("{")
            for i, (key, inner) in enumerate(item.items()):
                add(("" if i == 0 else ", ") + f"{key}=")
                walk(inner)
            add("}")
        else:
            add(to_text(item))

    walk(value)
    return "".join(parts)


def _as_number(value: Any) -> int | float | None:
    if _is_number(value):
        return value  # type: ignore[no-any-return]
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _java_div(a: int, b: int) -> int:
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b >= 0) else -quotient


def _java_split(text: str, sep: str) -> list[str]:
    parts = text.split(sep) if sep else list(text)
    while parts and parts[-1] == "":
        parts.pop()  # Java's String.split drops trailing empty strings
    return parts


def _string_method(s: str, name: str, args: list[Any]) -> Any:
    a: list[Any] = list(args)
    if name == "length" and not a:
        return len(s)
    if name == "toUpperCase" and not a:
        return s.upper()
    if name == "toLowerCase" and not a:
        return s.lower()
    if name == "trim" and not a:
        return s.strip("".join(chr(c) for c in range(33)))
    if name in ("isEmpty",) and not a:
        return not s
    if name == "toString" and not a:
        return s
    if name == "substring" and 1 <= len(a) <= 2 and all(isinstance(x, int) for x in a):
        begin, end = a[0], (a[1] if len(a) == 2 else len(s))
        return s[begin:end] if 0 <= begin <= end <= len(s) else None
    if len(a) == 1 and isinstance(a[0], str):
        arg = a[0]
        unary_ops: dict[str, Callable[[], Any]] = {
            "contains": lambda: arg in s,
            "startsWith": lambda: s.startswith(arg),
            "endsWith": lambda: s.endswith(arg),
            "indexOf": lambda: s.find(arg),
            "split": lambda: _java_split(s, arg),
        }
        if name in unary_ops:
            return unary_ops[name]()
    if name == "equals" and len(a) == 1:
        return isinstance(a[0], str) and a[0] == s
    if name == "replace" and len(a) == 2 and all(isinstance(x, str) for x in a):
        return s.replace(a[0], a[1])
    return None


def _list_method(items: Sequence[Any], name: str, args: list[Any]) -> Any:
    if name == "size" and not args:
        return len(items)
    if name == "isEmpty" and not args:
        return not items
    if name == "get" and len(args) == 1 and _is_number(args[0]) and isinstance(args[0], int):
        return items[args[0]] if 0 <= args[0] < len(items) else None
    if name == "contains" and len(args) == 1:
        return any(_equal(x, args[0]) for x in items)
    if name == "indexOf" and len(args) == 1:
        return next((i for i, x in enumerate(items) if _equal(x, args[0])), -1)
    return None


def _map_method(mapping: Mapping[str, Any], name: str, args: list[Any]) -> Any:
    if name == "get" and len(args) == 1 and isinstance(args[0], str):
        return mapping.get(args[0])
    if name == "containsKey" and len(args) == 1:
        return isinstance(args[0], str) and args[0] in mapping
    if name == "isEmpty" and not args:
        return not mapping
    if name == "size" and not args:
        return len(mapping)
    return None


def _number_method(number: float, name: str, args: list[Any]) -> Any:
    # Adobe's designs convert strings with ``$double.parseDouble($entity1.get('price'))``
    # (Java's static methods reached through an instance); Cible offers the same calls.
    if name in ("parseDouble", "parseInt") and len(args) == 1 and isinstance(args[0], str):
        parsed = _as_number(args[0])
        if parsed is None:
            return None
        if name == "parseInt":
            return parsed if isinstance(parsed, int) else None
        return float(parsed)
    if name == "intValue" and not args:
        return int(number)
    if name == "doubleValue" and not args:
        return float(number)
    if name == "toString" and not args:
        return to_text(number)
    if name == "equals" and len(args) == 1:
        return _is_number(args[0]) and type(args[0]) is type(number) and args[0] == number
    return None


_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
_JS = {"\\": "\\\\", "'": "\\'", '"': '\\"', "/": "\\/", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(name: str, args: list[Any]) -> Any:
    if len(args) != 1 or args[0] is None:
        return None
    text = to_text(args[0])
    if name == "html":
        return "".join(_HTML.get(c, c) for c in text)
    if name == "xml":
        return "".join(_HTML.get(c, c) for c in text).replace("&#39;", "&apos;")
    if name == "javascript":
        return "".join(_JS.get(c, c if ord(c) >= 32 else f"\\u{ord(c):04x}") for c in text)
    if name == "json":
        return json.dumps(text, ensure_ascii=False)[1:-1].replace("<", "\\u003c")
    if name == "url":
        return urllib.parse.quote_plus(text, safe="*")
    return None


def _equal(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if type(a) is type(b):
        return bool(a == b)
    # Velocity compares values of different classes by their string forms
    return to_text(a) == to_text(b)


def _truthy(value: Any) -> bool:
    return value is not None and value is not False


class _Render:
    def __init__(self, context: Mapping[str, Any], limits: Limits) -> None:
        self.vars: dict[str, Any] = dict(context)
        self.vars["esc"] = Escaper()
        self.limits = limits
        self.out: list[str] = []
        self.size = 0
        self.steps = 0
        self.iterations = 0

    def step(self) -> None:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise TemplateLimitError(f"more than {self.limits.max_steps} evaluation steps")

    def checked(self, text: str) -> str:
        if len(text) > self.limits.max_output_chars:
            raise TemplateLimitError(
                f"a value or the output is longer than {self.limits.max_output_chars} characters"
            )
        return text

    def write(self, text: str) -> None:
        self.size += len(text)
        if self.size > self.limits.max_output_chars:
            raise TemplateLimitError(
                f"the output is longer than {self.limits.max_output_chars} characters"
            )
        self.out.append(text)

    def run(self, nodes: Sequence[Any]) -> None:
        for node in nodes:
            self.step()
            if isinstance(node, Text):
                self.write(node.text)
            elif isinstance(node, Ref):
                value = self.ref(node)
                if value is not None:
                    self.write(to_text(value, self.limits.max_output_chars))
                elif not node.quiet:
                    self.write(node.raw)
            elif isinstance(node, SetNode):
                value = self.expr(node.expr)
                if value is not None:
                    self.vars[node.name] = value
            elif isinstance(node, IfNode):
                for cond, body in node.branches:
                    if _truthy(self.expr(cond)):
                        self.run(body)
                        break
                else:
                    self.run(node.orelse)
            elif isinstance(node, ForeachNode):
                self.foreach(node)
            elif isinstance(node, BreakNode):
                raise _Break

    def foreach(self, node: ForeachNode) -> None:
        source = self.expr(node.iterable)
        if isinstance(source, Mapping):
            items = list(source.values())
        elif isinstance(source, list | tuple):
            items = list(source)
        else:
            return  # Velocity skips a loop over a null or a scalar
        saved = {k: self.vars.get(k) for k in (node.var, "velocityCount", "foreach")}
        try:
            for index, item in enumerate(items):
                self.iterations += 1
                if self.iterations > self.limits.max_iterations:
                    raise TemplateLimitError(
                        f"more than {self.limits.max_iterations} loop iterations"
                    )
                self.vars[node.var] = item
                self.vars["velocityCount"] = index + 1
                self.vars["foreach"] = _Loop(index, len(items))
                self.run(node.body)
        except _Break:
            pass
        finally:
            for key, value in saved.items():
                if value is None:
                    self.vars.pop(key, None)
                else:
                    self.vars[key] = value

    def ref(self, node: Ref) -> Any:
        value = self.vars.get(node.name)
        for step in node.steps:
            self.step()
            if value is None:
                return None
            if isinstance(step, Attr):
                if isinstance(value, Mapping):
                    value = value.get(step.name)
                elif isinstance(value, _Loop):
                    value = value.attr(step.name)
                else:
                    return None
            elif isinstance(step, Call):
                value = self.call(value, step.name, [self.expr(a) for a in step.args])
            else:
                value = self.index(value, self.expr(step.expr))
        return value

    def call(self, value: Any, name: str, args: list[Any]) -> Any:
        if isinstance(value, str):
            result = _string_method(value, name, args)
        elif isinstance(value, list | tuple):
            result = _list_method(value, name, args)
        elif isinstance(value, Mapping):
            result = _map_method(value, name, args)
        elif _is_number(value):
            result = _number_method(value, name, args)
        elif isinstance(value, Escaper):
            result = _escape(name, args)
        else:
            result = None
        if isinstance(result, str):
            self.checked(result)
        return result

    @staticmethod
    def index(value: Any, key: Any) -> Any:
        if isinstance(value, list | tuple) and isinstance(key, int) and not isinstance(key, bool):
            return value[key] if 0 <= key < len(value) else None
        if isinstance(value, Mapping) and isinstance(key, str):
            return value.get(key)
        return None

    def expr(self, node: Any) -> Any:
        self.step()
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Ref):
            return self.ref(node)
        if isinstance(node, Interpolated):
            parts: list[str] = []
            for part in node.parts:
                if isinstance(part, Text):
                    parts.append(part.text)
                else:
                    value = self.ref(part)
                    limit = self.limits.max_output_chars
                    parts.append(to_text(value, limit) if value is not None else part.raw)
            return self.checked("".join(parts))
        if isinstance(node, ListExpr):
            built = _List(self.expr(item) for item in node.items)
            built.weight = sum(_weight(item) for item in built) + 1
            if built.weight > self.limits.max_iterations:
                raise TemplateLimitError(
                    f"a list holding more than {self.limits.max_iterations} items"
                )
            return built
        if isinstance(node, RangeExpr):
            return self.range(node)
        if isinstance(node, Unary):
            operand = self.expr(node.operand)
            if node.op == "!":
                return not _truthy(operand)
            return -operand if _is_number(operand) else None
        if isinstance(node, BinOp):
            return self.binop(node)
        raise TypeError(f"unknown node {node!r}")

    def range(self, node: RangeExpr) -> _List | None:
        low, high = _as_number(self.expr(node.low)), _as_number(self.expr(node.high))
        if not isinstance(low, int) or not isinstance(high, int):
            return None
        if abs(high - low) >= self.limits.max_iterations:
            raise TemplateLimitError(f"a range longer than {self.limits.max_iterations} items")
        built = _List(range(low, high + 1) if low <= high else range(low, high - 1, -1))
        built.weight = len(built)
        return built

    def binop(self, node: BinOp) -> Any:
        op = node.op
        if op == "&&":
            return _truthy(self.expr(node.left)) and _truthy(self.expr(node.right))
        if op == "||":
            return _truthy(self.expr(node.left)) or _truthy(self.expr(node.right))
        left, right = self.expr(node.left), self.expr(node.right)
        if op == "==":
            return _equal(left, right)
        if op == "!=":
            return not _equal(left, right)
        if op in ("<", ">", "<=", ">="):
            a, b = _as_number(left), _as_number(right)
            if a is None or b is None:
                return False
            return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
        if op == "+" and (isinstance(left, str) or isinstance(right, str)):
            if left is None or right is None:
                return None
            limit = self.limits.max_output_chars
            return self.checked(to_text(left, limit) + to_text(right, limit))
        if not (_is_number(left) and _is_number(right)):
            return None
        result = _arithmetic(op, left, right)
        if isinstance(result, int) and not -(2**63) <= result < 2**63:
            return None  # beyond Java's long: no value rather than an unbounded integer
        return result


def _arithmetic(op: str, a: Any, b: Any) -> Any:
    both_int = isinstance(a, int) and isinstance(b, int)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        return None  # Velocity logs a division by zero and yields null
    if op == "/":
        return _java_div(a, b) if both_int else a / b
    return a - b * _java_div(a, b) if both_int else math.fmod(a, b)


class Template:
    """A parsed design script, rendered any number of times."""

    __slots__ = ("nodes", "script")

    def __init__(self, script: str) -> None:
        self.script = script
        self.nodes = parse(script)

    def render(self, context: Mapping[str, Any], limits: Limits | None = None) -> str:
        state = _Render(context, limits or Limits())
        try:
            state.run(self.nodes)
        except _Break:
            pass  # #break outside a loop ends the template, as in Velocity 1.7
        except RecursionError:
            raise TemplateLimitError("the design nests too deeply") from None
        return "".join(state.out)


@functools.lru_cache(maxsize=512)
def compile_template(script: str) -> Template:
    """The parsed template of ``script``, cached (designs are rendered on every delivery)."""
    return Template(script)
