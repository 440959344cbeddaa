"""Bulk profile update (Adobe's Bulk Profile Update API v1/v2): parse, accept, process, report.

A batch is stored whole when accepted (so it is durable before the response) and processed by
the ``profiles.batch_update`` job in chunks of ``CHUNK_ROWS`` rows, each chunk in its own
transaction with its per-row outcomes: a worker that dies mid-batch resumes after the last
committed chunk. Format (Adobe): the body starts with ``batch=``; the first line holds the
headers, the first one naming the id kind (``pcId``/``mboxPC`` for tntIds,
``thirdPartyId``/``mbox3rdPartyId``), the others attribute names; names and values are
URL-encoded; empty values never clear an attribute.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote_plus

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from cible.jobs import enqueue
from cible.profiles import service as profiles
from cible.profiles.tables import Profile, ProfileBatch, ProfileBatchRow
from cible.store import Database
from cible.store.base import utcnow

__all__ = [
    "CHUNK_ROWS",
    "MAX_ROWS",
    "BatchError",
    "accept_batch",
    "parse_batch",
    "process_batch",
]

MAX_ROWS = 500_000  # Adobe: at most 500,000 rows per upload (the body limit applies too)
CHUNK_ROWS = 1000
MAX_ATTEMPTS = 10  # compare-and-set retries of one chunk while delivery calls write its profiles
KEY_KINDS = {"pcId": "tnt", "mboxPC": "tnt", "thirdPartyId": "3p", "mbox3rdPartyId": "3p"}
SUCCESS, NOT_FOUND, FAILED = "success", "notFound", "failed"


class BatchError(ValueError):
    """The batch file is refused as a whole (nothing stored)."""


@dataclass(frozen=True)
class ParsedBatch:
    kind: str
    attributes: list[str]
    lines: list[str]


def parse_batch(body: bytes) -> ParsedBatch:
    """Check the header of a batch file and split its rows (cells are parsed when processed)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BatchError("the batch is not UTF-8 text") from None
    if not text.startswith("batch="):
        raise BatchError("the body must start with 'batch='")
    content = text[len("batch=") :]
    if "\n" not in content and "%0a" in content.lower():
        # The whole file sent URL-encoded (curl -d --data-urlencode): decode it once first.
        content = unquote_plus(content)
    lines = [line.rstrip("\r") for line in content.split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise BatchError("the batch has no header line")
    headers = [unquote_plus(cell).strip() for cell in lines[0].split(",")]
    kind = KEY_KINDS.get(headers[0])
    if kind is None:
        raise BatchError("the first header must be pcId, mboxPC, thirdPartyId or mbox3rdPartyId")
    attributes = [h.removeprefix("profile.") for h in headers[1:]]
    if not attributes or any(not a for a in attributes):
        raise BatchError("every column after the id needs an attribute name")
    if len(set(attributes)) != len(attributes):
        raise BatchError("attribute names must be unique")
    rows = lines[1:]
    if not rows:
        raise BatchError("the batch has no rows")
    if len(rows) > MAX_ROWS:
        raise BatchError(f"the batch has {len(rows)} rows; at most {MAX_ROWS} are accepted")
    return ParsedBatch(kind, attributes, rows)


def accept_batch(
    session: Session, tenant_id: int, client: str, body: bytes, api_version: int
) -> ProfileBatch:
    """Store a batch and enqueue its processing, in the caller's transaction."""
    parsed = parse_batch(body)
    batch = ProfileBatch(
        id=f"{client}-{uuid.uuid4().hex}",
        tenant_id=tenant_id,
        api_version=api_version,
        body=body.decode("utf-8"),
        state="incomplete",
        size=len(parsed.lines),
        consumed=0,
        successful=0,
        not_found=0,
        failed=0,
        created_at=utcnow(),
    )
    session.add(batch)
    session.flush()
    enqueue(session, "profiles.batch_update", {"batchId": batch.id}, dedupe_key=batch.id)
    return batch


def _rows(parsed: ParsedBatch, start: int) -> Iterator[tuple[int, str, dict[str, str] | str]]:
    width = len(parsed.attributes) + 1
    for offset, line in enumerate(parsed.lines[start:], start=start):
        number = offset + 2  # line numbers of the file: the header is line 1
        cells = line.split(",")
        visitor = unquote_plus(cells[0]).strip()
        if len(cells) > width:
            yield number, visitor, f"{len(cells)} cells for {width} columns"
            continue
        if not visitor:
            yield number, visitor, "no visitor id"
            continue
        if len(visitor) > 256 or "+" in unquote_plus(cells[0]) or "/" in visitor:
            yield number, visitor, "invalid visitor id"
            continue
        values = {
            name: unquote_plus(cell)
            for name, cell in zip(parsed.attributes, cells[1:], strict=False)
            if cell != ""
        }
        yield number, visitor, values


def process_batch(db: Database, batch_id: str, now: datetime | None = None) -> None:
    """Apply a batch; resumable and idempotent (rows already reported are skipped)."""
    with db.session() as session:
        batch = session.get(ProfileBatch, batch_id)
        if batch is None or batch.state == "complete":
            return
        parsed = parse_batch(batch.body.encode("utf-8"))
        done = session.scalar(select(func.count()).where(ProfileBatchRow.batch_id == batch_id)) or 0
        tenant_id, create = batch.tenant_id, batch.api_version >= 2
    pending = _rows(parsed, done)
    while True:
        chunk = [row for _, row in zip(range(CHUNK_ROWS), pending, strict=False)]
        if not chunk:
            break
        for attempt in range(MAX_ATTEMPTS):
            try:
                with db.session() as session:
                    when = now or utcnow()
                    _apply_chunk(session, tenant_id, parsed.kind, create, chunk, batch_id, when)
                break
            except (StaleDataError, IntegrityError):
                # A delivery call changed one of these profiles (or created one of these ids)
                # since the chunk read them: the chunk rolled back whole; read it again.
                if attempt == MAX_ATTEMPTS - 1:
                    raise
    with db.session() as session:
        batch = session.get(ProfileBatch, batch_id)
        assert batch is not None
        batch.state = "complete"
        batch.finished_at = now or utcnow()


def _apply_chunk(
    session: Session,
    tenant_id: int,
    kind: str,
    create: bool,
    chunk: list[tuple[int, str, dict[str, str] | str]],
    batch_id: str,
    now: datetime,
) -> None:
    counts = {SUCCESS: 0, NOT_FOUND: 0, FAILED: 0}
    wanted = [visitor for _, visitor, values in chunk if not isinstance(values, str)]
    found = profiles.find_profiles(session, tenant_id, kind, wanted)
    created: list[tuple[str, Profile]] = []
    outcomes: list[tuple[int, str, str, str | None]] = []
    for number, visitor, values in chunk:
        if isinstance(values, str):
            outcomes.append((number, visitor, FAILED, values))
            continue
        profile = found.get(visitor)
        if profile is None:
            if not create:
                reason = "no profile with this id (v1 updates existing profiles only)"
                outcomes.append((number, visitor, NOT_FOUND, reason))
                continue
            profile = found[visitor] = profiles.new_profile(tenant_id, kind, visitor, now)
            created.append((visitor, profile))
        try:
            profiles.apply_attributes(profile, values, now)
        except profiles.ProfileTooLarge as error:
            outcomes.append((number, visitor, FAILED, str(error)))
            continue
        outcomes.append((number, visitor, SUCCESS, None))
    if created:
        session.add_all(profile for _, profile in created)
        session.flush()
        session.add_all(
            row for visitor, profile in created for row in profiles.id_rows(kind, visitor, profile)
        )
    for number, visitor, status, message in outcomes:
        counts[status] += 1
        session.add(
            ProfileBatchRow(
                batch_id=batch_id,
                line=number,
                visitor=visitor[:256],
                status=status,
                message=message,
            )
        )
    batch = session.get(ProfileBatch, batch_id)
    assert batch is not None
    batch.consumed += len(chunk)
    batch.successful += counts[SUCCESS]
    batch.not_found += counts[NOT_FOUND]
    batch.failed += counts[FAILED]
