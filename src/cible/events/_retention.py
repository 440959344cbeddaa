"""Retention: records every consumer has applied are deleted once older than the cutoff."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine, bindparam, delete

from cible.events._consumers import OFFSETS, Consumer, as_engine, chosen_consumers
from cible.events.tables import event_log
from cible.store import Database

_DELETE = delete(event_log).where(
    event_log.c.offset <= bindparam("floor"),
    event_log.c.created_ms < bindparam("cutoff"),
)


def compact(
    engine: Engine | Database,
    older_than_ms: int,
    *,
    consumers: Iterable[Consumer] | None = None,
) -> int:
    """Deletes records created before ``older_than_ms`` (epoch ms) that every consumer applied.

    "Every consumer" is each registered consumer (one never run counts as offset 0) and each
    consumer with a stored offset, so records stay until the slowest one has applied them;
    :func:`cible.events.forget` releases a retired consumer. Returns the number deleted.
    """
    names = {each.name for each in chosen_consumers(consumers)}
    with as_engine(engine).begin() as conn:
        stored = {name: int(offset) for name, offset in conn.execute(OFFSETS)}
        names |= stored.keys()
        if not names:
            return 0
        floor = min(stored.get(name, 0) for name in names)
        if floor <= 0:
            return 0
        return int(conn.execute(_DELETE, {"floor": floor, "cutoff": older_than_ms}).rowcount)
