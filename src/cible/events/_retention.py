"""Retention: records every consumer has applied are deleted once older than the cutoff.

Deletes go in chunks, each in its own short transaction, so that compaction never holds SQLite's
write lock (or PostgreSQL's row locks) long enough to delay the requests' group commits.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine, bindparam, delete, select

from cible.events._consumers import OFFSETS, Consumer, as_engine, chosen_consumers
from cible.events.tables import event_log
from cible.store import Database

_CHUNK = (
    select(event_log.c.offset)
    .where(
        event_log.c.offset <= bindparam("floor"),
        event_log.c.created_ms < bindparam("cutoff"),
    )
    .order_by(event_log.c.offset)
    .limit(bindparam("chunk"))
)
_DELETE = delete(event_log).where(event_log.c.offset.in_(_CHUNK))


def compact(
    engine: Engine | Database,
    older_than_ms: int,
    *,
    consumers: Iterable[Consumer] | None = None,
    chunk: int = 10_000,
) -> int:
    """Deletes records created before ``older_than_ms`` (epoch ms) that every consumer applied.

    "Every consumer" is each registered consumer (one never run counts as offset 0) and each
    consumer with a stored offset, so records stay until the slowest one has applied them;
    :func:`cible.events.forget` releases a retired consumer. Returns the number deleted.
    """
    names = {each.name for each in chosen_consumers(consumers)}
    target = as_engine(engine)
    with target.connect() as conn:
        stored = {name: int(offset) for name, offset in conn.execute(OFFSETS)}
    names |= stored.keys()
    if not names:
        return 0
    floor = min(stored.get(name, 0) for name in names)
    if floor <= 0:
        return 0
    params = {"floor": floor, "cutoff": older_than_ms, "chunk": chunk}
    deleted = 0
    while True:
        with target.begin() as conn:
            count = int(conn.execute(_DELETE, params).rowcount)
        deleted += count
        if count < chunk:
            return deleted
