"""Consumers read the log by offset, store their offset with what they applied, replay the same,
never skip a record that committed late, and let compaction delete only what all have applied."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import Engine, text

from cible.events import (
    CONSUMERS,
    ConsumerRunner,
    GroupCommitter,
    LagCollector,
    append_records,
    compact,
    consumer,
    drain,
    forget,
    lag,
    offsets,
    register,
    reset,
    run_once,
)
from cible.jobs.registry import load_tasks
from cible.store import Database
from cible.web.metrics import Metrics
from tests.conftest import BACKENDS
from tests.events._kit import SinkConsumer, append, create_sink, log_keys, rec, sink

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def engine(database: Database) -> Iterator[Engine]:
    create_sink(database.engine)
    yield database.engine


def test_run_once_applies_a_batch_and_stores_its_offset(engine: Engine) -> None:
    sinker = SinkConsumer()
    append(engine, rec("a", '{"n": 1}'), rec("b"), rec("c"))
    assert run_once(engine, sinker, batch_size=2) == 2
    assert set(sink(engine)) == {"a", "b"}
    assert run_once(engine, sinker, batch_size=2) == 1
    assert run_once(engine, sinker, batch_size=2) == 0
    assert set(sink(engine)) == {"a", "b", "c"}
    assert sink(engine)["a"][1] == '{"n": 1}'
    assert offsets(engine)["test.sink"] == max(o for batch in sinker.batches for o in batch)


def test_records_of_other_topics_are_passed_over_but_the_offset_moves(engine: Engine) -> None:
    sinker = SinkConsumer()
    append(engine, rec("a"), rec("x1", topic="other"), rec("x2", topic="other"))
    assert run_once(engine, sinker) == 1
    assert lag(engine, consumers=[sinker]) == {"test.sink": 0}
    with engine.connect() as conn:
        last = conn.execute(text('SELECT max("offset") FROM event_log')).scalar_one()
    assert offsets(engine)["test.sink"] == last
    assert run_once(engine, sinker) == 0
    assert len(sinker.batches) == 1


def test_a_failing_apply_changes_nothing_and_keeps_the_offset(engine: Engine) -> None:
    sinker = SinkConsumer(fail=True)
    append(engine, rec("a"), rec("b"))
    with pytest.raises(RuntimeError, match="on purpose"):
        run_once(engine, sinker)
    assert sink(engine) == {}
    assert offsets(engine).get("test.sink", 0) == 0
    sinker.fail = False
    assert run_once(engine, sinker) == 2


def test_replaying_from_any_offset_twice_gives_the_same_tables(engine: Engine) -> None:
    sinker = SinkConsumer()
    for i in range(12):
        # Keys repeat, so a replay that applied records out of order would leave older bodies.
        append(engine, rec(f"k{i % 5}", f'{{"v": {i}}}'), rec(f"skip{i}", topic="other"))
    drain(engine, consumers=[sinker])
    expected = sink(engine)
    assert {key: body for key, (_t, body, _o) in expected.items()} == {
        "k0": '{"v": 10}',
        "k1": '{"v": 11}',
        "k2": '{"v": 7}',
        "k3": '{"v": 8}',
        "k4": '{"v": 9}',
    }
    with engine.connect() as conn:
        every = [r[0] for r in conn.execute(text('SELECT "offset" FROM event_log'))]
    for start in [0, min(every), every[5], every[11], max(every)]:
        for _ in range(2):
            reset(engine, "test.sink", start)
            drain(engine, consumers=[sinker], batch_size=3)
            assert sink(engine) == expected


def test_lag_counts_unapplied_records_per_consumer(engine: Engine) -> None:
    first = SinkConsumer()
    second = SinkConsumer(name="test.other", topics=frozenset({"u"}))
    append(engine, rec("a"), rec("b"), rec("c"), rec("x", topic="u"), rec("y", topic="u"))
    assert lag(engine, consumers=[first, second]) == {"test.sink": 3, "test.other": 2}
    run_once(engine, first, batch_size=2)
    assert lag(engine, consumers=[first, second]) == {"test.sink": 1, "test.other": 2}
    drain(engine, consumers=[first, second])
    assert lag(engine, consumers=[first, second]) == {"test.sink": 0, "test.other": 0}


def test_lag_is_a_prometheus_gauge(engine: Engine) -> None:
    sinker = SinkConsumer()
    append(engine, rec("a"), rec("b"))
    registry = CollectorRegistry()
    registry.register(LagCollector(engine, consumers=[sinker]))
    assert (
        'cible_event_consumer_lag{consumer="test.sink"} 2.0' in generate_latest(registry).decode()
    )
    drain(engine, consumers=[sinker])
    assert (
        'cible_event_consumer_lag{consumer="test.sink"} 0.0' in generate_latest(registry).decode()
    )


def test_a_record_committed_late_is_never_skipped(engine: Engine, backend: str) -> None:
    """One appending transaction stays open while a later one tries to commit and a consumer
    runs: the held record gets the smaller offset and the consumer applies every record."""
    sinker = SinkConsumer()
    append(engine, rec("before"))
    held = engine.connect()
    held_tx = held.begin()
    append_records(held, [rec("held")])
    later_done = threading.Event()

    def later() -> None:
        append(engine, rec("later"))
        later_done.set()

    thread = threading.Thread(target=later)
    thread.start()
    try:
        if backend == "postgres":
            _wait_for_lock_waiter(engine)
            # The later transaction waits for the log lock; a consumer runs meanwhile and must
            # not move past the uncommitted record.
            assert run_once(engine, sinker) == 1
            assert set(sink(engine)) == {"before"}
        else:
            time.sleep(0.2)  # lets the later transaction reach SQLite's write lock
        assert not later_done.is_set()
    finally:
        held_tx.commit()
        held.close()
        thread.join(30)
    assert later_done.is_set()
    drain(engine, consumers=[sinker])
    assert set(sink(engine)) == {"before", "held", "later"}
    assert log_keys(engine) == ["before", "held", "later"]


def _wait_for_lock_waiter(engine: Engine) -> None:
    waited = time.monotonic() + 30
    query = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    while time.monotonic() < waited:
        with engine.connect() as conn:
            if conn.execute(query).scalar_one():
                return
        time.sleep(0.01)
    raise AssertionError("the later transaction never waited for the log lock")


def test_compaction_deletes_only_old_records_every_consumer_applied(engine: Engine) -> None:
    fast = SinkConsumer(name="test.fast")
    slow = SinkConsumer(name="test.slow")
    for i in range(6):
        append(engine, rec(f"r{i}"), now_ms=1_000 + i)
    with engine.connect() as conn:
        every = [r[0] for r in conn.execute(text('SELECT "offset" FROM event_log ORDER BY 1'))]
    drain(engine, consumers=[fast])
    # The slow consumer has never run: nothing may go.
    assert compact(engine, 10_000, consumers=[fast, slow]) == 0
    reset(engine, "test.slow", every[3])
    # Applied by both and created before 1_002: r0, r1.
    assert compact(engine, 1_002, consumers=[fast, slow]) == 2
    assert log_keys(engine) == ["r2", "r3", "r4", "r5"]
    # A consumer with a stored offset holds records back even when not given.
    assert compact(engine, 10_000, consumers=[fast]) == 2
    assert log_keys(engine) == ["r4", "r5"]
    forget(engine, "test.slow")
    assert compact(engine, 10_000, consumers=[fast]) == 2
    assert log_keys(engine) == []
    # Offsets are never reused once compacted, or consumers would skip the new records.
    append(engine, rec("new"))
    drain(engine, consumers=[fast])
    assert "new" in sink(engine)
    with engine.connect() as conn:
        assert conn.execute(text('SELECT "offset" FROM event_log')).scalar_one() > every[-1]


def test_compaction_deletes_in_chunks(engine: Engine) -> None:
    sinker = SinkConsumer()
    append(engine, *[rec(f"r{i}") for i in range(25)], now_ms=1_000)
    append(engine, rec("young"), now_ms=50_000)
    drain(engine, consumers=[sinker])
    assert compact(engine, 10_000, consumers=[sinker], chunk=4) == 25
    assert log_keys(engine) == ["young"]


def test_compaction_with_no_consumer_keeps_everything(engine: Engine) -> None:
    append(engine, rec("a"), now_ms=1)
    assert compact(engine, 10_000, consumers=[]) == 0
    assert log_keys(engine) == ["a"]


def test_the_compact_job_uses_the_retention_setting(
    engine: Engine, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    sinker = SinkConsumer()
    import cible.events.tasks as tasks

    monkeypatch.setattr(tasks, "load_consumers", lambda: {"test.sink": sinker})
    append(engine, rec("old"), now_ms=1_000)
    append(engine, rec("recent"))
    drain(engine, consumers=[sinker])
    load_tasks()["events.compact"](database, {})
    assert log_keys(engine) == ["recent"]
    load_tasks()["events.compact"](database, {"retention_hours": 0})
    assert log_keys(engine) == []


def test_the_runner_applies_in_the_background(engine: Engine) -> None:
    sinker = SinkConsumer()
    runner = ConsumerRunner(engine, consumers=[sinker])
    runner.start()
    try:
        append(engine, rec("a"), rec("b"))
        waited = time.monotonic() + 30
        while lag(engine, consumers=[sinker])["test.sink"] and time.monotonic() < waited:
            time.sleep(0.02)
        append(engine, rec("c"))
        while len(sink(engine)) < 3 and time.monotonic() < waited:
            time.sleep(0.02)
    finally:
        runner.stop()
    assert set(sink(engine)) == {"a", "b", "c"}
    assert runner.errors == 0


def test_the_runner_survives_a_failing_consumer(engine: Engine) -> None:
    broken = SinkConsumer(name="test.broken", fail=True)
    healthy = SinkConsumer()
    runner = ConsumerRunner(engine, consumers=[broken, healthy], error_backoff_seconds=0.01)
    runner.start()
    try:
        append(engine, rec("a"))
        waited = time.monotonic() + 30
        while lag(engine, consumers=[healthy])["test.sink"] and time.monotonic() < waited:
            time.sleep(0.02)
        broken.fail = False
        while lag(engine, consumers=[broken])["test.broken"] and time.monotonic() < waited:
            time.sleep(0.02)
    finally:
        runner.stop()
    assert runner.errors >= 1
    assert lag(engine, consumers=[broken, healthy]) == {"test.broken": 0, "test.sink": 0}


def test_drain_gives_up_after_its_timeout(engine: Engine) -> None:
    append(engine, rec("a"), rec("b"), rec("c"))
    with pytest.raises(TimeoutError):
        drain(engine, timeout=0, consumers=[SinkConsumer()], batch_size=1)


def test_the_registry(engine: Engine) -> None:
    sinker = SinkConsumer(name="test.registered")
    try:
        assert register(sinker) is sinker
        assert register(sinker) is sinker
        with pytest.raises(ValueError, match="twice"):
            register(SinkConsumer(name="test.registered"))

        @consumer("test.function", topics=["t"])
        def apply(conn: object, records: object) -> None:
            pass

        assert CONSUMERS["test.function"].topics == frozenset({"t"})
        with pytest.raises(ValueError, match="1 to 100"):
            register(SinkConsumer(name="x" * 101))
    finally:
        CONSUMERS.pop("test.registered", None)
        CONSUMERS.pop("test.function", None)


def test_the_app_metrics_and_the_drain_fixture_use_the_registry(
    engine: Engine, drain_events: Callable[[], None]
) -> None:
    sinker = register(SinkConsumer(name="test.registry"))
    try:
        metrics = Metrics()
        metrics.watch_event_log(engine)
        append(engine, rec("a"), rec("b"))
        assert b'cible_event_consumer_lag{consumer="test.registry"} 2.0' in metrics.render()
        drain_events()
        assert set(sink(engine)) == {"a", "b"}
        assert b'cible_event_consumer_lag{consumer="test.registry"} 0.0' in metrics.render()
    finally:
        CONSUMERS.pop(sinker.name, None)


def test_records_appended_together_keep_their_order(engine: Engine) -> None:
    for count in (1, 3, 8, 9, 20):
        append(engine, *[rec(f"n{count}-{i}", f'{{"i": {i}}}') for i in range(count)])
    expected = [f"n{count}-{i}" for count in (1, 3, 8, 9, 20) for i in range(count)]
    assert log_keys(engine) == expected
    sinker = SinkConsumer()
    drain(engine, consumers=[sinker])
    assert sink(engine)["n20-19"][1] == '{"i": 19}'


def test_the_runner_can_apply_through_the_group_committer(engine: Engine) -> None:
    sinker = SinkConsumer()
    with GroupCommitter(engine) as committer:
        runner = ConsumerRunner(engine, consumers=[sinker], committer=committer)
        assert runner.batch_size == 500
        runner.start()
        try:
            for i in range(20):
                committer.submit(lambda conn, i=i: append_records(conn, [rec(f"g{i}")]))
            waited = time.monotonic() + 30
            while len(sink(engine)) < 20 and time.monotonic() < waited:
                time.sleep(0.02)
        finally:
            runner.stop()
        assert committer.commits >= 2
    assert set(sink(engine)) == {f"g{i}" for i in range(20)}
    assert lag(engine, consumers=[sinker]) == {"test.sink": 0}


def test_two_runners_of_one_consumer_take_turns(engine: Engine) -> None:
    """Two runners (threads here; hosts in production) drain the same consumer at once: each
    batch is applied by one of them, none twice, none skipped."""
    sinker = SinkConsumer()
    for chunk in range(10):
        append(engine, *[rec(f"r{chunk}-{i}") for i in range(20)])
    errors: list[BaseException] = []

    def runner() -> None:
        try:
            drain(engine, consumers=[sinker], batch_size=7)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    applied = [offset for batch in sinker.batches for offset in batch]
    assert len(applied) == len(set(applied)) == 200
    assert len(sink(engine)) == 200
