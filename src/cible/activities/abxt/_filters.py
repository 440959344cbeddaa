"""The filters of ``GET /activities``, parsed from the query into SQL conditions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, not_, or_

from cible.activities.abxt._dates import parse_date
from cible.activities.abxt.tables import Activity
from cible.errors import BadRequest

STATES = ("saved", "approved", "deactivated", "deleted")
TYPES = ("ab", "xt")


def _values(params: Mapping[str, Sequence[str]], name: str) -> list[str]:
    return [v.strip() for raw in params.get(name, ()) for v in raw.split(",") if v.strip()]


def _int_filter(
    column: Any, name: str, raw: list[str], problems: list[tuple[str, str]]
) -> list[ColumnElement[bool]]:
    wanted: list[int] = []
    unwanted: list[int] = []
    for value in raw:
        negated = value.startswith("!")
        try:
            number = int(value.lstrip("!"))
        except ValueError:
            problems.append((name, f"{value!r} is not an integer"))
            continue
        (unwanted if negated else wanted).append(number)
    where: list[ColumnElement[bool]] = []
    if wanted:
        where.append(column.in_(wanted))
    if unwanted:
        where.append(not_(column.in_(unwanted)))
    return where


def where(params: Mapping[str, Sequence[str]]) -> list[ColumnElement[bool]]:
    """``?name=&state=&type=&priority=&id=&thirdPartyId=&workspace=&modifiedAt=<ISO>/<ISO>``.

    Several values (repeated or comma-separated) are alternatives; ``priority`` and ``id`` take
    ``!N`` to exclude. ``name`` matches a part of the name, ignoring case. Deleted activities are
    listed only when ``state`` asks for them.
    """
    problems: list[tuple[str, str]] = []
    where: list[ColumnElement[bool]] = []
    names = _values(params, "name")
    if names:
        where.append(or_(*(func.lower(Activity.name).contains(n.lower()) for n in names)))
    states = _values(params, "state")
    for state in states:
        if state not in STATES:
            problems.append(("state", f"{state!r} is not one of {', '.join(STATES)}"))
    where.append(Activity.state.in_(states) if states else Activity.state != "deleted")
    types = _values(params, "type")
    for kind in types:
        if kind not in TYPES:
            problems.append(("type", f"{kind!r} is not one of {', '.join(TYPES)}"))
    if types:
        where.append(Activity.type.in_(types))
    where += _int_filter(Activity.priority, "priority", _values(params, "priority"), problems)
    where += _int_filter(Activity.id, "id", _values(params, "id"), problems)
    where += _int_filter(Activity.workspace_id, "workspace", _values(params, "workspace"), problems)
    third = _values(params, "thirdPartyId")
    if third:
        where.append(Activity.third_party_id.in_(third))
    for raw in params.get("modifiedAt", ()):
        start, sep, end = raw.partition("/")
        if not sep:
            problems.append(("modifiedAt", "use <ISO date-time>/<ISO date-time>"))
            continue
        try:
            if start.strip():
                where.append(Activity.modified_at >= parse_date(start))
            if end.strip():
                where.append(Activity.modified_at <= parse_date(end))
        except ValueError as exc:
            problems.append(("modifiedAt", str(exc)))
    if problems:
        raise BadRequest.fields(problems)
    return where
