"""Engine and session factory for SQLite (default) and PostgreSQL.

SQLite runs in WAL mode with foreign keys enforced and a busy timeout, so one writer and many
readers coexist across threads and the worker process (https://sqlite.org/wal.html).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # FULL: the WAL is synced at every commit, so an acknowledged write survives a power loss.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the per-dialect settings Cible relies on."""
    if url.startswith("sqlite"):
        # As many pooled connections as the server's worker threads (anyio's 40) and the writer:
        # past the pool, each checkout would open a connection and run the pragmas again, which
        # cost a DCS call a seventh of its time under load (BENCHMARKS.md, "DCS /event").
        memory = make_url(url).database in (None, "", ":memory:")  # one connection per thread
        sizes = {} if memory else {"pool_size": 48, "max_overflow": 16}
        engine = create_engine(url, connect_args={"check_same_thread": False}, **sizes)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


class Database:
    """One engine and its session factory.

    >>> db = Database("sqlite:///./cible.db")
    >>> with db.session() as s:
    ...     s.execute(text("select 1"))
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on any exception."""
        with session_scope(self._factory) as session:
            yield session

    def ping(self) -> bool:
        """Whether the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("select 1"))
        except Exception:
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
