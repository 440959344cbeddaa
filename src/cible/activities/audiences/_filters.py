"""The field filters of ``GET /audiences``: several values, negation and date ranges.

Adobe's Admin API reference shows, for list routes, ``?id=3&id=4`` (several values),
``?priority=!4`` (negation) and ``?startsAt=<ISO>/<ISO>`` (a range). For audiences:

- ``id`` and ``workspace`` take integers, repeated or comma-separated; any plain value matches,
  and ``!N`` excludes N (``?id=!3,!4`` lists every audience but 3 and 4);
- ``name`` matches a part of the name, ignoring case; ``!text`` excludes names containing it;
- ``modifiedAt`` and ``createdAt`` take ``<ISO>/<ISO>``, either side may be empty
  (``2024-03-01/`` = from that day on), both ends included.

A malformed value is a 400 naming the filter, never an empty list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, not_, or_

from cible.activities.abxt._dates import parse_date
from cible.activities.audiences.tables import Audience
from cible.errors import BadRequest

Problems = list[tuple[str, str]]


def values(params: Mapping[str, Sequence[str]], name: str) -> list[str]:
    """A filter's values: repeated (``?id=1&id=2``) or comma-separated (``?id=1,2``)."""
    return [v.strip() for raw in params.get(name, ()) for v in raw.split(",") if v.strip()]


def _split(raw: list[str]) -> tuple[list[str], list[str]]:
    wanted = [v for v in raw if not v.startswith("!")]
    unwanted = [v[1:].strip() for v in raw if v.startswith("!") and v[1:].strip()]
    return wanted, unwanted


def _ints(column: Any, name: str, raw: list[str], problems: Problems) -> list[ColumnElement[bool]]:
    wanted, unwanted = _split(raw)
    if not all(v.isdigit() for v in wanted + unwanted) or any(v == "!" for v in raw):
        problems.append((name, "must be integers, optionally negated, e.g. 12,13 or !12"))
        return []
    where: list[ColumnElement[bool]] = []
    if wanted:
        where.append(column.in_([int(v) for v in wanted]))
    if unwanted:
        where.append(not_(column.in_([int(v) for v in unwanted])))
    return where


def _names(raw: list[str]) -> list[ColumnElement[bool]]:
    wanted, unwanted = _split(raw)
    lowered = func.lower(Audience.name)
    where: list[ColumnElement[bool]] = []
    if wanted:
        where.append(or_(*[lowered.contains(n.lower(), autoescape=True) for n in wanted]))
    where += [not_(lowered.contains(n.lower(), autoescape=True)) for n in unwanted]
    return where


def _range(
    column: Any, name: str, params: Mapping[str, Sequence[str]], problems: Problems
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    for raw in params.get(name, ()):
        start, sep, end = raw.partition("/")
        if not sep:
            problems.append((name, "use <ISO date-time>/<ISO date-time>; either side may be empty"))
            continue
        try:
            if start.strip():
                where.append(column >= parse_date(start))
            if end.strip():
                where.append(column <= parse_date(end))
        except ValueError as exc:
            problems.append((name, str(exc)))
    return where


def where(params: Mapping[str, Sequence[str]]) -> list[ColumnElement[bool]]:
    """SQL conditions for ``id``, ``workspace``, ``name``, ``modifiedAt`` and ``createdAt``."""
    problems: Problems = []
    conditions = _ints(Audience.id, "id", values(params, "id"), problems)
    conditions += _ints(Audience.workspace_id, "workspace", values(params, "workspace"), problems)
    conditions += _names(values(params, "name"))
    conditions += _range(Audience.modified_at, "modifiedAt", params, problems)
    conditions += _range(Audience.created_at, "createdAt", params, problems)
    if problems:
        raise BadRequest.fields(problems)
    return conditions
