"""Group commit: many requests' writes share one durable transaction.

A commit that waits for the disk costs milliseconds, so a request path that committed once per
request would be bounded by the disk. One writer thread owning one connection takes every unit of
work queued while it was busy, runs them in one transaction (a unit that raises fails alone),
and commits them all at once; each caller's future resolves only after that COMMIT returned, so a
request answers once its writes are durable (docs/events.md, "Group commit").

A batch runs without savepoints first and again with a savepoint per unit only when a unit
failed, so a unit may run twice (its first run rolled back).

A database that is locked past the deadline, full or unreachable fails every unit of the batch
with :class:`DatabaseUnavailable`; the batch is rolled back whole and the next batch reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, ClassVar, TypeVar, Union

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.pool import NullPool

from cible.errors import CibleError
from cible.events._log import HELD_ROWS, LOCK_HELD, Row, insert_rows, take_log_lock

T = TypeVar("T")
log = logging.getLogger("cible.events")

# Primary result codes that mean "the database, not the unit, failed"
# (https://sqlite.org/rescode.html): BUSY, LOCKED, NOMEM, READONLY, IOERR, CORRUPT, FULL,
# CANTOPEN, PROTOCOL.
_SQLITE_UNAVAILABLE = {5, 6, 7, 8, 10, 11, 13, 14, 15}


class DatabaseUnavailable(CibleError):
    """The database is locked past the deadline, full or unreachable; nothing was written.

    Answered as 503: the caller may retry once the database recovers.
    """

    status: ClassVar[int] = 503
    code: ClassVar[str] = "Database.Unavailable"


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database itself failed rather than the statement."""
    if isinstance(error, DatabaseUnavailable):
        return True
    orig: BaseException | None = error
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated:
            return True
        orig = error.orig
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)
        return code is not None and (code & 0xFF) in _SQLITE_UNAVAILABLE
    import psycopg

    if str(getattr(orig, "sqlstate", "") or "").startswith("40"):
        # A deadlock victim or serialization failure (SQLSTATE class 40) is the unit's failure:
        # rolled back alone, the rest of the batch commits.
        return False
    # Lock and statement timeouts, disk full, lost connections and shutdowns are all
    # psycopg.OperationalError (SQLSTATE classes 08, 53, 55P03, 57).
    return isinstance(orig, psycopg.OperationalError)


def _unavailable(error: BaseException, deadline: float) -> DatabaseUnavailable:
    if isinstance(error, DatabaseUnavailable):
        return error
    reason = getattr(error, "orig", None) or error
    unavailable = DatabaseUnavailable(
        f"The database is unavailable (locked past the {deadline:g} s deadline, full or "
        f"unreachable): {str(reason).strip() or type(reason).__name__}"
    )
    unavailable.__cause__ = error
    return unavailable


# One savepoint, released and taken again between units (the last one is committed with the
# transaction); PostgreSQL gets both statements in one round trip (psycopg sends a query without
# parameters with the simple protocol, which allows several statements).
_SAVEPOINT = "SAVEPOINT cible_unit"
_ROLLBACK_TO = "ROLLBACK TO SAVEPOINT cible_unit"
_NEXT_SAVEPOINT = {
    "sqlite": ("RELEASE SAVEPOINT cible_unit", _SAVEPOINT),
    "postgresql": ("RELEASE SAVEPOINT cible_unit; SAVEPOINT cible_unit",),
}

_STOP: Any = object()


def _writer_engine(engine: Engine, deadline: float) -> Engine:
    """A pool-less engine on ``engine``'s database for the writer's one connection.

    A separate engine keeps the writer's connection settings (synchronous=FULL, explicit BEGIN
    IMMEDIATE, short timeouts) off the connections the rest of the process shares.
    """
    url = engine.url
    if url.get_backend_name() == "sqlite":
        writer = create_engine(
            url,
            poolclass=NullPool,
            connect_args={"check_same_thread": False, "timeout": deadline},
        )
        busy_ms = max(1, int(deadline * 1000))

        @event.listens_for(writer, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            # The driver's own transaction handling would hide SAVEPOINTs from it; SQLAlchemy's
            # recipe takes it over (SQLAlchemy docs, "Serializable isolation / Savepoints").
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            # FULL: a commit is on disk before COMMIT returns, even across a power loss in WAL
            # mode (https://sqlite.org/pragma.html#pragma_synchronous).
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()

        @event.listens_for(writer, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # IMMEDIATE takes the write lock up front, so no unit can fail later on a lock
            # upgrade. It is retried here every millisecond or two rather than by SQLite's busy
            # handler, which sleeps up to 100 ms between tries: a request must not wait that
            # long after a consumer's short transaction released the lock.
            raw = conn.connection.dbapi_connection
            assert raw is not None
            give_up = time.monotonic() + deadline
            pause = 0.0005
            raw.execute("PRAGMA busy_timeout=0")
            try:
                while True:
                    try:
                        raw.execute("BEGIN IMMEDIATE")
                        return
                    except sqlite3.OperationalError as error:
                        code = getattr(error, "sqlite_errorcode", 0) & 0xFF
                        if code not in (5, 6) or time.monotonic() >= give_up:
                            raise
                    time.sleep(pause)
                    pause = min(pause * 2, 0.002)
            finally:
                raw.execute(f"PRAGMA busy_timeout={busy_ms}")

        return writer
    timeout_ms = max(1, int(deadline * 1000))
    writer = create_engine(
        url,
        poolclass=NullPool,
        connect_args={"connect_timeout": max(1, math.ceil(deadline))},
    )

    @event.listens_for(writer, "connect")
    def _pg_connect(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = {timeout_ms}")
            cursor.execute(f"SET statement_timeout = {timeout_ms}")
            cursor.execute("SET synchronous_commit = on")
        dbapi_connection.commit()

    return writer


class GroupCommitter:
    """Runs units of work on one writer thread, many per durable commit.

    >>> committer = GroupCommitter(database.engine)
    >>> future = committer.submit(lambda conn: append_records(conn, [record]))
    >>> future.result()                  # returns once the record is committed
    >>> await committer.run(unit)        # the same from async code, without blocking the loop
    >>> committer.close()

    A batch first runs without savepoints (a SAVEPOINT is a subtransaction on PostgreSQL and
    cost more than a unit's own writes, benchmarks/event_log.py); when one of its units raises,
    the batch is rolled back and runs again with each unit in its own savepoint, so the failing
    unit fails alone. A unit may therefore run twice, the first run's writes rolled back: a unit
    must act only through ``conn`` (``optimistic=False`` always uses savepoints).

    ``commits`` and ``units`` count successful commits and the units they carried; ``reruns``
    the batches run again with savepoints.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = 512,
        deadline_seconds: float = 2.0,
        optimistic: bool = True,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if deadline_seconds <= 0:
            raise ValueError("deadline_seconds must be positive")
        self.max_batch = max_batch
        self.deadline_seconds = deadline_seconds
        self.optimistic = optimistic
        self.commits = 0
        self.units = 0
        self.reruns = 0
        self._engine = _writer_engine(engine, deadline_seconds)
        self._postgres = self._engine.dialect.name == "postgresql"
        self._next_savepoint = _NEXT_SAVEPOINT[self._engine.dialect.name]
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._conn: Connection | None = None
        self._thread = threading.Thread(target=self._loop, name="cible-group-commit", daemon=True)
        self._thread.start()

    def submit(self, unit: Callable[[Connection], T]) -> Future[T]:
        """Queues ``unit``; its future resolves with its result once its batch has committed."""
        future: Future[T] = Future()
        self._put(unit, future)
        return future

    async def run(self, unit: Callable[[Connection], T]) -> T:
        """Awaits ``unit``'s durable result without blocking the event loop.

        The writer resolves every awaiting coroutine of a batch with one
        ``call_soon_threadsafe`` per event loop (rather than a wrapped thread future each),
        which keeps the per-request cost of waking the loop out of the hot path.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._put(unit, _AsyncSlot(loop, future))
        return await future

    def _put(self, unit: Callable[[Connection], Any], slot: _Slot) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the group committer is closed")
            self._queue.put((unit, slot))

    def close(self) -> None:
        """Runs every unit already submitted, then stops the writer thread."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put((_STOP, Future()))
        self._thread.join()

    def __enter__(self) -> GroupCommitter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _loop(self) -> None:
        stopping = False
        try:
            while not stopping:
                first = self._queue.get()
                if first[0] is _STOP:
                    break
                batch = [first]
                while len(batch) < self.max_batch:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item[0] is _STOP:
                        stopping = True
                        break
                    batch.append(item)
                try:
                    self._run_batch(batch)
                except BaseException as error:
                    # Never leave a caller waiting on a future nobody will resolve.
                    log.exception("group commit batch failed")
                    self._fail(batch, error)
        finally:
            self._disconnect()
            self._engine.dispose()

    def _connect(self) -> Connection:
        if self._conn is None:
            self._conn = self._engine.connect()
        return self._conn

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:  # noqa: S110 - the connection is being thrown away anyway
                pass

    def _begin(self) -> Connection:
        """A connection inside a fresh transaction holding the log lock.

        A connection that died while idle (a database restart) is replaced once before giving
        up, so the first batch after an outage does not fail for nothing.
        """
        for attempt in (1, 2):
            conn = self._connect()
            try:
                conn.begin()
                if self._postgres:
                    take_log_lock(conn)
                    conn.info[LOCK_HELD] = True
                return conn
            except exc.DBAPIError as error:
                self._disconnect()
                if attempt == 2 or not error.connection_invalidated:
                    raise
        raise AssertionError("unreachable")

    def _run_batch(self, batch: list[_Item]) -> None:
        items = [item for item in batch if _start(item[1])]
        if not items:
            return
        if len(items) == 1:
            self._attempt(items, savepoints=False)
        elif not self.optimistic:
            self._attempt(items, savepoints=True)
        elif not self._attempt(items, savepoints=False):
            self.reruns += 1
            self._attempt(items, savepoints=True)

    def _attempt(self, items: list[_Item], *, savepoints: bool) -> bool:
        """Runs ``items`` in one transaction and commits, settling every future.

        Without savepoints, a unit that raises rolls the whole transaction back and nothing is
        settled: returns False so the batch runs again, each unit in a savepoint. (A lone unit
        needs no savepoint: its transaction is the batch's.)
        """
        try:
            conn = self._begin()
        except Exception as error:
            self._fail(items, error)
            return True
        outcomes: list[_Outcome] = []
        # append_records holds the units' rows here; they are inserted together before COMMIT.
        held: list[Row] = []
        conn.info[HELD_ROWS] = held
        # Savepoints go straight to the driver: SQLAlchemy compiles a new SAVEPOINT statement
        # for each begin_nested(), which cost more than a unit's own SQL (benchmarks/event_log.py).
        raw: Any = conn.connection.dbapi_connection if savepoints else None
        last = len(items) - 1
        if raw is not None:
            try:
                raw.execute(_SAVEPOINT)
            except Exception as error:
                self._fail(items, error)
                return True
        for index, (unit, slot) in enumerate(items):
            mark = len(held)
            try:
                try:
                    value = unit(conn)
                except Exception as error:
                    if is_unavailable(error):
                        raise
                    if raw is None:
                        self._rollback(conn)
                        if len(items) == 1:
                            _settle([(slot, error, None)])
                            return True
                        return False
                    # The savepoint survives ROLLBACK TO, so the next unit runs inside it.
                    raw.execute(_ROLLBACK_TO)
                    del held[mark:]
                    outcomes.append((slot, error, None))
                    continue
                if raw is not None and index < last:
                    for statement in self._next_savepoint:
                        raw.execute(statement)
            except BaseException as error:
                self._fail(items[index:], error, outcomes)
                return True
            outcomes.append((slot, None, value))
        try:
            conn.info.pop(HELD_ROWS, None)
            if held:
                insert_rows(conn, held)
            conn.commit()
        except Exception as error:
            self._fail([], error, outcomes)
            return True
        finally:
            conn.info.pop(LOCK_HELD, None)
        self.commits += 1
        self.units += sum(1 for outcome in outcomes if outcome[1] is None)
        _settle(outcomes)
        return True

    def _rollback(self, conn: Connection) -> None:
        conn.info.pop(LOCK_HELD, None)
        conn.info.pop(HELD_ROWS, None)
        try:
            conn.rollback()
        except Exception:
            self._disconnect()

    def _fail(self, items: list[_Item], error: BaseException, ran: Sequence[_Outcome] = ()) -> None:
        """Drops the connection (rolling the batch back) and fails every unit of the batch.

        Units that ran keep their own error if they raised one; every other unit, and every
        unit that succeeded but was not committed, fails with :class:`DatabaseUnavailable`:
        whatever broke the batch itself left nothing applied.
        """
        self._disconnect()
        outcomes: list[_Outcome] = []
        for slot, own_error, _value in ran:
            failure = own_error or _unavailable(error, self.deadline_seconds)
            outcomes.append((slot, failure, None))
        for _unit, slot in items:
            outcomes.append((slot, _unavailable(error, self.deadline_seconds), None))
        _settle(outcomes)


class _AsyncSlot:
    """Where the writer puts the result of a unit awaited through :meth:`GroupCommitter.run`."""

    __slots__ = ("future", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any]) -> None:
        self.loop = loop
        self.future = future


_Slot = Union["Future[Any]", _AsyncSlot]
_Item = tuple[Callable[[Connection], Any], _Slot]
_Outcome = tuple[_Slot, BaseException | None, Any]


def _start(slot: _Slot) -> bool:
    """Marks a unit as running; False when its caller cancelled it before it ran."""
    if isinstance(slot, _AsyncSlot):
        # Read from the writer thread: a cancellation that races this check only means the
        # unit runs and its result is dropped (_resolve skips futures already done).
        return not slot.future.cancelled()
    return slot.set_running_or_notify_cancel()


def _settle(outcomes: Sequence[_Outcome]) -> None:
    """Resolves thread futures directly and each event loop's futures with one wake-up."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, Any]]] = {}
    for slot, error, value in outcomes:
        if isinstance(slot, _AsyncSlot):
            by_loop.setdefault(slot.loop, []).append((slot.future, error, value))
        elif slot.done():
            continue
        elif error is None:
            slot.set_result(value)
        else:
            slot.set_exception(error)
    for loop, entries in by_loop.items():
        # A closed loop raises RuntimeError: nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_resolve, entries)


def _resolve(entries: list[tuple[asyncio.Future[Any], Any, Any]]) -> None:
    for future, error, value in entries:
        if future.done():
            continue
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)
