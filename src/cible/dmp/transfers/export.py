"""Batch file destinations (``FILE``): scheduled exports of segment memberships as files.

Adobe Audience Manager sends batch server-to-server files on a schedule, by default once a day,
in full or incremental (``iter``) mode, named and laid out by the destination's templates
(Adobe Audience Manager, "Outbound file name and content", "Outbound template macros",
"Transfer control files"). A run here is:

1. found or created in ``dmp_export_runs`` by (destination, scheduled time, mode), with the
   change id the previous done run stopped at (``since``, fixed once);
2. a Parquet snapshot of the run's input (``cible.dmp.transfers.export_snapshot``), written once
   and kept until the run is done;
3. rows computed by the engine ``CIBLE_BATCH_ENGINE`` names (``export_engine``, DuckDB by
   default), written by the one file writer (``export_writer``) under temporary names, renamed,
   then the ``.info`` manifest;
4. the run marked done with its files.

``TIMESTAMP`` in the file names is the run's scheduled time, so a run started again after a
crash (the job is retried, or ``cible dmp export`` is run again) names its files the same, reads
the same snapshot and writes the same bytes over whatever the first attempt left. A done run is
never written again.

Scheduling: ``dmp.export.sweep`` runs every minute on the recurring scheduler and enqueues a run
for each active ``FILE`` destination whose latest slot (multiples of ``everyMinutes`` from the
epoch, shifted by ``offsetMinutes``) has none yet; slots missed while Cible was down fold into
the latest one, and an ``iter`` run takes every change since the previous done run, so nothing
is lost. The first slot is the first one after the destination was created.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cible.config import Settings, get_settings
from cible.dmp._common import epoch_ms
from cible.dmp.transfers.export_engine import ExportEngine, ExportSpec, Mode, engine_named
from cible.dmp.transfers.export_snapshot import write_snapshot
from cible.dmp.transfers.export_template import uses
from cible.dmp.transfers.export_writer import DEFAULT_CONTENT, DEFAULT_NAME, FileFormat, FileWriter
from cible.dmp.transfers.locations import open_location
from cible.dmp.transfers.tables import Destination, DestinationMapping, ExportRun
from cible.errors import BadRequest, NotFound
from cible.jobs import enqueue, task
from cible.store import Database
from cible.tenants import tables as _tenants  # noqa: F401 - the runs' foreign key names tenants

log = logging.getLogger("cible.dmp")

FILE = "FILE"
RUN = "dmp.export.run"
SWEEP = "dmp.export.sweep"
RUNNING, DONE, FAILED = "running", "done", "failed"
MINUTE_MS = 60_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Outcome:
    run_id: int
    state: str
    rows: int
    files: list[dict[str, Any]]
    manifest: str


def slot_ms(config: dict[str, Any], at_ms: int) -> int:
    """The latest scheduled time at or before ``at_ms``."""
    every = int(config.get("everyMinutes") or 1440) * MINUTE_MS
    offset = int(config.get("offsetMinutes") or 0) * MINUTE_MS % every
    return (at_ms - offset) // every * every + offset


def _spec(
    session: Session, dest: Destination, config: dict[str, Any], day: str
) -> tuple[ExportSpec, dict[int, str]]:
    """Mapped segments whose mapping dates include the run's day (UTC), the ids needed, and
    the mappings' aliases (``traitAlias``, the ``alias`` of a ``SEGMENT_LIST`` item)."""
    aliases: dict[int, str] = {}
    for m in session.scalars(
        select(DestinationMapping).where(DestinationMapping.destination_id == dest.id)
    ):
        if (m.start_date or "") <= day and (not m.end_date or day <= m.end_date):
            aliases[m.sid] = m.trait_alias
    dpid = config.get("dpid")
    spec = ExportSpec(dest.id, tuple(sorted(aliases)), (int(dpid),) if dpid is not None else ())
    return spec, aliases


def file_format(
    dest: Destination,
    config: dict[str, Any],
    mode: Mode,
    scheduled_ms: int,
    sync_type: str,
    aliases: dict[int, str],
) -> FileFormat:
    dpid = config.get("dpid")
    master = config.get("masterDpid")
    scalars = {
        "SYNC_TYPE": sync_type,
        "ORDER_ID": str(dest.id),
        "DID": str(dest.id),
        "SYNC_MODE": mode,
        "TIMESTAMP": str(scheduled_ms),
        "DPID": "" if dpid is None else str(dpid),
        "MASTER_DPID": "" if master is None else str(master),
        "PID_ALIAS": str(config.get("pidAlias") or ""),
        "PIDALIAS": str(config.get("pidAlias") or ""),
        "PID": str(dest.tenant_id),
    }
    return FileFormat(
        name_template=str(config.get("fileNameTemplate") or DEFAULT_NAME),
        content_template=str(config.get("contentTemplate") or DEFAULT_CONTENT),
        gzip=bool(config.get("gzip", True)),
        max_lines=int(config.get("maxFileLines") or 0),
        max_bytes=int(config.get("maxFileBytes") or 0),
        dpid=None if dpid is None else int(dpid),
        aliases=aliases,
        scalars=scalars,
    )


def _file_destination(session: Session, destination_id: int) -> Destination:
    dest = session.get(Destination, destination_id)
    if dest is None or dest.destination_type != FILE:
        raise NotFound(f"batch file destination {destination_id} does not exist")
    return dest


def _claim(
    db: Database, destination_id: int, scheduled_ms: int, mode: Mode, engine: str
) -> ExportRun:
    """The run row for this slot, created if new; its attempt counted."""
    for _ in range(2):
        try:
            with db.session() as s:
                dest = _file_destination(s, destination_id)
                run = s.scalar(
                    select(ExportRun).where(
                        ExportRun.destination_id == destination_id,
                        ExportRun.scheduled_ms == scheduled_ms,
                        ExportRun.mode == mode,
                    )
                )
                if run is None:
                    since = None
                    if mode == "iter":
                        since = s.scalar(
                            select(func.max(ExportRun.cutoff_change)).where(
                                ExportRun.destination_id == destination_id,
                                ExportRun.state == DONE,
                            )
                        )
                    run = ExportRun(
                        tenant_id=dest.tenant_id,
                        destination_id=destination_id,
                        scheduled_ms=scheduled_ms,
                        mode=mode,
                        state=RUNNING,
                        engine=engine,
                        since_change=since,
                        attempts=0,
                        started_ms=now_ms(),
                    )
                    s.add(run)
                if run.state != DONE:
                    run.state, run.engine, run.error = RUNNING, engine, None
                    run.attempts += 1
                s.flush()
                return run
        except IntegrityError:
            continue  # another worker created it first: read theirs
    raise RuntimeError("export run could not be created")


def run_export(
    db: Database,
    destination_id: int,
    scheduled_ms: int,
    mode: Mode,
    *,
    settings: Settings | None = None,
    engine: ExportEngine | None = None,
    progress: Callable[[int], None] | None = None,
) -> Outcome:
    """Runs (or finishes, or finds done) one export; raises when it fails (the job retries)."""
    settings = settings or get_settings()
    chosen = engine or engine_named(settings.batch_engine)
    run = _claim(db, destination_id, scheduled_ms, mode, chosen.name)
    if run.state == DONE:
        return _outcome(run)
    work = Path(settings.dmp_export_work_dir or Path(tempfile.gettempdir()) / "cible-export")
    folder = work / f"run-{run.id}"
    try:
        with db.session() as s:
            dest = _file_destination(s, destination_id)
            config: dict[str, Any] = orjson.loads(dest.config)
            day = datetime.fromtimestamp(scheduled_ms / 1000, UTC).strftime("%Y-%m-%d")
            spec, aliases = _spec(s, dest, config, day)
            info = write_snapshot(s.connection(), dest.tenant_id, spec, run.since_change, folder,
                                  changes=mode == "iter")  # fmt: skip
            opened = open_location(config.get("location") or {}, settings)
            fmt = file_format(dest, config, mode, scheduled_ms, opened.sync_type, aliases)
        rows = chosen.compute_rows(folder, spec, mode, run.since_change)
        manifest = FileWriter(opened.fs, opened.folder, fmt, f"cible-run-{run.id}").write(
            rows, progress
        )
    except Exception as exc:
        with db.session() as s:
            failed = s.get(ExportRun, run.id)
            if failed is not None:
                failed.state, failed.error = FAILED, f"{type(exc).__name__}: {exc}"[:2000]
                failed.finished_ms = now_ms()
        raise
    with db.session() as s:
        done = s.get(ExportRun, run.id)
        assert done is not None
        done.state, done.error, done.finished_ms = DONE, None, now_ms()
        done.cutoff_change = int(info["cutoffChange"])
        done.rows, done.skipped = manifest.lines, manifest.skipped
        done.files = orjson.dumps([f.to_json() for f in manifest.files]).decode()
        done.manifest, done.location = manifest.info_name, opened.shown
        s.flush()
        result = _outcome(done)
    shutil.rmtree(folder, ignore_errors=True)
    return result


def _outcome(run: ExportRun) -> Outcome:
    return Outcome(run.id, run.state, run.rows, orjson.loads(run.files), run.manifest)


def sweep(db: Database, at_ms: int) -> list[tuple[int, int]]:
    """Enqueues the due run of every active ``FILE`` destination; returns (destination, slot)."""
    due: list[tuple[int, int]] = []
    with db.session() as s:
        for dest in s.scalars(
            select(Destination).where(
                Destination.destination_type == FILE, Destination.status == "ACTIVE"
            )
        ):
            config = orjson.loads(dest.config)
            slot = slot_ms(config, at_ms)
            if slot < epoch_ms(dest.create_time):
                continue
            mode = str(config.get("syncMode") or "iter")
            known = s.scalar(
                select(ExportRun.state).where(
                    ExportRun.destination_id == dest.id,
                    ExportRun.scheduled_ms == slot,
                    ExportRun.mode == mode,
                )
            )
            if known is not None:
                continue
            payload = {"destination": dest.id, "scheduledMs": slot, "mode": mode}
            key = f"{RUN}:{dest.id}:{slot}:{mode}"
            if enqueue(s, RUN, payload, dedupe_key=key) is not None:
                due.append((dest.id, slot))
    return due


def runs(
    session: Session, destination_id: int, start_ms: int | None, end_ms: int | None
) -> list[ExportRun]:
    query = select(ExportRun).where(ExportRun.destination_id == destination_id)
    if start_ms is not None:
        query = query.where(ExportRun.started_ms >= start_ms)
    if end_ms is not None:
        query = query.where(ExportRun.started_ms <= end_ms)
    return list(session.scalars(query.order_by(ExportRun.scheduled_ms, ExportRun.id).limit(1000)))


def run_json(run: ExportRun) -> dict[str, Any]:
    """A run as the outbound history lists it: a file transfer with its files."""
    return {
        "transferType": "FILE",
        "runId": run.id,
        "destinationId": run.destination_id,
        "syncMode": run.mode,
        "state": run.state,
        "engine": run.engine,
        "scheduledTime": run.scheduled_ms,
        "startTime": run.started_ms,
        "endTime": run.finished_ms,
        "attempts": run.attempts,
        "rows": run.rows,
        "skippedRows": run.skipped,
        "location": run.location,
        "manifest": run.manifest,
        "files": [
            {
                "fileName": f["FileName"],
                "sequence": f["FileSequenceNumber"],
                "bytes": f["FileByteSize"],
                "rows": f["FileLineCount"],
                "md5": f["md5"],
            }
            for f in orjson.loads(run.files)
        ],
        "error": run.error,
    }


def check_config(config: dict[str, Any]) -> None:
    """Refuses templates that do not compile and a DP_UUID template without ``dpid``."""
    from cible.dmp.transfers.export_template import NAME_MACROS, TemplateError, compile_template

    problems = []
    for field, macros in (("fileNameTemplate", NAME_MACROS), ("contentTemplate", None)):
        text = config.get(field)
        if not text:
            continue
        try:
            if macros is None:
                compile_template(str(text))
            else:
                compile_template(str(text), macros=macros)
        except TemplateError as exc:
            problems.append((field, str(exc)))
    content = str(config.get("contentTemplate") or DEFAULT_CONTENT)
    if uses(content, "DP_UUID", "DP_UUID_LIST") and config.get("dpid") is None:
        problems.append(("dpid", "the content template names DP_UUID: give the data source"))
    if problems:
        raise BadRequest.fields(problems)


@task(SWEEP)
def _sweep_job(db: Database, payload: dict[str, Any]) -> None:
    """Enqueues the due run of every batch file destination."""
    sweep(db, int(payload.get("nowMs") or now_ms()))


@task(RUN)
def _run_job(db: Database, payload: dict[str, Any]) -> None:
    """One batch file export; a retry after a crash rewrites the same files."""
    destination, scheduled = int(payload["destination"]), int(payload["scheduledMs"])
    run_export(db, destination, scheduled, "full" if payload.get("mode") == "full" else "iter")
