"""Job kinds and their handlers, registered with ``@task("kind")`` in each domain's ``tasks.py``.

Every ``cible.<domain>.tasks`` module is imported by ``load_tasks()``, so a domain adds a job
kind by writing a handler; nothing central lists them.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from cible.store import Database

Handler = Callable[[Database, dict[str, Any]], None]

TASKS: dict[str, Handler] = {}


def task(kind: str) -> Callable[[Handler], Handler]:
    """Registers ``handler`` for jobs of ``kind``; handlers must be idempotent (at-least-once)."""

    def register(handler: Handler) -> Handler:
        if kind in TASKS and TASKS[kind] is not handler:
            raise ValueError(f"job kind {kind!r} is registered twice")
        TASKS[kind] = handler
        return handler

    return register


def load_tasks() -> dict[str, Handler]:
    """Imports every ``cible.*.tasks`` module and returns the registry."""
    import cible

    for module in pkgutil.walk_packages(cible.__path__, "cible."):
        if module.name.rsplit(".", 1)[-1] == "tasks":
            importlib.import_module(module.name)
    return TASKS
