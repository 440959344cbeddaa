"""AAM's trait rule language, parsed once and compiled into a safe evaluator.

Rules read like ``(c_make == "A" AND c_price >= 1.00) OR NOT h_referer contains "ads"``
(Adobe Audience Manager, "Trait Expression Samples", "Comparison Operators", "Operator
Precedence"). A real parser (lark, LALR) turns the text into a tree; errors carry their line
and column. The tree compiles into plain closures, so evaluation never runs user text through
``eval`` and a regular expression runs with a timeout.

Semantics, documented in docs/audience-manager.md ("Trait rules"):

* keys are case-insensitive; a key sent with several values (``k=a,b``) matches when one value
  does (``!=``: when none is equal);
* a comparison on a key the call lacks is false (``NOT`` of it is true);
* string comparisons ignore case; a number literal compares numerically and a value that is
  not a number never matches it;
* ``matchesregex`` takes Java's pattern syntax as far as the ``regex`` package reads it alike;
  constructs it reads differently are refused when the rule is validated.

>>> rule = compile_trait_rule('c_age < 25 AND NOT c_city == "Paris"')
>>> rule.keys
frozenset({'c_age', 'c_city'})
>>> rule.evaluate({"c_age": ["23"], "c_city": ["Lyon"]})
True
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import regex
from lark import Lark, Token, Transformer, Tree, UnexpectedInput, v_args

__all__ = ["TraitRule", "TraitRuleError", "compile_trait_rule", "parse_value"]

Signals = Mapping[str, Sequence[str]]
Predicate = Callable[[Signals], bool]

REGEX_TIMEOUT_SECONDS = 0.05
MAX_RULE_LENGTH = 20_000

_GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (OR and_expr)*
?and_expr: not_expr (AND not_expr)*
?not_expr: NOT not_expr -> negation
         | "(" or_expr ")"
         | comparison
comparison: KEY op value
op: CMP | NAMED
value: STRING | NUMBER

OR.3: /or\b/i
AND.3: /and\b/i
NOT.3: /not\b/i
NAMED.3: /(contains|matcheswords|startswith|endswith|matchesregex)\b/i
CMP: "==" | "!=" | "<=" | ">=" | "=>" | "=<" | "<" | ">"
KEY.1: /(?!(?i:and|or|not)(?![A-Za-z0-9_\-]))[A-Za-z0-9_][A-Za-z0-9_\-]*/
STRING: /"([^"\\]|\\.)*"/
NUMBER.2: /[-+]?(\d+(\.\d*)?|\.\d+)(?![A-Za-z_\-])/

%import common.WS
%ignore WS
"""

_PARSER = Lark(_GRAMMAR, parser="lalr", maybe_placeholders=False)

# Java constructs the ``regex`` package reads differently or not at all (java.util.regex.Pattern).
_JAVA_ONLY = {
    r"\Q": "quoting with \\Q...\\E",
    r"\E": "quoting with \\Q...\\E",
    r"\p{java": "java.lang.Character classes (\\p{javaLowerCase}...)",
    r"\p{In": "Unicode block names written \\p{InBlock}",
    r"\p{Is": "Unicode properties written \\p{IsProperty}",
    r"\G": "the end-of-previous-match anchor \\G",
    r"\z": "the end-of-input anchor \\z (write \\Z)",
    "(?d": "the UNIX_LINES flag (?d)",
    "(?u": "the UNICODE_CASE flag (?u)",
    "(?U": "the UNICODE_CHARACTER_CLASS flag (?U)",
}


class TraitRuleError(ValueError):
    """A rule that does not parse or validate; ``line``/``column`` are 1-based."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(f"{message} (line {line}, column {column})")
        self.message = message
        self.line = line
        self.column = column


@dataclass(frozen=True)
class TraitRule:
    """A compiled rule: the keys it reads and its predicate over a call's signals."""

    text: str
    keys: frozenset[str]
    predicate: Predicate

    def evaluate(self, signals: Signals) -> bool:
        return self.predicate(signals)

    @property
    def matches_without_signals(self) -> bool:
        """True when a call lacking every key the rule reads still matches (e.g. ``NOT k==1``)."""
        return self.predicate({})


def parse_value(raw: str) -> list[str]:
    """The values of one DCS parameter: ``a,b`` is two values, ``"a,b"`` one (AAM key format)."""
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return [raw[1:-1]]
    parts = [p.strip() for p in raw.split(",")] if "," in raw else [raw]
    return [p[1:-1] if len(p) >= 2 and p[0] == p[-1] == '"' else p for p in parts]


def _as_number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if number == number else None  # NaN never matches


def _check_regex(pattern: str, token: Token) -> Any:
    for construct, label in _JAVA_ONLY.items():
        if construct in pattern:
            raise TraitRuleError(
                f"matchesregex: {label} is not supported", token.line or 1, token.column or 1
            )
    try:
        return regex.compile(pattern, regex.V0)
    except regex.error as exc:
        raise TraitRuleError(
            f"matchesregex: invalid pattern ({exc})", token.line or 1, token.column or 1
        ) from None


def _unquote(token: Token) -> str:
    # Only ``\"`` is an escape: a pattern such as ``"\d+"`` keeps its backslash.
    return str(token)[1:-1].replace('\\"', '"')


def _compare(key: str, op: str, literal: Token, op_token: Token) -> Predicate:
    is_number = literal.type == "NUMBER"
    text = str(literal) if is_number else _unquote(literal)
    folded = text.casefold()
    op = {"=>": ">=", "=<": "<="}.get(op, op)
    number = float(text) if is_number else None

    def any_value(test: Callable[[str], bool]) -> Predicate:
        def predicate(signals: Signals) -> bool:
            values = signals.get(key)
            return values is not None and any(test(v) for v in values)

        return predicate

    if op in ("==", "!="):
        if number is not None:

            def equal(v: str) -> bool:
                n = _as_number(v)
                return n is not None and n == number

        else:

            def equal(v: str) -> bool:
                return v.casefold() == folded

        if op == "==":
            return any_value(equal)

        def not_equal(signals: Signals) -> bool:
            values = signals.get(key)
            return bool(values) and not any(equal(v) for v in values or ())

        return not_equal
    if op in ("<", ">", "<=", ">="):
        order: Callable[[Any, Any], bool] = {
            "<": lambda a, b: a < b,
            ">": lambda a, b: a > b,
            "<=": lambda a, b: a <= b,
            ">=": lambda a, b: a >= b,
        }[op]
        if number is not None:

            def numeric(v: str) -> bool:
                n = _as_number(v)
                return n is not None and order(n, number)

            return any_value(numeric)
        return any_value(lambda v: order(v.casefold(), folded))
    named = op.lower()
    if named == "contains":
        return any_value(lambda v: folded in v.casefold())
    if named == "startswith":
        return any_value(lambda v: v.casefold().startswith(folded))
    if named == "endswith":
        return any_value(lambda v: v.casefold().endswith(folded))
    if named == "matcheswords":
        words = folded.split()
        if not words:
            raise TraitRuleError(
                "matcheswords needs at least one word", op_token.line or 1, op_token.column or 1
            )
        pattern = re.compile(
            r"(?<!\w)" + r"\s+".join(re.escape(w) for w in words) + r"(?!\w)", re.IGNORECASE
        )
        return any_value(lambda v: pattern.search(v) is not None)
    compiled = _check_regex(text, literal)

    def matches(signals: Signals) -> bool:
        # One time budget for all of the key's values, so many values cannot multiply it.
        deadline = time.monotonic() + REGEX_TIMEOUT_SECONDS
        for value in signals.get(key) or ():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                if compiled.search(value, timeout=remaining) is not None:
                    return True
            except TimeoutError:
                return False
        return False

    return matches


@v_args(inline=True)
class _Compiler(Transformer[Token, tuple[Predicate, frozenset[str]]]):
    def comparison(
        self, key: Token, op: Tree[Token], value: Tree[Token]
    ) -> tuple[Predicate, frozenset[str]]:
        name = str(key).lower()
        if name.isdigit():
            raise TraitRuleError(
                f"key {str(key)!r} is digits only; a key needs a letter",
                key.line or 1,
                key.column or 1,
            )
        op_token = op.children[0]
        literal = value.children[0]
        assert isinstance(op_token, Token) and isinstance(literal, Token)
        return _compare(name, str(op_token), literal, op_token), frozenset({name})

    def negation(
        self, _not: Token, inner: tuple[Predicate, frozenset[str]]
    ) -> tuple[Predicate, frozenset[str]]:
        predicate = inner[0]
        return (lambda s: not predicate(s)), inner[1]

    def and_expr(self, *parts: Any) -> tuple[Predicate, frozenset[str]]:
        operands = [p for p in parts if not isinstance(p, Token)]
        predicates = [p[0] for p in operands]
        return (lambda s: all(p(s) for p in predicates)), frozenset().union(
            *(p[1] for p in operands)
        )

    def or_expr(self, *parts: Any) -> tuple[Predicate, frozenset[str]]:
        operands = [p for p in parts if not isinstance(p, Token)]
        predicates = [p[0] for p in operands]
        return (lambda s: any(p(s) for p in predicates)), frozenset().union(
            *(p[1] for p in operands)
        )


def _describe(error: UnexpectedInput, text: str) -> str:
    token = getattr(error, "token", None)
    if token is not None and getattr(token, "type", "") == "$END":
        return "the rule ends too early"
    if token is not None:
        shown = str(token)
    else:
        position = getattr(error, "pos_in_stream", None) or 0
        shown = text[position : position + 1]
    expected = sorted(getattr(error, "expected", None) or getattr(error, "allowed", None) or [])
    names = {
        "KEY": "a key",
        "STRING": "a quoted string",
        "NUMBER": "a number",
        "CMP": "a comparison operator",
        "NAMED": "a named operator",
        "LPAR": "(",
        "RPAR": ")",
        "AND": "AND",
        "OR": "OR",
        "NOT": "NOT",
    }
    wanted = ", ".join(dict.fromkeys(names.get(e, e) for e in expected))
    return f"unexpected {shown!r}" + (f"; expected {wanted}" if wanted else "")


MAX_DEPTH = 64


def _too_deep(tree: Tree[Token]) -> bool:
    """Whether ``tree`` nests past ``MAX_DEPTH`` (walked without recursion)."""
    stack: list[tuple[Tree[Token], int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))
    return False


@lru_cache(maxsize=65_536)  # rebuilding a large taxonomy reuses compiled rules
def compile_trait_rule(text: str) -> TraitRule:
    """The compiled rule for ``text``, or :class:`TraitRuleError` with the error position."""
    if not text.strip():
        raise TraitRuleError("the rule is empty")
    if len(text) > MAX_RULE_LENGTH:
        raise TraitRuleError(f"the rule is longer than {MAX_RULE_LENGTH} characters")
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as exc:
        raise TraitRuleError(_describe(exc, text), exc.line or 1, exc.column or 1) from None
    if _too_deep(tree):
        raise TraitRuleError(f"the rule nests deeper than {MAX_DEPTH} levels")
    try:
        predicate, keys = _Compiler().transform(tree)
    except Exception as exc:  # lark wraps errors raised by the transformer
        inner = getattr(exc, "orig_exc", exc)
        if isinstance(inner, TraitRuleError):
            raise inner from None
        raise
    return TraitRule(text=text, keys=keys, predicate=predicate)
