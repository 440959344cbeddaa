"""The event log: every write a request produces beyond its visitor state, appended in commit
order with group commit, and applied to tables by consumers that read it by offset.

Requests append :class:`Record` s through a :class:`GroupCommitter` (many requests per durable
commit); consumers registered in ``cible.<domain>.consumers`` modules apply them in batches,
storing their offset in the same transaction, and a :class:`ConsumerRunner` keeps them running.
See docs/events.md.
"""

from cible.events._committer import DatabaseUnavailable, GroupCommitter, is_unavailable
from cible.events._consumers import (
    CONSUMERS,
    Consumer,
    FunctionConsumer,
    consumer,
    drain,
    forget,
    lag,
    load_consumers,
    offsets,
    register,
    reset,
    run_once,
)
from cible.events._log import (
    LOG_LOCK_KEY,
    Record,
    StoredRecord,
    append_records,
    now_ms,
    take_log_lock,
)
from cible.events._metrics import LagCollector
from cible.events._retention import compact
from cible.events._runner import ConsumerRunner

__all__ = [
    "CONSUMERS",
    "LOG_LOCK_KEY",
    "Consumer",
    "ConsumerRunner",
    "DatabaseUnavailable",
    "FunctionConsumer",
    "GroupCommitter",
    "LagCollector",
    "Record",
    "StoredRecord",
    "append_records",
    "compact",
    "consumer",
    "drain",
    "forget",
    "is_unavailable",
    "lag",
    "load_consumers",
    "now_ms",
    "offsets",
    "register",
    "reset",
    "run_once",
    "take_log_lock",
]
