"""``POST /catalogsearch``: find entities of one environment by attribute (Adobe Recommendations
API, "Catalog search").

A query is ``simple`` (``queryFields``, ``operator``, ``matchValue``) or ``compound``
(``joinOperator`` AND/OR over nested ``filters``). Numeric operators compare numbers; string
operators compare case-insensitively. On a field with several values (categories, multi-value
attributes) a positive operator needs one value to pass and a negative one (``ne``,
``notcontains``) needs all of them, as Adobe's rules on multi-value attributes do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cible.errors import BadRequest, NotFound
from cible.recs.access import require_read
from cible.recs.catalog import environment_of, row_entity
from cible.recs.entities import Entity, Rejected
from cible.recs.tables import RecsEntity
from cible.tenants.principal import Principal

__all__ = ["Matcher", "compile_query", "search"]

Matcher = Callable[[Entity], bool]
LIMIT_MAX = 500
DEPTH_MAX = 10
NUMERIC_OPS = ("lt", "le", "eq", "ge", "gt", "ne")
STRING_OPS = ("contains", "notcontains", "startswith", "endswith")
PRESENCE_OPS = ("present", "absent")
NEGATIVE = ("ne", "notcontains")


def _values(entity: Entity, name: str) -> list[Any]:
    value = entity.get(name)
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, list) else [value]


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _test(op: str, value: Any, target: Any) -> bool:
    if op in STRING_OPS:
        text, wanted = str(value).casefold(), str(target).casefold()
        return {
            "contains": wanted in text,
            "notcontains": wanted not in text,
            "startswith": text.startswith(wanted),
            "endswith": text.endswith(wanted),
        }[op]
    left, right = _as_float(value), _as_float(target)
    if left is None or right is None:
        if op in ("eq", "ne"):
            equal = str(value).casefold() == str(target).casefold()
            return equal if op == "eq" else not equal
        return False  # numeric operators skip values that are not numbers (Adobe)
    return {
        "lt": left < right,
        "le": left <= right,
        "eq": left == right,
        "ge": left >= right,
        "gt": left > right,
        "ne": left != right,
    }[op]


def _simple(query: dict[str, Any], where: str) -> Matcher:
    fields = query.get("queryFields", ["id"])
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
        raise BadRequest.fields([(f"{where}.queryFields", "must be a non-empty list of names")])
    op = query.get("operator", "eq")
    if op not in (*NUMERIC_OPS, *STRING_OPS, *PRESENCE_OPS):
        allowed = ", ".join((*NUMERIC_OPS, *STRING_OPS, *PRESENCE_OPS))
        raise BadRequest.fields([(f"{where}.operator", f"must be one of {allowed}")])
    if op in PRESENCE_OPS:
        present = op == "present"
        return lambda e: any(bool(_values(e, f)) for f in fields) == present
    target = query.get("matchValue")
    if isinstance(target, bool) or not isinstance(target, str | int | float):
        raise BadRequest.fields([(f"{where}.matchValue", "must be a string or a number")])

    def match(entity: Entity) -> bool:
        for name in fields:
            values = _values(entity, name)
            if op in NEGATIVE:
                if all(_test(op, v, target) for v in values):
                    return True
            elif any(_test(op, v, target) for v in values):
                return True
        return False

    return match


def compile_query(query: Any, where: str = "query", depth: int = 0) -> Matcher:
    """A predicate over entities for ``query``; 400 naming the first bad part."""
    if not isinstance(query, dict):
        raise BadRequest.fields([(where, "must be a JSON object")])
    if depth > DEPTH_MAX:
        raise BadRequest.fields([(where, f"nests more than {DEPTH_MAX} levels")])
    kind = query.get("type", "simple")
    if kind == "simple":
        return _simple(query, where)
    if kind != "compound":
        raise BadRequest.fields([(f"{where}.type", "must be simple or compound")])
    join = query.get("joinOperator", "AND")
    if join not in ("AND", "OR"):
        raise BadRequest.fields([(f"{where}.joinOperator", "must be AND or OR")])
    filters = query.get("filters")
    if not isinstance(filters, list) or not filters:
        raise BadRequest.fields([(f"{where}.filters", "must be a non-empty list")])
    parts = [compile_query(f, f"{where}.filters[{i}]", depth + 1) for i, f in enumerate(filters)]
    if join == "AND":
        return lambda e: all(p(e) for p in parts)
    return lambda e: any(p(e) for p in parts)


def _int(meta: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = meta.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest.fields([(f"meta.{name}", f"must be an integer from {low} to {high}")])
    return value


def search(session: Session, principal: Principal, body: Any) -> dict[str, Any]:
    require_read(principal)
    started = time.perf_counter()
    if not isinstance(body, dict) or not isinstance(body.get("meta"), dict):
        raise BadRequest.fields([("meta", "is required (an object with environmentId)")])
    meta: dict[str, Any] = body["meta"]
    if "environmentId" not in meta:
        raise BadRequest.fields([("meta.environmentId", "is required")])
    environment = _int(meta, "environmentId", 0, -(2**63), 2**63 - 1)
    limit = _int(meta, "limit", 10, 1, LIMIT_MAX)
    start = _int(meta, "start", 1, 1, 2**31 - 1)
    display = meta.get("displayFields", ["id"])
    if not isinstance(display, list) or not all(isinstance(f, str) for f in display):
        raise BadRequest.fields([("meta.displayFields", "must be a list of attribute names")])
    matcher = compile_query(body["query"]) if body.get("query") is not None else None
    conn = session.connection()
    try:
        env_id = environment_of(conn, principal.tenant_id, environment)
    except Rejected as rejected:
        raise NotFound(rejected.text) from None
    t = RecsEntity.__table__
    rows = conn.execute(
        select(t)
        .where(t.c.tenant_id == principal.tenant_id, t.c.environment_id == env_id)
        .order_by(t.c.id)
        .execution_options(yield_per=1000)
    )
    hits: list[dict[str, Any]] = []
    skip = start - 1
    for row in rows:
        entity = row_entity(row)
        if matcher is not None and not matcher(entity):
            continue
        if skip:
            skip -= 1
            continue
        hit: dict[str, Any] = {"id": entity.id, "category": list(entity.categories)}
        for name in display:
            if name not in ("id", "category"):
                hit[name] = entity.get(name)
        hits.append(hit)
        if len(hits) >= limit:
            break
    rows.close()
    return {"timeMs": round((time.perf_counter() - started) * 1000), "start": start, "hits": hits}
