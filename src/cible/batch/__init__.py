"""Admin API batch: ``POST /{tenant}/target/batch`` runs up to 256 operations in one request.

``parse_batch`` validates a whole batch (every problem listed, nothing run), ``run_batch``
schedules its operations over their dependencies through a ``Dispatcher``, and
``AsgiDispatcher`` sends them to the app in-process. ``docs/batch.md`` describes the behaviour.
"""

from cible.batch.asgi import AsgiDispatcher
from cible.batch.run import Dispatcher, Reply, Result, run_batch
from cible.batch.validate import Batch, Operation, parse_batch

__all__ = [
    "AsgiDispatcher",
    "Batch",
    "Dispatcher",
    "Operation",
    "Reply",
    "Result",
    "parse_batch",
    "run_batch",
]
