"""Background jobs as rows: an outbox written in the caller's transaction, run by workers, and
recurring schedules that one elected worker turns into jobs (docs/jobs.md)."""

from cible.jobs.outbox import enqueue, run_pending
from cible.jobs.registry import load_tasks, task
from cible.jobs.scheduler import Scheduler, run_now
from cible.jobs.schedules import Schedule, ensure_schedule, remove_schedule

__all__ = [
    "Schedule",
    "Scheduler",
    "enqueue",
    "ensure_schedule",
    "load_tasks",
    "remove_schedule",
    "run_now",
    "run_pending",
    "task",
]
