"""Core statements rendered once per dialect and run on the driver's cursor.

The delivery hot path runs a handful of statements per request inside the group commit;
SQLAlchemy's per-execution bookkeeping (compiled-cache lookup, result setup, events) costs more
than the statements themselves there. ``Prepared`` keeps what SQLAlchemy computes once — the SQL
text in the driver's parameter style, the order of positional parameters, each parameter's bind
processor (``UTCDateTime`` and the like) — and hands rows straight to the DBAPI cursor, inside the
transaction the caller's ``Connection`` holds.

>>> statement = Prepared(select(Profile.version).where(Profile.id == bindparam("b_id")))
>>> statement.execute(conn, {"b_id": 7}).fetchone()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["Prepared"]


@dataclass(frozen=True)
class _Rendered:
    sql: str
    positions: tuple[str, ...] | None  # bind names in order, for positional paramstyles
    processors: tuple[tuple[str, Callable[[Any], Any]], ...]


class Prepared:
    """One statement, rendered per dialect on first use."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._rendered: dict[str, _Rendered] = {}

    def _render(self, dialect: Dialect) -> _Rendered:
        rendered = self._rendered.get(dialect.name)
        if rendered is None:
            compiled = self.statement.compile(dialect=dialect)
            assert isinstance(compiled, SQLCompiler)
            processors = []
            for name, bind in compiled.binds.items():
                processor = bind.type._cached_bind_processor(dialect)
                if processor is not None:
                    processors.append((name, processor))
            positions = compiled.positiontup
            rendered = _Rendered(
                str(compiled), tuple(positions) if positions else None, tuple(processors)
            )
            self._rendered[dialect.name] = rendered
        return rendered

    def _row(self, rendered: _Rendered, params: Mapping[str, Any]) -> Any:
        if rendered.processors:
            values = dict(params)
            for name, processor in rendered.processors:
                if name in values:
                    values[name] = processor(values[name])
            params = values
        if rendered.positions is None:
            return params
        return tuple(params[name] for name in rendered.positions)

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """Runs the statement once; the DBAPI cursor (``rowcount``, ``fetchone``)."""
        rendered = self._render(conn.dialect)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(rendered.sql, self._row(rendered, params))
        return cursor

    def executemany(self, conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        """Runs the statement for every row (one driver call)."""
        rendered = self._render(conn.dialect)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(rendered.sql, [self._row(rendered, row) for row in rows])
        finally:
            cursor.close()
