"""Catalog feeds (a Cible addition; Adobe's feeds are UI-only): a CSV or Google product feed,
read from a URL or an uploaded file, imported now and on a schedule, with progress and a per-row
report (docs/recommendations.md, "Feeds").

A run (``recs.feed`` job) downloads the file (through ``cible.jobs.outbound``: the SSRF-guarded
client, so a feed URL cannot reach loopback, private or metadata addresses), parses it
(``cible.recs.feed_formats``) and merges each valid row into the catalog of the feed's
environment (all environments when none is named), in chunks, each committed with the progress
(``rowsDone``/``rowsTotal``) so a reader sees how far it is. Bad rows are reported by number and
cause (the first 1,000) and the rest imported; the status ends ``SUCCESS``,
``PARTIAL_IMPORT_FAILED``, or a failure of the whole file (``SERVER_NOT_FOUND``,
``FILE_NOT_FOUND``, ``PARSING_ERROR``, ``UNKNOWN_ERROR``), Adobe's feed statuses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from cible.activities.environments.tables import Environment
from cible.errors import BadRequest, Conflict, NotFound
from cible.isotime import iso_millis
from cible.jobs import enqueue, ensure_schedule, remove_schedule
from cible.jobs.outbound import OutboundBlocked, Policy, check_url, client
from cible.recs.access import require_read, require_write
from cible.recs.catalog import default_environment, upsert
from cible.recs.entities import EntityIn, Rejected
from cible.recs.feed_formats import FeedError, parse_csv, parse_google
from cible.recs.schemas import FeedIn
from cible.recs.tables import RecsFeed
from cible.store import Database
from cible.store.base import utcnow
from cible.store.paging import Page, fetch_page
from cible.tenants.principal import Principal

__all__ = [
    "FEED_JOB",
    "create_feed",
    "delete_feed",
    "feed_json",
    "get_feed",
    "list_feeds",
    "queue_run",
    "run_feed",
    "run_now",
    "update_feed",
    "upload_file",
]

FEED_JOB = "recs.feed"
CHUNK = 1000
ERRORS_KEPT = 1000
MAX_BYTES = 512 * 1024 * 1024
SORTABLE: dict[str, Any] = {"id": RecsFeed.id, "name": RecsFeed.name}
log = logging.getLogger(__name__)

# How feed runs reach URLs: the outbound policy from the settings; tests swap in their own.
POLICY: Callable[[], Policy | None] = lambda: None  # noqa: E731  (None: the settings' policy)


def _check(body: FeedIn, session: Session, tenant_id: int) -> None:
    problems: list[tuple[str, str]] = []
    connection = body.connection
    if connection.type == "url":
        reason = check_url(connection.url or "")
        if reason:
            problems.append(("connection.url", reason))
    elif connection.url is not None:
        problems.append(("connection.url", "upload feeds take no url"))
    if body.mapping and body.format != "google":
        problems.append(("mapping", "only Google product feeds are mapped"))
    if body.environment_id is not None:
        found = session.scalar(
            select(Environment.id).where(
                Environment.tenant_id == tenant_id, Environment.id == body.environment_id
            )
        )
        if found is None:
            problems.append(("environmentId", f"environment {body.environment_id} does not exist"))
    if problems:
        raise BadRequest.fields(problems)


def _schedule(session: Session, feed: RecsFeed, body: FeedIn) -> None:
    name = f"recs.feed.{feed.id}"
    hours, minutes = (int(p) for p in body.schedule_time.split(":"))
    payload = {"feed": feed.id}
    if body.schedule_type == "never":
        remove_schedule(session, name)
    elif body.schedule_type == "daily":
        ensure_schedule(session, name, FEED_JOB, payload, cron=f"{minutes} {hours} * * *")
    elif body.schedule_type == "weekly":
        ensure_schedule(session, name, FEED_JOB, payload, cron=f"{minutes} {hours} * * 1")
    else:
        ensure_schedule(session, name, FEED_JOB, payload, every=timedelta(days=14))


def feed_json(feed: RecsFeed) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(feed.body)
    return {
        "id": feed.id,
        **body,
        "status": feed.status,
        "progress": {"rowsDone": feed.rows_done, "rowsTotal": feed.rows_total},
        "report": orjson.loads(feed.report),
        "lastRun": iso_millis(feed.last_run_at) if feed.last_run_at else None,
        "lastModified": iso_millis(feed.modified_at),
    }


def _name_free(session: Session, tenant_id: int, name: str, own: int | None) -> None:
    existing = session.scalar(
        select(RecsFeed.id).where(RecsFeed.tenant_id == tenant_id, RecsFeed.name == name)
    )
    if existing is not None and existing != own:
        raise Conflict(f"a feed named {name!r} already exists (id {existing})")


def queue_run(session: Session, feed: RecsFeed) -> None:
    enqueue(session, FEED_JOB, {"feed": feed.id}, dedupe_key=f"{FEED_JOB}:{feed.id}")
    feed.status = "SCHEDULED"


def create_feed(session: Session, principal: Principal, body: FeedIn, now: datetime) -> RecsFeed:
    require_write(principal)
    _check(body, session, principal.tenant_id)
    _name_free(session, principal.tenant_id, body.name, None)
    feed = RecsFeed(
        tenant_id=principal.tenant_id,
        name=body.name,
        body=orjson.dumps(body.stored()).decode(),
        modified_at=now,
        modified_by=principal.client_id,
    )
    session.add(feed)
    session.flush()
    _schedule(session, feed, body)
    if body.connection.type == "url":
        queue_run(session, feed)  # Adobe: a feed runs when saved, then on its schedule
    session.flush()
    return feed


def get_feed(session: Session, principal: Principal, feed_id: int) -> RecsFeed:
    require_read(principal)
    feed = session.get(RecsFeed, feed_id)
    if feed is None or feed.tenant_id != principal.tenant_id:
        raise NotFound(f"feed {feed_id} does not exist")
    return feed


def update_feed(
    session: Session, principal: Principal, feed_id: int, body: FeedIn, now: datetime
) -> RecsFeed:
    require_write(principal)
    feed = get_feed(session, principal, feed_id)
    if body.id is not None and body.id != feed_id:
        raise BadRequest.fields([("id", f"does not match the feed id {feed_id}")])
    _check(body, session, principal.tenant_id)
    _name_free(session, principal.tenant_id, body.name, feed.id)
    feed.name = body.name
    feed.body = orjson.dumps(body.stored()).decode()
    feed.modified_at = now
    feed.modified_by = principal.client_id
    _schedule(session, feed, body)
    session.flush()
    return feed


def delete_feed(session: Session, principal: Principal, feed_id: int) -> RecsFeed:
    require_write(principal)
    feed = get_feed(session, principal, feed_id)
    remove_schedule(session, f"recs.feed.{feed.id}")
    session.delete(feed)
    session.flush()
    return feed


def upload_file(session: Session, principal: Principal, feed_id: int, content: str) -> RecsFeed:
    """Store an upload feed's file and queue its import."""
    require_write(principal)
    feed = get_feed(session, principal, feed_id)
    if orjson.loads(feed.body)["connection"]["type"] != "upload":
        raise BadRequest.fields([("connection", "this feed reads a URL; it takes no upload")])
    feed.upload = content
    queue_run(session, feed)
    session.flush()
    return feed


def run_now(session: Session, principal: Principal, feed_id: int) -> RecsFeed:
    require_write(principal)
    feed = get_feed(session, principal, feed_id)
    if orjson.loads(feed.body)["connection"]["type"] == "upload" and feed.upload is None:
        raise BadRequest.fields([("file", "upload the feed's file first")])
    queue_run(session, feed)
    session.flush()
    return feed


def list_feeds(session: Session, principal: Principal, page: Page) -> tuple[list[RecsFeed], int]:
    require_read(principal)
    query = select(RecsFeed).where(RecsFeed.tenant_id == principal.tenant_id)
    order = [SORTABLE[f].desc() if desc else SORTABLE[f].asc() for f, desc in page.sort]
    return fetch_page(session, query, page, [*order, RecsFeed.id])


# -- a run ------------------------------------------------------------------------------------


def _set(conn: Connection, feed_id: int, **values: Any) -> None:
    conn.execute(update(RecsFeed).where(RecsFeed.id == feed_id).values(**values))


def _download(url: str) -> str:
    with client(POLICY(), timeout=60.0) as http, http.stream("GET", url) as response:
        if response.status_code == 404:
            raise FileNotFoundError(f"the server answered 404 for {url}")
        if response.status_code >= 400:
            raise ConnectionError(f"the server answered {response.status_code}")
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > MAX_BYTES:
                raise FeedError(f"the file is larger than {MAX_BYTES} bytes")
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8-sig", errors="replace")


def _rows(body: dict[str, Any], text: str) -> Iterator[tuple[int, EntityIn | Rejected]]:
    if body["format"] == "csv":
        return parse_csv(text)
    return parse_google(text, body.get("mapping") or {})


def run_feed(db: Database, feed_id: int) -> None:
    """One import of the feed (see the module docstring); the feed's row says how it went."""
    with db.engine.begin() as conn:
        row = conn.execute(select(RecsFeed).where(RecsFeed.id == feed_id)).first()
        if row is None:
            return  # deleted since the run was queued
        body = orjson.loads(row.body)
        _set(conn, feed_id, status="DOWNLOADING_FEED_FILE", last_run_at=utcnow())
    tenant_id = row.tenant_id
    try:
        text = (row.upload or "") if body["connection"]["type"] == "upload" else None
        if text is None:
            text = _download(body["connection"]["url"])
        rows = list(_rows(body, text))
    except (OutboundBlocked, httpx.ConnectError, ConnectionError, httpx.TimeoutException) as exc:
        return _failed(db, feed_id, "SERVER_NOT_FOUND", str(exc))
    except FileNotFoundError as exc:
        return _failed(db, feed_id, "FILE_NOT_FOUND", str(exc))
    except (FeedError, UnicodeError) as exc:
        return _failed(db, feed_id, "PARSING_ERROR", str(exc))
    except Exception as exc:  # a run must end with a status, whatever broke
        log.exception("feed %s failed", feed_id)
        return _failed(db, feed_id, "UNKNOWN_ERROR", type(exc).__name__)
    try:
        _import(db, feed_id, tenant_id, body, rows)
    except Exception as exc:  # e.g. the feed's environment was deleted meanwhile
        log.exception("feed %s failed while importing", feed_id)
        _failed(db, feed_id, "UNKNOWN_ERROR", type(exc).__name__)


def _import(
    db: Database,
    feed_id: int,
    tenant_id: int,
    body: dict[str, Any],
    rows: list[tuple[int, EntityIn | Rejected]],
) -> None:
    errors: list[dict[str, Any]] = []
    rejected = imported = 0
    with db.engine.begin() as conn:
        _set(conn, feed_id, status="IMPORTING", rows_done=0, rows_total=len(rows))
        environments = _environments(conn, tenant_id, body.get("environmentId"))
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        good = [e for _, e in chunk if isinstance(e, EntityIn)]
        for number, outcome in chunk:
            if isinstance(outcome, Rejected):
                rejected += 1
                if len(errors) < ERRORS_KEPT:
                    errors.append({"row": number, "key": outcome.key, "message": outcome.text})
        with db.engine.begin() as conn:
            for environment in environments:
                upsert(conn, tenant_id, environment, good, utcnow(), merge=True)
            imported += len(good)
            _set(conn, feed_id, rows_done=start + len(chunk))
    status = "PARTIAL_IMPORT_FAILED" if rejected else "SUCCESS"
    report = {"imported": imported, "rejected": rejected, "errors": errors}
    with db.engine.begin() as conn:
        _set(conn, feed_id, status=status, report=orjson.dumps(report).decode())


def _environments(conn: Connection, tenant_id: int, environment: int | None) -> list[int]:
    if environment is not None:
        return [environment]
    found = [
        int(i)
        for i in conn.scalars(select(Environment.id).where(Environment.tenant_id == tenant_id))
    ]
    return found or [default_environment(conn, tenant_id)]


def _failed(db: Database, feed_id: int, status: str, message: str) -> None:
    report = {"imported": 0, "rejected": 0, "errors": [], "message": message[:1000]}
    with db.engine.begin() as conn:
        _set(conn, feed_id, status=status, report=orjson.dumps(report).decode())
