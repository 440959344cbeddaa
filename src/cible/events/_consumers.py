"""Consumers: what turns the log into tables, one batch per transaction.

A consumer's offset is stored in the same transaction as what its ``apply`` wrote, so a crash
either keeps both or neither; after :func:`reset` a consumer applies records again, so ``apply``
must be idempotent (upserts keyed by the record's ``key``). Domains register consumers in a
``cible.<domain>.consumers`` module, found by :func:`load_consumers` the way job handlers are
(docs/events.md, "Consumers").
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Connection, Engine, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from cible.events._log import StoredRecord, now_ms
from cible.events.tables import event_consumers, event_log
from cible.store import Database


@runtime_checkable
class Consumer(Protocol):
    """Applies records of ``topics`` to the database, idempotently.

    ``name`` and ``topics`` may be plain attributes; they are read-only here so that frozen
    dataclasses satisfy the protocol too.
    """

    @property
    def name(self) -> str: ...

    @property
    def topics(self) -> frozenset[str]: ...

    def apply(self, conn: Connection, records: Sequence[StoredRecord]) -> None: ...


Apply = Callable[[Connection, Sequence[StoredRecord]], None]


@dataclass(frozen=True)
class FunctionConsumer:
    """A consumer made of a plain ``apply`` function (see :func:`consumer`)."""

    name: str
    topics: frozenset[str]
    function: Apply

    def apply(self, conn: Connection, records: Sequence[StoredRecord]) -> None:
        self.function(conn, records)


CONSUMERS: dict[str, Consumer] = {}


def register(consumer: Consumer) -> Consumer:
    """Adds ``consumer`` to the registry that the runner, :func:`drain` and compaction use."""
    if not consumer.name or len(consumer.name) > 100:
        raise ValueError("a consumer name has 1 to 100 characters")
    known = CONSUMERS.get(consumer.name)
    if known is not None and known is not consumer:
        raise ValueError(f"consumer {consumer.name!r} is registered twice")
    CONSUMERS[consumer.name] = consumer
    return consumer


def consumer(name: str, topics: Iterable[str]) -> Callable[[Apply], Apply]:
    """Registers the decorated ``apply(conn, records)`` function as consumer ``name``.

    >>> @consumer("reports.delivery", topics={"delivery"})
    ... def apply(conn: Connection, records: Sequence[StoredRecord]) -> None: ...
    """

    def decorate(function: Apply) -> Apply:
        register(FunctionConsumer(name, frozenset(topics), function))
        return function

    return decorate


_loaded = threading.Lock()
_scanned: list[bool] = []


def load_consumers() -> dict[str, Consumer]:
    """Imports every ``cible.*.consumers`` module (once per process) and returns the registry."""
    if not _scanned:
        with _loaded:
            if not _scanned:
                import cible

                for module in pkgutil.walk_packages(cible.__path__, "cible."):
                    if module.name.rsplit(".", 1)[-1] == "consumers":
                        importlib.import_module(module.name)
                _scanned.append(True)
    return CONSUMERS


def as_engine(target: Engine | Database) -> Engine:
    return target.engine if isinstance(target, Database) else target


def chosen_consumers(consumers: Iterable[Consumer] | None) -> list[Consumer]:
    return list(load_consumers().values() if consumers is None else consumers)


_CLAIM = (
    update(event_consumers)
    .where(event_consumers.c.name == bindparam("b_name"))
    .values(updated_ms=bindparam("b_now"))
    .returning(event_consumers.c.offset)
)
_CREATE = {
    "sqlite": sqlite.insert(event_consumers).on_conflict_do_nothing(),
    "postgresql": postgresql.insert(event_consumers).on_conflict_do_nothing(),
}
_HIGH = select(func.max(event_log.c.offset))
_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}  # sqlite3, psycopg


@functools.cache
def _batch_sql(style: str, topics: int) -> str:
    mark = _MARKS[style]
    return (
        'SELECT "offset", topic, tenant_id, "key", payload, created_ms FROM event_log '
        f'WHERE "offset" > {mark} AND "offset" <= {mark} '
        f"AND topic IN ({', '.join([mark] * topics)}) "
        f'ORDER BY "offset" LIMIT {mark}'
    )


_STORE = (
    update(event_consumers)
    .where(event_consumers.c.name == bindparam("b_name"))
    .values(offset=bindparam("b_offset"), updated_ms=bindparam("b_now"))
)
OFFSETS = select(event_consumers.c.name, event_consumers.c.offset)
_PENDING = select(func.count()).where(
    event_log.c.offset > bindparam("after"),
    event_log.c.topic.in_(bindparam("topics", expanding=True)),
)


def _claim(conn: Connection, name: str, now: int) -> int:
    """The consumer's stored offset, its row locked (and created at 0 the first time).

    An UPDATE first: on SQLite it takes the write lock before anything is read, so the
    transaction never has to upgrade a read snapshot (which fails at once when another writer
    committed meanwhile); on PostgreSQL it locks the row, so two runners of one consumer on
    different hosts take turns instead of applying the same batch twice.
    """
    offset = conn.execute(_CLAIM, {"b_name": name, "b_now": now}).scalar()
    if offset is None:
        conn.execute(_CREATE[conn.dialect.name], {"name": name, "offset": 0, "updated_ms": now})
        offset = conn.execute(_CLAIM, {"b_name": name, "b_now": now}).scalar_one()
    return int(offset)


def step(engine: Engine, consumer: Consumer, batch_size: int) -> tuple[int, bool]:
    """Applies the next batch in a transaction of its own; see :func:`apply_next`."""
    with engine.begin() as conn:
        return apply_next(conn, consumer, batch_size)


def apply_next(conn: Connection, consumer: Consumer, batch_size: int) -> tuple[int, bool]:
    """Applies ``consumer``'s next batch and stores its offset in ``conn``'s transaction.

    Returns (records applied, whether the offset moved).
    """
    now = now_ms()
    after = _claim(conn, consumer.name, now)
    # The highest offset is read BEFORE the batch: every record at or below it has committed
    # (offsets are in commit order), so the offset may move up to it even when the last records
    # are other topics'.
    high = conn.execute(_HIGH).scalar()
    if high is None or high <= after:
        return 0, False
    rows: Sequence[Any] = ()
    if consumer.topics:
        # Read straight from the driver: the batch is up to thousands of rows, and SQLAlchemy's
        # per-row processing cost more than the read itself (benchmarks/event_log.py).
        topics = sorted(consumer.topics)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(
                _batch_sql(conn.dialect.paramstyle, len(topics)),
                [after, high, *topics, batch_size],
            )
            rows = cursor.fetchall()
        finally:
            cursor.close()
    new_offset = rows[-1][0] if len(rows) == batch_size else high
    if rows:
        consumer.apply(conn, [StoredRecord(*row) for row in rows])
    conn.execute(_STORE, {"b_name": consumer.name, "b_offset": new_offset, "b_now": now})
    return len(rows), True


def run_once(engine: Engine | Database, consumer: Consumer, batch_size: int = 5000) -> int:
    """Applies ``consumer``'s next batch and stores its new offset in the same transaction.

    Returns the number of records applied (records of other topics are passed over).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    return step(as_engine(engine), consumer, batch_size)[0]


def reset(engine: Engine | Database, name: str, offset: int) -> None:
    """Sets consumer ``name`` back (or forward) to ``offset``: it applies what follows again."""
    if offset < 0:
        raise ValueError("an offset is zero or more")
    with as_engine(engine).begin() as conn:
        now = now_ms()
        _claim(conn, name, now)
        conn.execute(_STORE, {"b_name": name, "b_offset": offset, "b_now": now})


def forget(engine: Engine | Database, name: str) -> None:
    """Removes a retired consumer's offset, so it no longer holds back compaction."""
    with as_engine(engine).begin() as conn:
        conn.execute(event_consumers.delete().where(event_consumers.c.name == name))


def offsets(engine: Engine | Database) -> dict[str, int]:
    """Every stored consumer offset, by consumer name."""
    with as_engine(engine).connect() as conn:
        return {name: int(offset) for name, offset in conn.execute(OFFSETS)}


def drain(
    engine_or_database: Engine | Database,
    timeout: float = 30,
    *,
    consumers: Iterable[Consumer] | None = None,
    batch_size: int = 5000,
) -> None:
    """Runs every consumer (the registered ones by default) until none has records left.

    Raises ``TimeoutError`` if they still have work after ``timeout`` seconds, and whatever a
    consumer's ``apply`` raised.
    """
    engine = as_engine(engine_or_database)
    chosen = chosen_consumers(consumers)
    deadline = time.monotonic() + timeout
    while True:
        moved = False
        for each in behind(engine, chosen):
            moved = step(engine, each, batch_size)[1] or moved
        if not moved:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"event consumers still had records after {timeout:g} s")


def lag(
    engine: Engine | Database, *, consumers: Iterable[Consumer] | None = None
) -> dict[str, int]:
    """Records of its topics that each consumer has not applied yet, by consumer name."""
    chosen = chosen_consumers(consumers)
    with as_engine(engine).connect() as conn:
        stored = {name: int(offset) for name, offset in conn.execute(OFFSETS)}
        result: dict[str, int] = {}
        for each in chosen:
            if not each.topics:
                result[each.name] = 0
                continue
            params = {"after": stored.get(each.name, 0), "topics": sorted(each.topics)}
            result[each.name] = int(conn.execute(_PENDING, params).scalar_one())
    return result


def behind(engine: Engine, chosen: Sequence[Consumer]) -> list[Consumer]:
    """The consumers whose offset is below the log's last offset (one cheap read)."""
    with engine.connect() as conn:
        high = conn.execute(_HIGH).scalar()
        if high is None:
            return []
        stored = {name: int(offset) for name, offset in conn.execute(OFFSETS)}
    return [each for each in chosen if stored.get(each.name, 0) < high]
