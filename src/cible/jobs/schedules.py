"""Recurring jobs declared by the domains that need them, and stored where every worker sees them.

A schedule names a job kind, its payload and its timing: a fixed interval (``every``) or a 5-field
cron expression read in UTC (``cron``). Domains declare their schedules in code, in a
``SCHEDULES`` list in their ``cible.<domain>.schedules`` module, the way they declare job kinds
with ``@task`` in ``tasks.py``; the scheduler writes them to ``job_schedules`` when it starts.
Schedules that depend on data (one per tenant, one per data source) are declared at run time with
:func:`ensure_schedule` in the caller's transaction. This module is itself the built-in
``cible.jobs.schedules`` list, so built-ins use the same extension point as every domain.

>>> SCHEDULES = [Schedule("feeds.refresh", kind="recs.feed", every=timedelta(hours=6))]
>>> with db.session() as s:
...     ensure_schedule(s, "acme.export", "dmp.export", {"tenant": "acme"}, cron="0 3 * * *")

Timing (docs/jobs.md): an interval schedule first runs one interval after it is created, then
every interval after its previous scheduled time; a cron schedule runs at each matching minute.
After downtime the missed runs collapse into one run, at the latest missed time.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from croniter import croniter
from sqlalchemy import delete
from sqlalchemy.orm import Session

from cible.errors import BadRequest, NotFound
from cible.jobs.tables import JobSchedule
from cible.store.base import utcnow

NAME_MAX = 100
COUNT_CAP = 10_000


@dataclass(frozen=True)
class Schedule:
    """A schedule declared in code; exactly one of ``every`` and ``cron``."""

    name: str
    kind: str
    every: timedelta | None = None
    cron: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check(self.name, self.kind, self.every, self.cron)


@dataclass(frozen=True)
class Timing:
    """When a schedule runs, in the two forms ``job_schedules`` stores."""

    every_seconds: int | None
    cron: str | None

    def next_after(self, moment: datetime) -> datetime:
        """The first scheduled time strictly after ``moment`` (interval: one interval later)."""
        if self.every_seconds is not None:
            return moment + timedelta(seconds=self.every_seconds)
        assert self.cron is not None
        return _utc(croniter(self.cron, moment.astimezone(UTC)).get_next(datetime))

    def latest_due(self, next_run_at: datetime, now: datetime) -> datetime:
        """The latest scheduled time in ``[next_run_at, now]``; ``next_run_at`` must be due."""
        if self.every_seconds is not None:
            step = timedelta(seconds=self.every_seconds)
            return next_run_at + step * ((now - next_run_at) // step)
        assert self.cron is not None
        # get_prev is strictly before its start: a cron time equal to ``now`` is due.
        start = now.astimezone(UTC) + timedelta(microseconds=1)
        return max(next_run_at, _utc(croniter(self.cron, start).get_prev(datetime)))

    def count_between(self, first: datetime, latest: datetime) -> int:
        """How many scheduled times fall in ``[first, latest)`` (cron: counted up to 10,000)."""
        if self.every_seconds is not None:
            return (latest - first) // timedelta(seconds=self.every_seconds)
        count, moment = 0, first
        while moment < latest and count < COUNT_CAP:
            count, moment = count + 1, self.next_after(moment)
        return count


def timing_of(row: JobSchedule) -> Timing:
    return Timing(row.every_seconds, row.cron)


def ensure_schedule(
    session: Session,
    name: str,
    kind: str,
    payload: dict[str, Any],
    *,
    every: timedelta | None = None,
    cron: str | None = None,
    now: datetime | None = None,
) -> JobSchedule:
    """Creates or updates schedule ``name`` in the caller's transaction; idempotent.

    Kind and payload are replaced. The next run time is kept unless the timing changed, so
    declaring the same schedule at every start never delays or repeats a run. ``enabled`` is
    the operator's (``cible schedules disable``) and is never changed here.
    """
    _check(name, kind, every, cron)
    cron = None if cron is None else " ".join(cron.split())
    timing = Timing(None if every is None else int(every.total_seconds()), cron)
    moment = now or utcnow()
    # Whole seconds: interval runs then fall on readable times.
    anchor = moment.replace(microsecond=0)
    text = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS).decode()
    row = session.get(JobSchedule, name)
    if row is None:
        row = JobSchedule(
            name=name,
            kind=kind,
            payload=text,
            every_seconds=timing.every_seconds,
            cron=timing.cron,
            next_run_at=timing.next_after(anchor),
            enabled=True,
            created_at=moment,
            updated_at=moment,
        )
        session.add(row)
        session.flush()
        return row
    changed = (row.kind, row.payload) != (kind, text)
    if timing_of(row) != timing:
        row.every_seconds, row.cron = timing.every_seconds, timing.cron
        row.next_run_at = timing.next_after(anchor)
        changed = True
    if changed:
        row.kind, row.payload, row.updated_at = kind, text, moment
        session.flush()
    return row


def remove_schedule(session: Session, name: str) -> bool:
    """Deletes schedule ``name``; jobs it already enqueued still run. False when there was none."""
    result = session.execute(delete(JobSchedule).where(JobSchedule.name == name))
    return bool(getattr(result, "rowcount", 0))


def set_enabled(session: Session, name: str, enabled: bool, *, now: datetime | None = None) -> None:
    """Pauses or resumes a schedule. Resuming never replays the runs missed while paused."""
    row = session.get(JobSchedule, name)
    if row is None:
        raise NotFound(f"no schedule named {name!r}")
    moment = now or utcnow()
    if enabled and not row.enabled and row.next_run_at <= moment:
        row.next_run_at = timing_of(row).next_after(moment)
    row.enabled, row.updated_at = enabled, moment


def load_schedules() -> list[Schedule]:
    """Imports every ``cible.*.schedules`` module and returns their ``SCHEDULES``, by name."""
    import cible

    found: dict[str, Schedule] = {}
    for module in pkgutil.walk_packages(cible.__path__, "cible."):
        if module.name.rsplit(".", 1)[-1] != "schedules":
            continue
        declared = getattr(importlib.import_module(module.name), "SCHEDULES", [])
        for schedule in declared:
            if schedule.name in found and found[schedule.name] != schedule:
                raise ValueError(f"schedule {schedule.name!r} is declared twice")
            found[schedule.name] = schedule
    return sorted(found.values(), key=lambda s: s.name)


def _check(name: str, kind: str, every: timedelta | None, cron: str | None) -> None:
    problems: list[tuple[str, str]] = []
    if not name or len(name) > NAME_MAX or name != name.strip():
        problems.append(("name", f"1 to {NAME_MAX} characters without surrounding spaces"))
    if not kind or len(kind) > NAME_MAX:
        problems.append(("kind", f"1 to {NAME_MAX} characters"))
    if (every is None) == (cron is None):
        problems.append(("timing", "give exactly one of every and cron"))
    elif every is not None and (every < timedelta(seconds=1) or every % timedelta(seconds=1)):
        problems.append(("every", "a whole number of seconds, at least 1"))
    elif cron is not None and (
        len(cron) > NAME_MAX or len(cron.split()) != 5 or not croniter.is_valid(cron)
    ):
        problems.append(("cron", f"{cron!r} is not a 5-field cron expression"))
    if problems:
        raise BadRequest.fields(problems)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# Built-in schedules (docs/jobs.md). The handler of ``events.compact`` lives in
# ``cible.events.tasks``; until that module registers it, each run is dead-lettered with
# "no handler registered", and the worker goes on.
SCHEDULES = [
    Schedule("events.retention", kind="events.compact", every=timedelta(hours=1)),
]
