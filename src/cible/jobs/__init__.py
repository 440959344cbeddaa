"""Background jobs as rows: an outbox written in the caller's transaction, run by workers."""

from cible.jobs.outbox import enqueue, run_pending
from cible.jobs.registry import load_tasks, task

__all__ = ["enqueue", "load_tasks", "run_pending", "task"]
