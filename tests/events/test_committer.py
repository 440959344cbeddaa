"""Group commit: concurrent units share commits, resolve only once durable, fail alone, and a
locked, full or unreachable database fails a whole batch with DatabaseUnavailable, then recovers."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future

import pytest
from sqlalchemy import Connection, Engine, create_engine, text

from cible.events import (
    LOG_LOCK_KEY,
    DatabaseUnavailable,
    GroupCommitter,
    Record,
    append_records,
)
from cible.store import Database
from tests.conftest import BACKENDS
from tests.events._kit import log_keys, rec

WAIT = 60  # seconds a test waits for a future before calling it a hang


@pytest.fixture
def engine(database: Database) -> Engine:
    return database.engine


@pytest.fixture(params=[True, False], ids=["optimistic", "savepoints"])
def committer(engine: Engine, request: pytest.FixtureRequest) -> Iterator[GroupCommitter]:
    with GroupCommitter(engine, deadline_seconds=0.5, optimistic=request.param) as gc:
        yield gc


def appender(*records: Record) -> Callable[[Connection], str]:
    def unit(conn: Connection) -> str:
        append_records(conn, list(records))
        return records[0].key

    return unit


def hold_writer(committer: GroupCommitter) -> tuple[threading.Event, Future[None]]:
    """Occupies the writer thread until the returned event is set, so that every unit submitted
    meanwhile lands in the next batch."""
    running, release = threading.Event(), threading.Event()

    def blocker(_conn: Connection) -> None:
        running.set()
        assert release.wait(WAIT)

    future = committer.submit(blocker)
    assert running.wait(WAIT)
    return release, future


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_units_queued_together_share_one_commit(engine: Engine, committer: GroupCommitter) -> None:
    release, blocked = hold_writer(committer)
    futures = [committer.submit(appender(rec(f"k{i}"))) for i in range(100)]
    release.set()
    assert [f.result(WAIT) for f in futures] == [f"k{i}" for i in range(100)]
    blocked.result(WAIT)
    assert committer.units == 101
    assert committer.commits == 2
    assert sorted(log_keys(engine)) == sorted(f"k{i}" for i in range(100))


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_a_resolved_unit_is_visible_to_other_connections(
    engine: Engine, committer: GroupCommitter
) -> None:
    """Many threads submit at once; as soon as a future resolves, another connection reads the
    unit's record (the commit happened before the future resolved)."""
    missing: list[str] = []
    query = text("SELECT count(*) FROM event_log WHERE key = :key")

    def client(thread: int) -> None:
        with engine.connect() as reader:
            for i in range(25):
                key = f"t{thread}-{i}"
                committer.submit(appender(rec(key), rec(key + "/b"))).result(WAIT)
                if reader.execute(query, {"key": key}).scalar_one() != 1:
                    missing.append(key)
                reader.rollback()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert missing == []
    assert committer.units == 200
    assert len(log_keys(engine)) == 400


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_a_failing_unit_fails_alone(engine: Engine, committer: GroupCommitter) -> None:
    def raises(conn: Connection) -> None:
        append_records(conn, [rec("bad")])
        raise ValueError("unit failed on purpose")

    def bad_sql(conn: Connection) -> None:
        append_records(conn, [rec("bad-sql")])
        conn.execute(text("SELECT * FROM no_such_table"))

    release, _blocked = hold_writer(committer)
    first = committer.submit(appender(rec("ok1")))
    failing = committer.submit(raises)
    failing_sql = committer.submit(bad_sql)
    last = committer.submit(appender(rec("ok2")))
    release.set()
    assert first.result(WAIT) == "ok1"
    assert last.result(WAIT) == "ok2"
    with pytest.raises(ValueError, match="on purpose"):
        failing.result(WAIT)
    with pytest.raises(Exception, match="no_such_table") as raised:
        failing_sql.result(WAIT)
    assert not isinstance(raised.value, DatabaseUnavailable)
    assert log_keys(engine) == ["ok1", "ok2"]
    assert committer.commits == 2
    assert committer.reruns == (1 if committer.optimistic else 0)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_units_run_again_only_when_another_unit_failed(
    engine: Engine, committer: GroupCommitter
) -> None:
    runs: list[str] = []

    def counted(key: str, fail: bool = False) -> Callable[[Connection], str]:
        def unit(conn: Connection) -> str:
            runs.append(key)
            append_records(conn, [rec(key)])
            if fail:
                raise ValueError("unit failed on purpose")
            return key

        return unit

    release, _blocked = hold_writer(committer)
    clean = [committer.submit(counted(f"c{i}")) for i in range(3)]
    release.set()
    assert [f.result(WAIT) for f in clean] == ["c0", "c1", "c2"]
    assert runs == ["c0", "c1", "c2"]
    runs.clear()
    release, _blocked = hold_writer(committer)
    mixed = [committer.submit(counted("m0")), committer.submit(counted("m1", fail=True))]
    mixed.append(committer.submit(counted("m2")))
    release.set()
    assert mixed[0].result(WAIT) == "m0"
    assert mixed[2].result(WAIT) == "m2"
    with pytest.raises(ValueError):
        mixed[1].result(WAIT)
    if committer.optimistic:
        assert runs == ["m0", "m1", "m0", "m1", "m2"]
    else:
        assert runs == ["m0", "m1", "m2"]
    assert log_keys(engine) == ["c0", "c1", "c2", "m0", "m2"]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_a_lone_failing_unit_leaves_nothing_and_the_next_one_commits(
    engine: Engine, committer: GroupCommitter
) -> None:
    def raises(conn: Connection) -> None:
        append_records(conn, [rec("bad")])
        raise ValueError("unit failed on purpose")

    with pytest.raises(ValueError):
        committer.submit(raises).result(WAIT)
    assert committer.submit(appender(rec("ok"))).result(WAIT) == "ok"
    assert log_keys(engine) == ["ok"]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_a_locked_database_fails_the_batch_then_recovers(
    engine: Engine, committer: GroupCommitter, backend: str, database_url: str
) -> None:
    if backend == "sqlite":
        blocker = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=0.1)
        blocker.isolation_level = None
        blocker.execute("BEGIN EXCLUSIVE")
        blocker.execute("INSERT INTO event_consumers VALUES ('lock', 0, 0)")
        unlock = blocker.rollback
    else:
        holder = engine.connect()
        holder.execute(text(f"SELECT pg_advisory_lock({LOG_LOCK_KEY})"))
        holder.commit()

        def unlock() -> None:
            holder.execute(text(f"SELECT pg_advisory_unlock({LOG_LOCK_KEY})"))
            holder.commit()
            holder.close()

    try:
        futures = [committer.submit(appender(rec(f"locked{i}"))) for i in range(5)]
        for future in futures:
            with pytest.raises(DatabaseUnavailable, match=r"database is locked|timeout") as raised:
                future.result(WAIT)
        assert raised.value.status == 503
    finally:
        unlock()
    assert committer.submit(appender(rec("after"))).result(WAIT) == "after"
    assert log_keys(engine) == ["after"]


@pytest.mark.parametrize("backend", [BACKENDS[0]], indirect=True)
def test_a_full_database_fails_the_whole_batch_then_recovers(
    engine: Engine, committer: GroupCommitter
) -> None:
    running, release = threading.Event(), threading.Event()

    def fill_up(conn: Connection) -> None:
        # max_page_count is a property of the writer's connection: the database is "full" for
        # it until it reconnects (https://sqlite.org/pragma.html#pragma_max_page_count).
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
        conn.exec_driver_sql(f"PRAGMA max_page_count = {pages}")
        running.set()
        assert release.wait(WAIT)

    blocked = committer.submit(fill_up)
    assert running.wait(WAIT)
    small = committer.submit(appender(rec("small")))
    big = committer.submit(appender(Record("t", 1, "big", b"x" * 1_000_000)))
    release.set()
    blocked.result(WAIT)
    for future in (small, big):
        with pytest.raises(DatabaseUnavailable, match="database or disk is full"):
            future.result(WAIT)
    assert log_keys(engine) == []
    assert committer.submit(appender(rec("after"))).result(WAIT) == "after"
    assert log_keys(engine) == ["after"]


def test_an_unreachable_database_fails_fast() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/none")
    with GroupCommitter(engine, deadline_seconds=1) as committer:
        with pytest.raises(DatabaseUnavailable, match=r"(?i)connection"):
            committer.submit(appender(rec("a"))).result(WAIT)
        with pytest.raises(DatabaseUnavailable):
            committer.submit(appender(rec("b"))).result(WAIT)
    engine.dispose()


@pytest.mark.parametrize("backend", [BACKENDS[1]], indirect=True)
def test_a_dropped_connection_is_replaced_without_failing_a_unit(
    engine: Engine, committer: GroupCommitter
) -> None:
    pid = committer.submit(
        lambda conn: conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    ).result(WAIT)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    assert committer.submit(appender(rec("after"))).result(WAIT) == "after"
    assert log_keys(engine) == ["after"]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_close_finishes_pending_units_then_refuses_new_ones(engine: Engine) -> None:
    committer = GroupCommitter(engine)
    release, _blocked = hold_writer(committer)
    futures = [committer.submit(appender(rec(f"k{i}"))) for i in range(10)]
    closing = threading.Thread(target=committer.close)
    closing.start()
    release.set()
    closing.join(WAIT)
    assert [f.result(0) for f in futures] == [f"k{i}" for i in range(10)]
    with pytest.raises(RuntimeError, match="closed"):
        committer.submit(appender(rec("late")))
    assert len(log_keys(engine)) == 10


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_a_cancelled_unit_never_runs(engine: Engine, committer: GroupCommitter) -> None:
    release, _blocked = hold_writer(committer)
    cancelled = committer.submit(appender(rec("cancelled")))
    kept = committer.submit(appender(rec("kept")))
    assert cancelled.cancel()
    release.set()
    assert kept.result(WAIT) == "kept"
    assert log_keys(engine) == ["kept"]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_run_awaits_without_blocking_the_event_loop(
    engine: Engine, committer: GroupCommitter
) -> None:
    started = threading.Event()
    release = threading.Event()

    def unit(conn: Connection) -> str:
        started.set()
        # Released by a coroutine: had run() blocked the loop, this would time out.
        assert release.wait(WAIT)
        append_records(conn, [rec("async")])
        return "done"

    async def main() -> str:
        task = asyncio.ensure_future(committer.run(unit))
        while not started.is_set():
            await asyncio.sleep(0.001)
        release.set()
        return await task

    assert asyncio.run(main()) == "done"
    assert log_keys(engine) == ["async"]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_awaiting_tasks_share_commits_fail_alone_and_can_be_cancelled(
    engine: Engine, committer: GroupCommitter
) -> None:
    def raises(conn: Connection) -> None:
        append_records(conn, [rec("bad")])
        raise ValueError("unit failed on purpose")

    async def main() -> tuple[list[object], bool]:
        release, blocked = hold_writer(committer)
        tasks = [asyncio.ensure_future(committer.run(appender(rec(f"a{i}")))) for i in range(50)]
        failing = asyncio.ensure_future(committer.run(raises))
        cancelled = asyncio.ensure_future(committer.run(appender(rec("cancelled"))))
        await asyncio.sleep(0)  # every task queues its unit and waits
        cancelled.cancel()
        release.set()
        results = await asyncio.gather(*tasks, failing, return_exceptions=True)
        await asyncio.wrap_future(blocked)
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        return results, cancelled.cancelled()

    results, was_cancelled = asyncio.run(main())
    assert results[:50] == [f"a{i}" for i in range(50)]
    assert isinstance(results[50], ValueError)
    assert was_cancelled
    assert sorted(log_keys(engine)) == sorted(f"a{i}" for i in range(50))
    assert committer.commits == 2


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_a_batch_appends_in_unit_order_and_an_invalid_record_fails_its_unit(
    engine: Engine, committer: GroupCommitter
) -> None:
    release, _blocked = hold_writer(committer)
    futures = [committer.submit(appender(rec(f"u{i}"), rec(f"u{i}/b"))) for i in range(5)]
    too_long = committer.submit(appender(rec("x" * 401)))
    not_bytes = committer.submit(appender(Record("t", 1, "text", "{}")))  # type: ignore[arg-type]
    last = committer.submit(appender(*[rec(f"many{i}") for i in range(450)]))
    release.set()
    assert [f.result(WAIT) for f in futures] == [f"u{i}" for i in range(5)]
    for failed in (too_long, not_bytes):
        with pytest.raises(ValueError, match="invalid event record"):
            failed.result(WAIT)
    assert last.result(WAIT) == "many0"
    expected = [key for i in range(5) for key in (f"u{i}", f"u{i}/b")]
    assert log_keys(engine) == expected + [f"many{i}" for i in range(450)]
