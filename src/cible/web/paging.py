"""Paging and sorting of every Admin API list: ``offset``, ``limit``, ``sortBy``.

Adobe's lists default ``limit`` to 2147483647 and its own client sends none; Cible accepts any
limit up to that, clamps it to ``max_page_size`` and echoes the limit applied, so a client can
see it must page. ``sortBy`` takes ``field`` or ``-field``, comma-separated or repeated. The parsed
``Page`` is a ``cible.store`` value, so services page without importing the web layer.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import QueryParams

from cible.errors import BadRequest
from cible.store.paging import Page

__all__ = ["MAX_LIMIT", "Page", "parse_page"]

MAX_LIMIT = 2_147_483_647


def _int_param(
    params: QueryParams, name: str, default: int, problems: list[tuple[str, str]]
) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        problems.append((name, "must be an integer"))
        return default
    if not 0 <= value <= MAX_LIMIT:
        problems.append((name, f"must be between 0 and {MAX_LIMIT}"))
    return value


def parse_page(
    params: QueryParams,
    *,
    sortable: Mapping[str, object],
    default_limit: int,
    max_limit: int,
    default_sort: str = "id",
) -> Page:
    """Validated paging parameters; every problem is reported at once as a 400."""
    problems: list[tuple[str, str]] = []
    offset = _int_param(params, "offset", 0, problems)
    limit = _int_param(params, "limit", default_limit, problems)
    if "limit" in params and limit == 0:
        problems.append(("limit", "must be at least 1"))
    sort: list[tuple[str, bool]] = []
    for raw in params.getlist("sortBy"):
        for part in raw.split(","):
            name = part.strip()
            if not name:
                continue
            descending = name.startswith("-")
            field = name.lstrip("-+")
            if field not in sortable:
                allowed = ", ".join(sorted(sortable))
                problems.append(("sortBy", f"cannot sort by {field!r}; use one of {allowed}"))
            sort.append((field, descending))
    if problems:
        raise BadRequest.fields(problems)
    if not sort:
        sort = [(default_sort, False)]
    return Page(offset=offset, limit=min(limit, max_limit), sort=tuple(sort))
