"""The parser of Cible's Velocity subset: design script text in, a tree of plain nodes out.

Recommendations designs are Velocity 1.7 templates (Adobe Target, "Create a design"). Cible
reads the part of the language designs use (references, ``#set``, ``#if``/``#elseif``/
``#else``, ``#foreach``, ``#break``, comments, ``#[[unparsed]]#``) and refuses at parse time
what would reach outside the template: ``#include``, ``#parse``, ``#evaluate``, ``#define``,
``#macro``, and any method name outside :data:`ALLOWED_METHODS` (so ``$x.getClass()`` or
``$String.class.forName(...)`` never parse). The evaluator is in :mod:`cible.recs.velocity`.

Whitespace follows Velocity 2's "lines" gobbling: a directive alone on its line takes the
line's indentation and newline with it, so an indented template renders without blank lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_SCRIPT_CHARS = 65_000  # Adobe Recommendations API, Design.script
MAX_DEPTH = 50  # nesting of blocks and expressions

# Every method a design may call, whatever the receiver; the evaluator checks the receiver.
STRING_METHODS = frozenset(
    {
        "length", "toUpperCase", "toLowerCase", "trim", "substring", "contains", "startsWith",
        "endsWith", "indexOf", "replace", "equals", "isEmpty", "toString", "split",
    }
)  # fmt: skip
LIST_METHODS = frozenset({"size", "get", "isEmpty", "contains", "indexOf"})
MAP_METHODS = frozenset({"get", "containsKey", "isEmpty", "size"})
NUMBER_METHODS = frozenset(
    {"parseDouble", "parseInt", "intValue", "doubleValue", "toString", "equals"}
)
ESC_METHODS = frozenset({"html", "xml", "javascript", "json", "url"})
ALLOWED_METHODS = STRING_METHODS | LIST_METHODS | MAP_METHODS | NUMBER_METHODS | ESC_METHODS

_REFUSED_DIRECTIVES = frozenset({"include", "parse", "evaluate", "define", "macro", "stop"})
_LINE_DIRECTIVES = frozenset({"set", "if", "elseif", "else", "end", "foreach", "break"})
_WORD_OPS = {"and": "&&", "or": "||", "not": "!", "eq": "==", "ne": "!=", "lt": "<"}
_WORD_OPS |= {"gt": ">", "le": "<=", "ge": ">="}


class TemplateSyntaxError(ValueError):
    """A script that does not parse, or asks for something designs may not do."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"line {line}, column {column}: {message}")
        self.line = line
        self.column = column
        self.reason = message


# --- nodes ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Attr:
    name: str


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Index:
    expr: Any


@dataclass(frozen=True, slots=True)
class Ref:
    """``$name.step.step(...)[i]``; ``raw`` is the source text, printed when it has no value."""

    name: str
    steps: tuple[Attr | Call | Index, ...]
    quiet: bool
    raw: str


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any


@dataclass(frozen=True, slots=True)
class Interpolated:
    parts: tuple[Any, ...]  # Text and Ref nodes


@dataclass(frozen=True, slots=True)
class ListExpr:
    items: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class RangeExpr:
    low: Any
    high: Any


@dataclass(frozen=True, slots=True)
class BinOp:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "!" or "-"
    operand: Any


@dataclass(frozen=True, slots=True)
class SetNode:
    name: str
    expr: Any


@dataclass(frozen=True, slots=True)
class IfNode:
    branches: tuple[tuple[Any, tuple[Any, ...]], ...]
    orelse: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class ForeachNode:
    var: str
    iterable: Any
    body: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class BreakNode:
    pass


# --- parser -----------------------------------------------------------------------------


def _is_ident_start(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


def _is_ident_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch in "-_")


class _Parser:
    def __init__(self, src: str, *, refs_only: bool = False, origin: int = 0) -> None:
        self.src = src
        self.pos = 0
        self.refs_only = refs_only  # inside a "double-quoted" string: no directives
        self.origin = origin  # offset of ``src`` in the whole script, for error positions
        self.full: str = src
        self.depth = 0
        self.pending: Any = None  # an #elseif's condition, read where the directive is met

    # positions and errors

    def error(self, message: str, pos: int | None = None) -> TemplateSyntaxError:
        at = self.origin + (self.pos if pos is None else pos)
        line = self.full.count("\n", 0, at) + 1
        column = at - (self.full.rfind("\n", 0, at) + 1) + 1
        return TemplateSyntaxError(message, line, column)

    def peek(self, k: int = 0) -> str:
        i = self.pos + k
        return self.src[i] if i < len(self.src) else ""

    def skip_ws(self) -> None:
        while self.peek() in (" ", "\t", "\n", "\r") and self.peek():
            self.pos += 1

    def expect(self, ch: str) -> None:
        self.skip_ws()
        if self.peek() != ch:
            found = repr(self.peek()) if self.peek() else "the end of the script"
            raise self.error(f"expected {ch!r}, found {found}")
        self.pos += 1

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nesting deeper than {MAX_DEPTH} levels")

    # template mode

    def parse_block(self, closers: frozenset[str]) -> tuple[list[Any], str]:
        """Nodes up to one of ``closers`` (returned) or the end of the text (``""``)."""
        nodes: list[Any] = []
        text: list[str] = []

        def flush() -> None:
            if text:
                nodes.append(Text("".join(text)))
                text.clear()

        src = self.src
        while self.pos < len(src):
            ch = src[self.pos]
            if ch == "\\" and self.peek(1) in ("$", "#"):
                # \$ and \# print the character itself: designs escape Target's own tokens
                # this way (\${user.script}) so that they reach the page untouched.
                text.append(self.peek(1))
                self.pos += 2
            elif ch == "$":
                ref = self.try_reference()
                if ref is None:
                    text.append("$")
                    self.pos += 1
                else:
                    flush()
                    nodes.append(ref)
            elif ch == "#" and not self.refs_only:
                start = self.pos
                outcome = self.directive(closers, nodes, text)
                if outcome is None:
                    text.append("#")
                    self.pos = start + 1
                elif outcome == "":
                    continue
                else:
                    flush()
                    return nodes, outcome
            else:
                nxt = len(src)
                for special in ("$", "#", "\\"):
                    found = src.find(special, self.pos + 1)
                    if found != -1 and found < nxt:
                        nxt = found
                text.append(src[self.pos : nxt])
                self.pos = nxt
            if text and nodes and isinstance(nodes[-1], Text):
                text.insert(0, nodes.pop().text)
        flush()
        return nodes, ""

    def gobble(self, start: int, text: list[str], nodes: list[Any]) -> None:
        """Drop a directive's own line (indentation and newline) when it stands alone."""
        line_start = self.src.rfind("\n", 0, start) + 1
        if self.src[line_start:start].strip(" \t"):
            return
        end = self.pos
        while end < len(self.src) and self.src[end] in " \t":
            end += 1
        if end < len(self.src) and self.src[end] == "\r":
            end += 1
        if end < len(self.src) and self.src[end] != "\n":
            return
        self.pos = min(end + 1, len(self.src))
        if text:
            text[-1] = text[-1].rstrip(" \t")
        elif nodes and isinstance(nodes[-1], Text):
            nodes[-1] = Text(nodes[-1].text.rstrip(" \t"))

    def directive(self, closers: frozenset[str], nodes: list[Any], text: list[str]) -> str | None:
        """Parse the directive at ``#``; ``None`` if it is plain text, ``""`` if consumed
        inside ``nodes``, else the name of the closing directive met."""
        start = self.pos
        src = self.src
        if src.startswith("##", start):
            end = src.find("\n", start)
            self.pos = len(src) if end == -1 else end + 1
            return ""
        if src.startswith("#*", start):
            end = src.find("*#", start + 2)
            if end == -1:
                raise self.error("unclosed #* comment", start)
            self.pos = end + 2
            return ""
        if src.startswith("#[[", start):
            end = src.find("]]#", start + 3)
            if end == -1:
                raise self.error("unclosed #[[ block", start)
            text.append(src[start + 3 : end])
            self.pos = end + 3
            return ""
        braced = self.peek(1) == "{"
        i = start + (2 if braced else 1)
        j = i
        while j < len(src) and _is_ident_char(src[j]):
            j += 1
        name = src[i:j]
        if braced:
            if j >= len(src) or src[j] != "}":
                return None
            j += 1
        if not name:
            return None
        if name in _REFUSED_DIRECTIVES:
            raise self.error(f"#{name} is not available in designs (no files, no macros)")
        if name not in _LINE_DIRECTIVES:
            return None
        if not braced and j < len(src) and _is_ident_char(src[j]):
            return None
        self.pos = j
        if name in ("else", "end", "elseif"):
            if name not in closers:
                raise self.error(f"#{name} without an open block", start)
            if name == "elseif":
                self.pending = self.paren_expr()  # if_directive takes it
            self.gobble(start, text, nodes)
            return name
        if name == "break":
            self.gobble(start, text, nodes)
            text_flush(nodes, text)
            nodes.append(BreakNode())
            return ""
        if name == "set":
            node: Any = self.set_directive()
        elif name == "if":
            node = self.if_directive(start, text, nodes)
        else:
            node = self.foreach_directive(start, text, nodes)
        if name == "set":
            self.gobble(start, text, nodes)
        text_flush(nodes, text)
        nodes.append(node)
        return ""

    def paren_expr(self) -> Any:
        self.expect("(")
        expr = self.expression()
        self.expect(")")
        return expr

    def set_directive(self) -> SetNode:
        self.expect("(")
        self.skip_ws()
        if self.peek() != "$":
            raise self.error("#set needs a $variable")
        self.pos += 1
        name = self.identifier()
        self.expect("=")
        expr = self.expression()
        self.expect(")")
        return SetNode(name, expr)

    def body(self, closers: frozenset[str]) -> tuple[tuple[Any, ...], str]:
        self.enter()
        nodes, closer = self.parse_block(closers)
        self.depth -= 1
        if not closer:
            raise self.error("block not closed by #end")
        return tuple(nodes), closer

    def if_directive(self, start: int, text: list[str], nodes: list[Any]) -> IfNode:
        cond = self.paren_expr()
        self.gobble(start, text, nodes)
        branches: list[tuple[Any, tuple[Any, ...]]] = []
        closers = frozenset({"elseif", "else", "end"})
        body, closer = self.body(closers)
        branches.append((cond, body))
        while closer == "elseif":
            cond = self.pending
            body, closer = self.body(closers)
            branches.append((cond, body))
        orelse: tuple[Any, ...] = ()
        if closer == "else":
            orelse, _ = self.body(frozenset({"end"}))
        return IfNode(tuple(branches), orelse)

    def foreach_directive(self, start: int, text: list[str], nodes: list[Any]) -> ForeachNode:
        self.expect("(")
        self.skip_ws()
        if self.peek() != "$":
            raise self.error("#foreach needs a $variable")
        self.pos += 1
        var = self.identifier()
        self.skip_ws()
        if not self.src.startswith("in", self.pos):
            raise self.error("expected 'in' in #foreach")
        self.pos += 2
        iterable = self.expression()
        self.expect(")")
        self.gobble(start, text, nodes)
        body, _ = self.body(frozenset({"end"}))
        return ForeachNode(var, iterable, body)

    def identifier(self) -> str:
        if not _is_ident_start(self.peek()):
            raise self.error("expected a name")
        j = self.pos
        while j < len(self.src) and _is_ident_char(self.src[j]):
            j += 1
        name = self.src[self.pos : j]
        self.pos = j
        return name

    # references

    def try_reference(self) -> Ref | None:
        """The reference at ``$``, or ``None`` (position unchanged) if it is plain text."""
        start = self.pos
        i = start + 1
        quiet = self.src.startswith("!", i)
        if quiet:
            i += 1
        braced = self.src.startswith("{", i)
        if braced:
            i += 1
        if i >= len(self.src) or not _is_ident_start(self.src[i]):
            return None
        self.pos = i
        name = self.identifier()
        steps: list[Attr | Call | Index] = []
        while True:
            if self.peek() == "." and _is_ident_start(self.peek(1)):
                self.pos += 1
                member_at = self.pos
                member = self.identifier()
                if self.peek() == "(":
                    if member not in ALLOWED_METHODS:
                        message = f"method {member!r} is not available in designs"
                        raise self.error(message, member_at)
                    self.pos += 1
                    steps.append(Call(member, self.arguments()))
                else:
                    steps.append(Attr(member))
            elif self.peek() == "[":
                self.pos += 1
                self.enter()
                expr = self.expression()
                self.depth -= 1
                self.expect("]")
                steps.append(Index(expr))
            else:
                break
        if braced:
            if self.peek() != "}":
                self.pos = start
                return None
            self.pos += 1
        return Ref(name, tuple(steps), quiet, self.src[start : self.pos])

    def arguments(self) -> tuple[Any, ...]:
        args: list[Any] = []
        self.skip_ws()
        if self.peek() == ")":
            self.pos += 1
            return ()
        while True:
            args.append(self.expression())
            self.skip_ws()
            if self.peek() == ",":
                self.pos += 1
                continue
            self.expect(")")
            return tuple(args)

    # expressions

    def expression(self) -> Any:
        self.enter()
        expr = self.binary(0)
        self.depth -= 1
        return expr

    _LEVELS: tuple[tuple[str, ...], ...] = (
        ("||",),
        ("&&",),
        ("==", "!=", "<=", ">=", "<", ">"),
        ("+", "-"),
        ("*", "/", "%"),
    )

    def operator(self, level: int) -> str | None:
        self.skip_ws()
        for op in self._LEVELS[level]:
            if self.src.startswith(op, self.pos):
                if op == "<" and self.src.startswith("<=", self.pos):
                    continue
                self.pos += len(op)
                return op
        word_start = self.pos
        if _is_ident_start(self.peek()):
            j = self.pos
            while j < len(self.src) and _is_ident_char(self.src[j]):
                j += 1
            word_op = _WORD_OPS.get(self.src[word_start:j])
            if word_op is not None and word_op in self._LEVELS[level]:
                self.pos = j
                return word_op
        return None

    def binary(self, level: int) -> Any:
        if level == len(self._LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while (op := self.operator(level)) is not None:
            right = self.binary(level + 1)
            left = BinOp(op, left, right)
        return left

    def unary(self) -> Any:
        self.skip_ws()
        if self.peek() == "!" and self.peek(1) != "=":
            self.pos += 1
            self.enter()
            node = Unary("!", self.unary())
            self.depth -= 1
            return node
        if self.src.startswith("not", self.pos) and not _is_ident_char(self.peek(3)):
            self.pos += 3
            self.enter()
            node = Unary("!", self.unary())
            self.depth -= 1
            return node
        if self.peek() == "-" and not self.peek(1).isdigit():
            self.pos += 1
            self.enter()
            node = Unary("-", self.unary())
            self.depth -= 1
            return node
        return self.primary()

    def primary(self) -> Any:
        self.skip_ws()
        ch = self.peek()
        if ch == "$":
            ref = self.try_reference()
            if ref is None:
                raise self.error("expected a reference after '$'")
            return ref
        if ch == "(":
            self.pos += 1
            expr = self.expression()
            self.expect(")")
            return expr
        if ch in ("'", '"'):
            return self.string(ch)
        if ch == "[":
            return self.list_or_range()
        if ch.isdigit() or (ch == "-" and self.peek(1).isdigit()):
            return self.number()
        for word, value in (("true", True), ("false", False), ("null", None)):
            if self.src.startswith(word, self.pos) and not _is_ident_char(self.peek(len(word))):
                self.pos += len(word)
                return Literal(value)
        found = repr(ch) if ch else "the end of the script"
        raise self.error(f"expected a value, found {found}")

    def number(self) -> Literal:
        j = self.pos + 1
        while j < len(self.src) and self.src[j].isdigit():
            j += 1
        is_float = j + 1 < len(self.src) and self.src[j] == "." and self.src[j + 1].isdigit()
        if is_float:
            j += 1
            while j < len(self.src) and self.src[j].isdigit():
                j += 1
        token = self.src[self.pos : j]
        self.pos = j
        return Literal(float(token) if is_float else int(token))

    def string(self, quote: str) -> Any:
        start = self.pos
        self.pos += 1
        chars: list[str] = []
        while True:
            if self.pos >= len(self.src):
                raise self.error("unclosed string", start)
            ch = self.src[self.pos]
            if ch == quote:
                if self.peek(1) == quote:  # a doubled quote stands for itself (Velocity 1.7)
                    chars.append(quote)
                    self.pos += 2
                    continue
                self.pos += 1
                break
            chars.append(ch)
            self.pos += 1
        content = "".join(chars)
        if quote == "'" or "$" not in content:
            return Literal(content)
        inner = _Parser(content, refs_only=True, origin=self.origin + start + 1)
        inner.full = self.full
        inner.depth = self.depth
        parts, _ = inner.parse_block(frozenset())
        return Interpolated(tuple(parts))

    def list_or_range(self) -> Any:
        self.pos += 1
        self.skip_ws()
        if self.peek() == "]":
            self.pos += 1
            return ListExpr(())
        first = self.expression()
        self.skip_ws()
        if self.src.startswith("..", self.pos):
            self.pos += 2
            high = self.expression()
            self.expect("]")
            return RangeExpr(first, high)
        items = [first]
        while self.peek() == ",":
            self.pos += 1
            items.append(self.expression())
            self.skip_ws()
        self.expect("]")
        return ListExpr(tuple(items))


def text_flush(nodes: list[Any], text: list[str]) -> None:
    if text:
        joined = "".join(text)
        text.clear()
        if nodes and isinstance(nodes[-1], Text):
            nodes[-1] = Text(nodes[-1].text + joined)
        elif joined:
            nodes.append(Text(joined))


def parse(script: str) -> tuple[Any, ...]:
    """The tree of ``script``; raises :class:`TemplateSyntaxError`."""
    if len(script) > MAX_SCRIPT_CHARS:
        raise TemplateSyntaxError(f"the script is longer than {MAX_SCRIPT_CHARS} characters", 1, 1)
    parser = _Parser(script)
    nodes, _ = parser.parse_block(frozenset())
    return tuple(nodes)
