"""Validation of a whole batch before any operation runs (Adobe Admin API, "Batch Updates").

A batch is refused as a whole, with every problem listed, when its shape breaks one of the rules
of Adobe's batch reference: 1-256 operations; ``operationId`` an integer 0-255, unique;
``dependsOnOperationIds`` unique, existing ids, at most 255, no cycle; ``method`` one of GET,
POST, PUT, PATCH, DELETE; at most 50 headers with names unique case-insensitively; ``body``
valid JSON; and every ``{operationIdResponse:N}`` naming an existing POST operation that the
referencing operation depends on, directly or through other operations (otherwise the id it
names cannot exist yet when the operation runs).

What is *not* checked here, because Adobe reports it on the one operation and not on the batch:
a ``relativeUrl`` without a leading ``/`` (a 404 result) and a query string that is not
URL-encoded (a 400 result); ``cible.batch.urls`` handles those when the operation runs.

The module is pure: JSON in, ``Batch`` or ``BadRequest`` out.

>>> batch = parse_batch({"operations": [
...     {"operationId": 0, "method": "POST", "relativeUrl": "/offers/content",
...      "body": {"name": "a", "content": "b"}},
...     {"operationId": 1, "method": "GET", "dependsOnOperationIds": [0],
...      "relativeUrl": "/offers/content/{operationIdResponse:0}"}]})
>>> [op.operation_id for op in batch.operations]
[0, 1]
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from cible.errors import BadRequest

MAX_OPERATIONS = 256
MAX_OPERATION_ID = 255
MAX_DEPENDENCIES = 255
MAX_HEADERS = 50
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Adobe's batch reference: the body "will be ignored for all actions except POST and PUT";
# PATCH carries a body on every Admin API route that serves it (audiences), so it keeps its own.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

REFERENCE = re.compile(r"\{operationIdResponse:(\d+)\}")
# Anything that looks like a reference but is not spelled as one, e.g. "{operationIdResponse: 0}".
NEAR_REFERENCE = re.compile(r"\{\s*operationIdResponse[^}]*\}?", re.IGNORECASE)
# RFC 9110 section 5.6.2: a header name is a token; a value holds no control character but tab.
HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
HEADER_VALUE = re.compile(r"^[^\x00-\x08\x0a-\x1f\x7f]*$")
# Headers that describe the HTTP message itself; the batch sets them for each operation.
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "host", "connection"})

OPERATION_FIELDS = frozenset(
    {"operationId", "dependsOnOperationIds", "method", "relativeUrl", "headers", "body"}
)


@dataclass(frozen=True)
class Operation:
    """One validated operation; ``body`` is the decoded JSON value, None when not sent."""

    operation_id: int
    depends_on: tuple[int, ...]
    method: str
    relative_url: str
    headers: tuple[tuple[str, str], ...]
    body: Any

    def references(self) -> set[int]:
        """Operation ids named by ``{operationIdResponse:N}`` in the URL or the body."""
        return {int(n) for text in self._texts() for n in REFERENCE.findall(text)}

    def _texts(self) -> Iterator[str]:
        yield self.relative_url
        yield from _strings(self.body)


@dataclass(frozen=True)
class Batch:
    """Operations in the order they came; ``by_id`` maps each operationId to its operation."""

    operations: tuple[Operation, ...]

    @property
    def by_id(self) -> dict[int, Operation]:
        return {op.operation_id: op for op in self.operations}


Problems = list[tuple[str, str]]


def parse_batch(data: Any) -> Batch:
    """The batch in ``data`` (decoded JSON), or ``BadRequest`` listing every problem."""
    problems: Problems = []
    raw_ops = _operations_list(data, problems)
    operations: list[Operation | None] = [
        _operation(f"operations[{i}]", raw, problems) for i, raw in enumerate(raw_ops)
    ]
    _check_ids(operations, problems)
    valid = [op for op in operations if op is not None]
    known = {op.operation_id for op in valid}
    index = {op.operation_id: i for i, op in enumerate(operations) if op is not None}
    for i, op in enumerate(operations):
        if op is not None:
            _check_dependencies(f"operations[{i}]", op, known, problems)
    graph = {op.operation_id: [d for d in op.depends_on if d in known] for op in valid}
    for cycle in find_cycles(graph):
        path = " -> ".join(str(n) for n in cycle)
        problems.append(
            (f"operations[{index[cycle[0]]}].dependsOnOperationIds", f"dependency cycle {path}")
        )
    by_id = {op.operation_id: op for op in valid}
    for i, op in enumerate(operations):
        if op is not None:
            _check_references(f"operations[{i}]", op, by_id, graph, problems)
    if problems:
        raise BadRequest.fields(problems)
    return Batch(tuple(valid))


def _operations_list(data: Any, problems: Problems) -> list[Any]:
    if not isinstance(data, dict):
        problems.append(("body", "must be a JSON object with an operations array"))
        return []
    for key in sorted(set(data) - {"operations"}):
        problems.append((key, "unknown field"))
    ops = data.get("operations")
    if not isinstance(ops, list):
        problems.append(("operations", "is required and must be an array"))
        return []
    if not ops:
        problems.append(("operations", "must hold at least 1 operation"))
    elif len(ops) > MAX_OPERATIONS:
        problems.append(
            ("operations", f"must hold at most {MAX_OPERATIONS} operations, got {len(ops)}")
        )
    return ops


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _operation(path: str, raw: Any, problems: Problems) -> Operation | None:
    """The operation at ``path``, or None when its id is unusable (other problems are noted)."""
    if not isinstance(raw, dict):
        problems.append((path, "must be an object"))
        return None
    for key in sorted(set(raw) - OPERATION_FIELDS):
        problems.append((f"{path}.{key}", "unknown field"))
    op_id: Any = raw.get("operationId")
    usable_id = _is_int(op_id) and 0 <= op_id <= MAX_OPERATION_ID
    if not _is_int(op_id):
        problems.append((f"{path}.operationId", "is required and must be an integer"))
    elif not usable_id:
        problems.append(
            (f"{path}.operationId", f"must be between 0 and {MAX_OPERATION_ID}, got {op_id}")
        )
    depends = _dependencies(path, raw.get("dependsOnOperationIds", []), problems)
    method = _method(path, raw.get("method"), problems)
    url = raw.get("relativeUrl")
    if not isinstance(url, str) or not url:
        problems.append((f"{path}.relativeUrl", "is required and must be a non-empty string"))
        url = ""
    headers = _headers(path, raw.get("headers", []), problems)
    body = _body(path, raw, problems)
    if not usable_id:
        return None
    return Operation(op_id, depends, method, url, headers, body)


def _dependencies(path: str, raw: Any, problems: Problems) -> tuple[int, ...]:
    where = f"{path}.dependsOnOperationIds"
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(_is_int(d) for d in raw):
        problems.append((where, "must be an array of operation ids"))
        return ()
    if len(raw) > MAX_DEPENDENCIES:
        problems.append((where, f"must hold at most {MAX_DEPENDENCIES} ids, got {len(raw)}"))
    repeated = sorted({d for d in raw if raw.count(d) > 1})
    if repeated:
        problems.append((where, f"must hold unique ids; repeated: {_ids(repeated)}"))
    return tuple(dict.fromkeys(raw))


def _method(path: str, raw: Any, problems: Problems) -> str:
    method = raw.upper() if isinstance(raw, str) else ""
    if method not in METHODS:
        shown = repr(raw) if raw is not None else "nothing"
        problems.append((f"{path}.method", f"must be one of {', '.join(METHODS)}; got {shown}"))
    return method


def _headers(path: str, raw: Any, problems: Problems) -> tuple[tuple[str, str], ...]:
    where = f"{path}.headers"
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append((where, "must be an array of {name, value} objects"))
        return ()
    if len(raw) > MAX_HEADERS:
        problems.append((where, f"must hold at most {MAX_HEADERS} headers, got {len(raw)}"))
    headers: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for j, item in enumerate(raw):
        at = f"{where}[{j}]"
        if not isinstance(item, dict) or set(item) - {"name", "value"}:
            problems.append((at, "must be an object with only name and value"))
            continue
        name, value = item.get("name"), item.get("value", "")
        if not isinstance(name, str) or not HEADER_NAME.match(name):
            problems.append((f"{at}.name", "is required and must be an HTTP header name"))
            continue
        if not isinstance(value, str) or not HEADER_VALUE.match(value):
            problems.append((f"{at}.value", "must be a string without control characters"))
            continue
        folded = name.lower()
        if folded in FRAMING_HEADERS:
            problems.append((f"{at}.name", f"{name} is set by the batch and cannot be given"))
        elif folded in seen:
            first = seen[folded]
            problems.append(
                (
                    f"{at}.name",
                    f"duplicates header {raw[first]['name']!r} of headers[{first}] "
                    "(header names are case-insensitive)",
                )
            )
        else:
            seen[folded] = j
            headers.append((name, value))
    return tuple(headers)


def _body(path: str, raw: dict[str, Any], problems: Problems) -> Any:
    """The body as a JSON value.

    Adobe's spec types ``body`` as a string holding JSON while its sample sends an object; both
    are accepted, a string being decoded as JSON text (send ``"\\"text\\""`` for a JSON string).
    """
    if "body" not in raw:
        return None
    body = raw["body"]
    if isinstance(body, str):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            problems.append((f"{path}.body", f"must be valid JSON ({exc.msg})"))
            return None
    return body


def _check_ids(operations: list[Operation | None], problems: Problems) -> None:
    first: dict[int, int] = {}
    for i, op in enumerate(operations):
        if op is None:
            continue
        if op.operation_id in first:
            problems.append(
                (
                    f"operations[{i}].operationId",
                    f"operationId {op.operation_id} is already used by "
                    f"operations[{first[op.operation_id]}]",
                )
            )
        else:
            first[op.operation_id] = i


def _check_dependencies(path: str, op: Operation, known: set[int], problems: Problems) -> None:
    missing = [d for d in op.depends_on if d not in known]
    if missing:
        problems.append(
            (f"{path}.dependsOnOperationIds", f"names no operation of this batch: {_ids(missing)}")
        )


def find_cycles(graph: dict[int, list[int]]) -> list[list[int]]:
    """Each dependency cycle once, as a path from its smallest id back to it.

    ``graph`` maps an operation to those it depends on, so ``[0, 2, 1, 0]`` reads "0 depends on
    2, which depends on 1, which depends on 0". Found by depth-first search: an edge back to an
    operation still on the stack closes a cycle.
    """
    cycles: dict[tuple[int, ...], list[int]] = {}
    state: dict[int, int] = {}  # 1 = on the stack, 2 = done
    for root in sorted(graph):
        if root in state:
            continue
        stack: list[tuple[int, Iterator[int]]] = [(root, iter(sorted(graph[root])))]
        path = [root]
        state[root] = 1
        while stack:
            node, edges = stack[-1]
            nxt = next(edges, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(nxt) == 1:
                loop = path[path.index(nxt) :]
                start = loop.index(min(loop))
                rotated = loop[start:] + loop[:start]
                cycles.setdefault(tuple(rotated), [*rotated, rotated[0]])
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(sorted(graph[nxt]))))
                path.append(nxt)
    return [cycles[key] for key in sorted(cycles)]


def ancestors(graph: dict[int, list[int]], start: int) -> set[int]:
    """Every operation ``start`` depends on, directly or transitively."""
    seen: set[int] = set()
    todo = list(graph.get(start, []))
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, []))
    return seen


def _check_references(
    path: str,
    op: Operation,
    by_id: dict[int, Operation],
    graph: dict[int, list[int]],
    problems: Problems,
) -> None:
    fields = [("relativeUrl", [op.relative_url]), ("body", list(_strings(op.body)))]
    upstream = ancestors(graph, op.operation_id)
    for name, texts in fields:
        where = f"{path}.{name}"
        for text in texts:
            for near in NEAR_REFERENCE.findall(text):
                if not REFERENCE.fullmatch(near):
                    problems.append(
                        (where, f"{near!r} is not a reference; write {{operationIdResponse:N}}")
                    )
        for n in sorted({int(m) for text in texts for m in REFERENCE.findall(text)}):
            target = by_id.get(n)
            if target is None:
                problems.append((where, f"{{operationIdResponse:{n}}} names no operation"))
            elif target.method != "POST":
                problems.append(
                    (
                        where,
                        f"{{operationIdResponse:{n}}} names "
                        + (f"a {target.method}" if target.method else "an invalid")
                        + " operation; only a POST operation creates an id",
                    )
                )
            elif n not in upstream:
                problems.append(
                    (
                        where,
                        f"{{operationIdResponse:{n}}} needs operation {n} in "
                        "dependsOnOperationIds (directly or through another operation)",
                    )
                )


def _strings(value: Any) -> Iterator[str]:
    """Every string value inside a JSON value (object keys excluded)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _ids(values: list[int]) -> str:
    return ", ".join(str(v) for v in values)
