"""AAM's outbound file-name and content templates: a StringTemplate subset, compiled once.

Adobe Audience Manager, "Outbound template macros" and "Outbound macro examples": a template is
literal text with macros in angle brackets: ``<UUID>``, a list with a separator
``<SEGMENT_LIST;separator=",">`` (the separator is a quoted string or a macro such as ``TAB``),
a list with an item template ``<SEGMENT_LIST:{seg|<seg.sid>}; separator=",">``, and a formatted
time ``<TIMESTAMP; format="YYYYMMDDhhmmss">``. Conditionals (``<if(...)>``), ``DPUUIDS``,
``MCID`` and ``TRAIT_LIST`` are not supported: a template naming them is refused when saved.

A compiled template is a list of small functions of one :class:`Context`, so rendering a row
costs a few calls, not a parse.

>>> render(compile_template("<UUID> <SEGMENT_LIST;separator=\\",\\">"), Context(uuid="1"))
'1 '
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

# Static macros ("Outbound template macros").
STATIC = {
    "TAB": "\t",
    "NEW_LINE": "\n",
    "ASCII_SOH": "\x01",
    "SET_ATTRIBUTES": "1",
    "OUTPUT_ATTRIBUTE_VALUE": "1",
    "OPEN_CURLY_BRACKET": "{",
    "CLOSE_CURLY_BRACKET": "}",
}
NAME_MACROS = frozenset(
    {"DPID", "MASTER_DPID", "ORDER_ID", "DID", "PID_ALIAS", "SPLITNUM", "SYNC_MODE", "SYNC_TYPE",
     "TIMESTAMP", *STATIC}
)  # fmt: skip
ROW_MACROS = frozenset({"UUID", "DP_UUID", "PID", "PIDALIAS", "ORDER_ID", "DPID", "MASTER_DPID"})
LIST_MACROS = frozenset({"SEGMENT_LIST", "REMOVED_SEGMENT_LIST", "DP_UUID_LIST"})
CONTENT_MACROS = ROW_MACROS | LIST_MACROS | frozenset(STATIC)
SEGMENT_TYPE = "5"  # "type: always 5" (Outbound template macros)
_OPTION = re.compile(r'\s*(\w+)\s*=\s*("(?:[^"\\]|\\.)*"|\w+)\s*')
_ITEM = re.compile(r"^\{\s*(\w+)\s*\|(.*)\}$", re.S)
_TIME_FORMAT = (("YYYY", "%Y"), ("MM", "%m"), ("DD", "%d"), ("hh", "%H"), ("mm", "%M"),
                ("ss", "%S"))  # fmt: skip


class TemplateError(ValueError):
    """A template that cannot be compiled (its message says where)."""


@dataclass
class Context:
    """The values one rendering sees: scalars by macro name, lists of items, one loop item."""

    uuid: str = ""
    scalars: dict[str, str] = field(default_factory=dict)
    lists: dict[str, Sequence[object]] = field(default_factory=dict)
    item: dict[str, object] = field(default_factory=dict)
    aliases: dict[int, str] = field(default_factory=dict)  # segment aliases (mapping traitAlias)


Part = Callable[[Context], str]


def render(parts: Sequence[Part], ctx: Context) -> str:
    return "".join(part(ctx) for part in parts)


def _split(text: str) -> list[tuple[bool, str]]:
    """Literal text and ``<...>`` expressions, braces and quotes inside expressions respected."""
    out: list[tuple[bool, str]] = []
    i, literal = 0, []
    while i < len(text):
        if text[i] != "<":
            literal.append(text[i])
            i += 1
            continue
        depth, quoted, j = 0, False, i + 1
        while j < len(text):
            ch = text[j]
            if quoted:
                if ch == "\\":
                    j += 1
                elif ch == '"':
                    quoted = False
            elif ch == '"':
                quoted = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == ">" and depth == 0:
                break
            j += 1
        if j >= len(text):
            raise TemplateError(f"unclosed '<' at character {i}")
        if literal:
            out.append((False, "".join(literal)))
            literal = []
        out.append((True, text[i + 1 : j]))
        i = j + 1
    if literal:
        out.append((False, "".join(literal)))
    return out


def _top_level_semicolon(expr: str) -> tuple[str, str]:
    depth, quoted = 0, False
    for i, ch in enumerate(expr):
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "{":
            depth += 1
        elif not quoted and ch == "}":
            depth -= 1
        elif not quoted and depth == 0 and ch == ";":
            return expr[:i].strip(), expr[i + 1 :]
    return expr.strip(), ""


def _options(text: str, allowed: frozenset[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    for chunk in _split_commas(text):
        match = _OPTION.fullmatch(chunk)
        if not match:
            raise TemplateError(f"cannot read option {chunk.strip()!r}")
        key, raw = match.group(1), match.group(2)
        if raw.startswith('"'):
            value = raw[1:-1].encode().decode("unicode_escape")
        elif raw in STATIC:
            value = STATIC[raw]
        else:
            raise TemplateError(f"option {key} takes a quoted string or a static macro")
        options[key] = value
    return options


def _split_commas(text: str) -> list[str]:
    chunks: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            chunks.append("".join(current))
            current = []
        else:
            current.append(ch)
    if "".join(current).strip():
        chunks.append("".join(current))
    return chunks


def compile_template(text: str, *, macros: frozenset[str] = CONTENT_MACROS) -> list[Part]:
    """Compiles ``text``; raises :class:`TemplateError` naming the first unknown macro."""
    return _compile(text, macros, loop_var=None)


def _compile(text: str, macros: frozenset[str], loop_var: str | None) -> list[Part]:
    parts: list[Part] = []
    for is_expr, chunk in _split(text):
        parts.append(_expression(chunk, macros, loop_var) if is_expr else _literal(chunk))
    return parts


def _literal(text: str) -> Part:
    return lambda ctx: text


def _expression(expr: str, macros: frozenset[str], loop_var: str | None) -> Part:
    head, rest = _top_level_semicolon(expr)
    item: list[Part] | None = None
    name, colon, body = head.partition(":")
    name = name.strip()
    if colon:
        match = _ITEM.match(body.strip())
        if not match:
            raise TemplateError(f"cannot read the item template of {name}")
        item_var = match.group(1)
        item = _compile(match.group(2), macros, loop_var=item_var)
    if loop_var and name.startswith(loop_var + "."):
        key = name[len(loop_var) + 1 :]
        return lambda ctx: str(ctx.item.get(key, ""))
    if name not in macros:
        raise TemplateError(f"unknown or unsupported macro <{name}>")
    options = _options(rest, frozenset({"separator", "format"})) if rest.strip() else {}
    if name in STATIC:
        value = STATIC[name]
        return lambda ctx: value
    if name == "UUID":
        return lambda ctx: ctx.uuid
    if name in LIST_MACROS:
        return _list(name, options.get("separator", ""), item)
    if name == "TIMESTAMP" and "format" in options:
        pattern = options["format"]
        for ours, strftime in _TIME_FORMAT:
            pattern = pattern.replace(ours, strftime)
        return lambda ctx: time.strftime(
            pattern, time.gmtime(int(ctx.scalars.get("TIMESTAMP", "0")) // 1000)
        )
    return lambda ctx: ctx.scalars.get(name, "")


def _list(name: str, separator: str, item: list[Part] | None) -> Part:
    if item is None:
        return lambda ctx: separator.join(str(_plain(v)) for v in ctx.lists.get(name, ()))

    def each(ctx: Context) -> str:
        out = []
        for value in ctx.lists.get(name, ()):
            inner = Context(ctx.uuid, ctx.scalars, ctx.lists, _fields(value, ctx.aliases),
                            ctx.aliases)  # fmt: skip
            out.append(render(item, inner))
        return separator.join(out)

    return each


def _plain(value: object) -> object:
    """A list item shown without an item template: a segment ``(sid, ms)`` shows its id."""
    return value[0] if isinstance(value, tuple) else value


def _fields(value: object, aliases: dict[int, str]) -> dict[str, object]:
    """An item's fields for an item template: a segment's are AAM's (times in epoch ms)."""
    if not isinstance(value, tuple):
        return {"value": value}
    sid, at = value
    return {
        "sid": sid,
        "segmentId": sid,
        "csegid": sid,
        "type": SEGMENT_TYPE,
        "alias": aliases.get(sid, ""),
        "lastUpdateTime": at,
        "lastRealizationTime": at,
    }


def uses(parts_text: str, *names: str) -> bool:
    """Whether the template text names one of ``names`` (to know which data it needs)."""
    return any(re.search(rf"<\s*{re.escape(n)}\b", parts_text) for n in names)
