"""AAM's segment rule language: trait references with recency and frequency, AND/OR/NOT.

``frequency([123T, 456T] <= 7D) >= 2 AND NOT 789T`` (Adobe Audience Manager, "Segment Builder
Code View syntax", "Recency and Frequency"). A bare ``123T`` means ``frequency([123T]) >= 1``.
Recency operators are ``<=`` (realized within the last *n* days) and ``>=`` (realized *n* days
ago or earlier); frequency operators ``>=``, ``<=`` and ``==``. A rule that an empty profile
satisfies (``frequency([1T]) <= 5`` alone, ``NOT 1T``) is refused as AAM refuses it: it would
match every device that never realized the trait.

Evaluation reads a device's realizations (:class:`Realizations`): the total count per trait and
the timestamps of its most recent realizations. Folder traits are expanded by the caller into
the traits of their folder subtree (``expand``), each onboarded trait counting at most once.

>>> rule = compile_segment_rule("frequency([1T] <= 2D) >= 2")
>>> sorted(rule.traits)
[1]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from lark import Lark, Token, Transformer, Tree, UnexpectedInput, v_args

__all__ = [
    "DAY_MS",
    "Realization",
    "SegmentRule",
    "SegmentRuleError",
    "compile_segment_rule",
]

DAY_MS = 86_400_000
MAX_RULE_LENGTH = 200_000
MAX_TRAITS = 5_000

_GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (OR and_expr)*
?and_expr: not_expr (AND not_expr)*
?not_expr: NOT not_expr -> negation
         | "(" or_expr ")"
         | TRAIT -> bare
         | frequency
frequency: FREQUENCY "(" "[" TRAIT ("," TRAIT)* "]" recency? ")" count?
recency: REL INT DAYS
count: FREQ_OP INT

OR.3: /or\b/i
AND.3: /and\b/i
NOT.3: /not\b/i
FREQUENCY.3: /frequency\b/i
TRAIT: /\d+T\b/i
DAYS: /D\b/i
REL: "<=" | ">="
FREQ_OP: "<=" | ">=" | "=="
INT: /\d+/

%import common.WS
%ignore WS
"""

_PARSER = Lark(_GRAMMAR, parser="lalr", maybe_placeholders=False)


@dataclass(frozen=True)
class Realization:
    """A trait's realizations on one device: total ``count`` and recent timestamps (epoch ms)."""

    count: int
    times: Sequence[int]


Realizations = Mapping[int, Realization]
# (realizations, now_ms, expand) -> bool; ``expand`` maps a trait id to (member id, cap) pairs.
Expand = Callable[[int], Sequence[tuple[int, int | None]]]
Evaluator = Callable[[Realizations, int, Expand], bool]


class SegmentRuleError(ValueError):
    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(f"{message} (line {line}, column {column})")
        self.message = message
        self.line = line
        self.column = column


def _no_expansion(trait_id: int) -> Sequence[tuple[int, int | None]]:
    return ((trait_id, None),)


@dataclass(frozen=True)
class SegmentRule:
    """A compiled segment rule and the trait ids (as written) it references."""

    text: str
    traits: frozenset[int]
    evaluator: Evaluator
    # A recency window makes the rule's value move with time alone; without one it changes only
    # when realizations do. ``rises``: time alone can turn it true (a ``>= 7D`` window seven
    # days after a realization, or a ``<= 7D`` window under NOT); a timed rule that does not
    # rise can only turn false with time.
    timed: bool = False
    rises: bool = False

    def evaluate(
        self, realizations: Realizations, now_ms: int, expand: Expand = _no_expansion
    ) -> bool:
        return self.evaluator(realizations, now_ms, expand)


def _frequency(
    traits: list[int], recency: tuple[str, int] | None, count: tuple[str, int]
) -> Evaluator:
    op, threshold = count

    def evaluate(realizations: Realizations, now_ms: int, expand: Expand) -> bool:
        total = 0
        for trait in traits:
            for member, cap in expand(trait):
                found = realizations.get(member)
                if found is None:
                    continue
                if recency is None:
                    n = found.count
                elif recency[0] == "<=":
                    horizon = now_ms - recency[1] * DAY_MS
                    n = sum(1 for t in found.times if t >= horizon)
                else:
                    horizon = now_ms - recency[1] * DAY_MS
                    n = sum(1 for t in found.times if t <= horizon)
                total += n if cap is None else min(n, cap)
        if op == ">=":
            return total >= threshold
        if op == "<=":
            return total <= threshold
        return total == threshold

    return evaluate


Compiled = tuple[Evaluator, frozenset[int]]


class _Recency(NamedTuple):
    op: str
    days: int


class _Count(NamedTuple):
    op: str
    value: int


@v_args(inline=True)
class _Compiler(Transformer[Token, Compiled]):
    def bare(self, trait: Token) -> Compiled:
        sid = int(str(trait)[:-1])
        return _frequency([sid], None, (">=", 1)), frozenset({sid})

    def recency(self, op: Token, days: Token, _d: Token) -> _Recency:
        if int(days) <= 0:
            raise SegmentRuleError(
                "recency must be greater than 0 days", days.line or 1, days.column or 1
            )
        return _Recency(str(op), int(days))

    def count(self, op: Token, value: Token) -> _Count:
        return _Count(str(op), int(value))

    def frequency(self, *parts: Any) -> Compiled:
        traits = [int(str(p)[:-1]) for p in parts if isinstance(p, Token) and p.type == "TRAIT"]
        recency = next((p for p in parts if isinstance(p, _Recency)), None)
        count = next((p for p in parts if isinstance(p, _Count)), _Count(">=", 1))
        window = None if recency is None else (recency.op, recency.days)
        return _frequency(traits, window, (count.op, count.value)), frozenset(traits)

    def negation(self, _not: Token, inner: Compiled) -> Compiled:
        evaluate = inner[0]
        return (lambda r, n, e: not evaluate(r, n, e)), inner[1]

    def and_expr(self, *parts: Any) -> Compiled:
        operands = [p for p in parts if not isinstance(p, Token)]
        evaluators = [p[0] for p in operands]
        return (lambda r, n, e: all(f(r, n, e) for f in evaluators)), frozenset().union(
            *(p[1] for p in operands)
        )

    def or_expr(self, *parts: Any) -> Compiled:
        operands = [p for p in parts if not isinstance(p, Token)]
        evaluators = [p[0] for p in operands]
        return (lambda r, n, e: any(f(r, n, e) for f in evaluators)), frozenset().union(
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
    return f"unexpected {shown!r}; write trait references as 123T, or frequency([123T] <= 7D) >= 2"


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
def _rises(tree: Tree[Token], positive: bool) -> bool:
    """Whether time alone can turn ``tree`` true: a window ``<= nD`` holds fewer realizations
    as time passes and ``>= nD`` more; a count test ``>=`` rises with the count, ``<=`` falls,
    ``==`` does either; NOT swaps rising and falling."""
    if tree.data == "negation":
        return _rises(tree.children[-1], not positive)
    if tree.data == "frequency":
        subtrees = [c for c in tree.children if isinstance(c, Tree)]
        window = next((c for c in subtrees if c.data == "recency"), None)
        if window is None:
            return False
        count = next((c for c in subtrees if c.data == "count"), None)
        op = ">=" if count is None else str(count.children[0])
        if op == "==":
            return True
        rises = (str(window.children[0]) == ">=") == (op == ">=")
        return rises if positive else not rises
    return any(_rises(c, positive) for c in tree.children if isinstance(c, Tree))


def compile_segment_rule(text: str) -> SegmentRule:
    """The compiled rule, or :class:`SegmentRuleError` with the error position."""
    if not text.strip():
        raise SegmentRuleError("the rule is empty")
    if len(text) > MAX_RULE_LENGTH:
        raise SegmentRuleError(f"the rule is longer than {MAX_RULE_LENGTH} characters")
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as exc:
        raise SegmentRuleError(_describe(exc, text), exc.line or 1, exc.column or 1) from None
    if _too_deep(tree):
        raise SegmentRuleError(f"the rule nests deeper than {MAX_DEPTH} levels")
    try:
        evaluator, traits = _Compiler().transform(tree)
    except Exception as exc:
        inner = getattr(exc, "orig_exc", exc)
        if isinstance(inner, SegmentRuleError):
            raise inner from None
        raise
    if len(traits) > MAX_TRAITS:
        # AAM, "Segment Builder": at most 5,000 traits per segment.
        raise SegmentRuleError(f"a segment references at most {MAX_TRAITS} traits")
    timed = any(True for _ in tree.find_data("recency"))
    rule = SegmentRule(
        text=text, traits=traits, evaluator=evaluator, timed=timed, rises=_rises(tree, True)
    )
    if rule.evaluate({}, 0):
        raise SegmentRuleError(
            "the rule matches a device that realized none of its traits (for example "
            "frequency([1000T]) <= 5 on its own), which Audience Manager rejects for "
            "performance; AND it with a positive term such as frequency([1000T]) >= 1"
        )
    return rule
