"""Real-time server-to-server: segment entries and exits sent to ``S2S`` destinations.

Two jobs, both idempotent:

* :func:`collect` (``dmp.s2s.collect``, ``CIBLE_DMP_S2S_WINDOW_SECONDS`` after a change that
  concerns a real-time destination, see ``cible.dmp.transfers.wake``, and every minute) reads the
  membership changes recorded since its cursor, keeps those of segments mapped to an active
  ``S2S`` destination, and writes one message per destination and 1 to ``maxUsersPerMessage``
  users in AAM's real-time JSON (Adobe Audience Manager, "Real-time outbound data transfers"):
  ``{ProcessTime, User_DPID, Client_ID, AAM_Destination_Id, User_count, Users:[{AAM_UUID,
  DataPartner_UUID, AAM_Regions, Segments:[{Segment_ID, Status, DateTime}]}]}``, numbers as JSON
  strings as in Adobe's sample. The messages, one ``dmp.s2s.send`` job each, and the cursor's
  advance are one transaction: a crash before its commit leaves the changes to the next run, a
  crash after it leaves the messages to the worker. A change is never in two messages.
* :func:`send` (``dmp.s2s.send``) posts one message, signed (HMAC over the body, base64, in the
  destination's header; "Digitally signed HTTP(S) requests") or with an OAuth 2.0 client
  credentials token ("OAuth integration"), with the message's ``Idempotency-Key`` header, the
  destination's timeout, through the SSRF-guarded client (``cible.jobs.outbound``). A failure is
  retried with the outbox's backoff up to ``maxAttempts``; then the message is a dead letter,
  listed and retried from ``/v1/destinations/{id}/dead-letters`` and ``cible dmp``.

Ids of ``dmp_membership_changes`` are taken in order, but on PostgreSQL a transaction may commit
a lower id after a higher one: the collector stops at a gap in the ids until the change after
it is ``GAP_GRACE_MS`` old (a gap that old is a rolled-back insert or a deleted change, never a
commit still to come). A user with any change is sent with every mapped segment they are in
besides the changed ones ("A new qualification sends all of the device's segments ... A
disqualification sends all qualifications and disqualifications", AAM, "Data action
components"; a real-time message "carries all of the user's segments"); each segment carries the
time of its change, by which a partner orders two messages that retries reordered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import ColumnElement, Connection, Table, and_, or_, select, update
from sqlalchemy.orm import Session

from cible.dmp.qualify import DeviceState
from cible.dmp.tables import Device, DeviceId, MembershipChange
from cible.dmp.transfers.tables import (
    DEAD,
    DELIVERED,
    PENDING,
    Destination,
    DestinationMapping,
    S2SMessage,
    TransferCursor,
)
from cible.dmp.transfers.wake import schedule_collect
from cible.errors import Conflict, NotFound
from cible.jobs import enqueue
from cible.jobs.outbound import OutboundBlocked
from cible.store import Database

SEND = "dmp.s2s.send"
CURSOR = "s2s"
GAP_GRACE_MS = 10_000
BATCH = 5_000
IDEMPOTENCY_HEADER = "Idempotency-Key"
# AAM's real-time sender calls itself so (AAM, "OAuth integration for real-time transfers").
USER_AGENT = "Cible (Adobe Audience Manager Iris compatible)"
_DIGESTS: dict[str, Callable[[], Any]] = {
    "HmacSHA1": hashlib.sha1,
    "HmacSHA256": hashlib.sha256,
    "HmacMD5": hashlib.md5,
}
_CHANGES: Table = MembershipChange.__table__  # type: ignore[assignment]
_IDS: Table = DeviceId.__table__  # type: ignore[assignment]
_DEVICES: Table = Device.__table__  # type: ignore[assignment]

ClientFactory = Callable[[float], httpx.Client]


def aam_time(ms: int) -> str:
    """AAM's ``ProcessTime`` form, e.g. ``Wed Jul 27 16:17:42 UTC 2016``."""
    return time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(ms / 1000))


def signature(algorithm: str, key: str, message: bytes) -> str:
    """``base64(HMAC(key, message))`` with AAM's algorithm names."""
    mac = hmac.new(key.encode(), message, _DIGESTS[algorithm])
    return base64.b64encode(mac.digest()).decode()


# -- collect ----------------------------------------------------------------------------------


@dataclass
class _Target:
    """An active S2S destination being filled: its mapped segments and users' changes."""

    dest: Destination
    config: dict[str, Any]
    sids: set[int]
    users: dict[str, dict[int, tuple[int, int]]] = field(default_factory=dict)  # uuid->sid->(st,ms)


def _take(rows: list[Any], position: int, now_ms: int) -> list[Any]:
    """The prefix of ``rows`` (ordered by id after ``position``) that may be consumed now."""
    taken = []
    expected = position + 1
    for row in rows:
        if row.id != expected and row.at_ms > now_ms - GAP_GRACE_MS:
            break  # a lower id may still commit
        taken.append(row)
        expected = row.id + 1
    return taken


def mapped_on(day: str) -> ColumnElement[bool]:
    """Mappings live on ``day`` (``yyyy-mm-dd``): started, not ended (AAM mapping dates)."""
    m = DestinationMapping
    return and_(
        or_(m.start_date.is_(None), m.start_date <= day),
        or_(m.end_date.is_(None), m.end_date == "", m.end_date >= day),
    )


def utc_day(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))


def _targets(session: Session, tenant_id: int, now_ms: int) -> list[_Target]:
    found = []
    for dest in session.scalars(
        select(Destination).where(
            Destination.tenant_id == tenant_id,
            Destination.destination_type == "S2S",
            Destination.status == "ACTIVE",
        )
    ):
        sids = set(
            session.scalars(
                select(DestinationMapping.sid).where(
                    DestinationMapping.destination_id == dest.id, mapped_on(utc_day(now_ms))
                )
            )
        )
        if sids:
            found.append(_Target(dest, orjson.loads(dest.config), sids))
    return found


def partner_ids(conn: Connection, tenant_id: int, uuid: str, dpid: int | None) -> list[str]:
    """Every id synced to ``uuid`` in the partner's namespace, most recent first; the AAM UUID
    itself for ``User_DPID`` 0."""
    if dpid is None:
        return [uuid]
    found = conn.execute(
        select(_IDS.c.external_id)
        .where(_IDS.c.tenant_id == tenant_id, _IDS.c.namespace == str(dpid), _IDS.c.uuid == uuid)
        .order_by(_IDS.c.updated_ms.desc(), _IDS.c.external_id)
    ).scalars()
    return [str(x) for x in found]


def user_entry(
    uuid: str, partner: str, region: int, segments: dict[int, tuple[str, int]]
) -> dict[str, Any]:
    """One ``Users`` item: ``segments`` maps a segment id to its ``(Status, epoch ms)``."""
    return {
        "AAM_UUID": uuid,
        "DataPartner_UUID": partner,
        "AAM_Regions": [str(region)],
        "Segments": [
            {"Segment_ID": str(sid), "Status": status, "DateTime": aam_time(at)}
            for sid, (status, at) in sorted(segments.items())
        ],
    }


def _current_segments(conn: Connection, tenant_id: int, uuid: str) -> dict[int, int]:
    raw = conn.execute(
        select(_DEVICES.c.state).where(_DEVICES.c.tenant_id == tenant_id, _DEVICES.c.uuid == uuid)
    ).scalar_one_or_none()
    return DeviceState.decode(raw).segments


def _users(
    conn: Connection, target: _Target, uuid: str, changes: dict[int, tuple[int, int]], region: int
) -> list[dict[str, Any]]:
    tenant_id = target.dest.tenant_id
    partners = partner_ids(conn, tenant_id, uuid, target.config.get("userDpid"))
    if not partners:
        return []  # no id synced in the partner's namespace: AAM sends nothing either
    segments = {sid: (str(status), at) for sid, (status, at) in changes.items()}
    latest = max(at for _, at in changes.values())
    for sid in _current_segments(conn, tenant_id, uuid):
        if sid in target.sids and sid not in segments:
            segments[sid] = ("1", latest)
    users = [user_entry(uuid, partners[0], region, segments)]
    # "Status:0 ... every synced partner ID receives it" (AAM, "Real-time outbound data
    # transfers"): ids synced before the latest one hear of the exits too.
    exits = {sid: entry for sid, entry in segments.items() if entry[0] == "0"}
    if exits:
        users += [user_entry(uuid, partner, region, exits) for partner in partners[1:]]
    return users


def chunks(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def users_per_message(config: dict[str, Any]) -> int:
    return int(config.get("maxUsersPerMessage") or 10)


def max_attempts(config: dict[str, Any]) -> int:
    return int(config.get("maxAttempts") or 8)


def message_body(
    config: dict[str, Any], destination_id: int, users: list[dict[str, Any]], now_ms: int
) -> str:
    """AAM's real-time JSON for ``users`` (1 to ``maxUsersPerMessage`` items)."""
    dpid = config.get("userDpid")
    body = {
        "ProcessTime": aam_time(now_ms),
        "User_DPID": str(dpid if dpid is not None else 0),
        "Client_ID": str(config.get("clientId") or ""),
        "AAM_Destination_Id": str(destination_id),
        "User_count": str(len(users)),
        "Users": users,
    }
    return orjson.dumps(body).decode()


def _messages(
    session: Session, target: _Target, region: int, now_ms: int, last_id: int
) -> list[S2SMessage]:
    conn = session.connection()
    users = [
        user
        for uuid, changes in sorted(target.users.items())
        for user in _users(conn, target, uuid, changes, region)
    ]
    out = []
    for n, chunk in enumerate(chunks(users, users_per_message(target.config))):
        message = S2SMessage(
            tenant_id=target.dest.tenant_id,
            destination_id=target.dest.id,
            # Unique: one collect run per cursor position; kept across retries.
            idempotency_key=f"{target.dest.tenant_id}.{target.dest.id}.{last_id}.{n}",
            body=message_body(target.config, target.dest.id, chunk, now_ms),
            users=len(chunk),
            state=PENDING,
            attempts=0,
            created_ms=now_ms,
        )
        session.add(message)
        out.append(message)
    return out


def collect(db: Database, now_ms: int, region: int) -> int:
    """Turns the membership changes since the cursor into messages; returns how many."""
    written = 0
    while True:
        with db.session() as session:
            cursor = session.get(TransferCursor, CURSOR)
            if cursor is None:
                session.add(TransferCursor(name=CURSOR, position=0))
                session.flush()
                position = 0
            else:
                position = int(cursor.position)
            fetched_rows = list(
                session.connection().execute(
                    select(_CHANGES)
                    .where(_CHANGES.c.id > position)
                    .order_by(_CHANGES.c.id)
                    .limit(BATCH)
                )
            )
            fetched = len(fetched_rows)
            rows = _take(fetched_rows, position, now_ms)
            if not rows:
                if fetched:
                    schedule_collect(session.connection(), timedelta(seconds=1))
                return written
            last_id = int(rows[-1].id)
            by_tenant: dict[int, list[Any]] = {}
            for row in rows:
                by_tenant.setdefault(int(row.tenant_id), []).append(row)
            for tenant_id, changes in sorted(by_tenant.items()):
                for target in _targets(session, tenant_id, now_ms):
                    for row in changes:
                        if row.segment_id in target.sids:
                            users = target.users.setdefault(row.uuid, {})
                            users[int(row.segment_id)] = (int(row.status), int(row.at_ms))
                    for message in _messages(session, target, region, now_ms, last_id):
                        session.flush()
                        enqueue(
                            session,
                            SEND,
                            {"message": message.id},
                            max_attempts=max_attempts(target.config),
                        )
                        written += 1
            # Compare-and-set: of two collectors that read the same position, one commits.
            moved = session.execute(
                update(TransferCursor)
                .where(TransferCursor.name == CURSOR, TransferCursor.position == position)
                .values(position=last_id)
                .execution_options(synchronize_session=False)
            )
            if getattr(moved, "rowcount", 0) != 1:
                # Another collector took these changes first: this run's messages roll back.
                session.rollback()
                return written
            if len(rows) < fetched:
                # Stopped at a gap: look again once a late commit may have landed.
                schedule_collect(session.connection(), timedelta(seconds=1))
        if fetched < BATCH:
            return written


# -- send -------------------------------------------------------------------------------------


class DeliveryFailed(Exception):
    """The partner did not accept the message; the outbox retries it."""


_TOKENS: dict[tuple[str, str], tuple[str, float]] = {}  # (token url, client id) -> (token, expiry)
_TOKENS_LOCK = threading.Lock()


def _token(http: httpx.Client, oauth: dict[str, Any], timeout: float) -> str:
    key = (str(oauth["tokenUrl"]), str(oauth["clientId"]))
    with _TOKENS_LOCK:
        cached = _TOKENS.get(key)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    basic = base64.b64encode(f"{oauth['clientId']}:{oauth['clientSecret']}".encode()).decode()
    response = http.post(
        key[0],
        content=b"grant_type=client_credentials",
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8",
        },
        timeout=timeout,
    )
    if response.status_code != 200:
        raise DeliveryFailed(f"token endpoint answered {response.status_code}")
    try:
        data = response.json()
        token = str(data["access_token"])
    except (ValueError, KeyError, TypeError):
        raise DeliveryFailed("token endpoint answered without an access_token") from None
    lifetime = float(data.get("expires_in") or 3600)
    with _TOKENS_LOCK:
        # Renewed a little before it expires, so a message never leaves with a dying token.
        _TOKENS[key] = (token, time.monotonic() + max(0.0, lifetime - 30))
    return token


def _forget_token(oauth: dict[str, Any]) -> None:
    with _TOKENS_LOCK:
        _TOKENS.pop((str(oauth["tokenUrl"]), str(oauth["clientId"])), None)


def _post(http: httpx.Client, config: dict[str, Any], message: S2SMessage) -> None:
    timeout = int(config.get("timeoutMs") or 3000) / 1000
    body = message.body.encode()
    headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: message.idempotency_key}
    signing = config.get("signature")
    if signing:
        headers[signing["header"]] = signature(signing["algorithm"], signing["key"], body)
    oauth = config.get("oauth")
    if oauth:
        headers["Authorization"] = f"Bearer {_token(http, oauth, timeout)}"
    response = http.post(str(config["url"]), content=body, headers=headers, timeout=timeout)
    if response.status_code == 401 and oauth:
        _forget_token(oauth)  # revoked or expired early: the next attempt asks for a new one
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"partner answered {response.status_code}")


def send(db: Database, message_id: int, client: ClientFactory, now_ms: int) -> bool:
    """Delivers one pending message; True when delivered (or already delivered)."""
    with db.session() as session:
        message = session.get(S2SMessage, message_id)
        if message is None or message.state != PENDING:
            return message is not None and message.state == DELIVERED
        dest = session.get(Destination, message.destination_id)
        assert dest is not None  # messages go with their destination (ON DELETE CASCADE)
        config = orjson.loads(dest.config)
        session.expunge(message)
    error: str | None = None
    try:
        with client(int(config.get("timeoutMs") or 3000) / 1000) as http:
            _post(http, config, message)
    except (DeliveryFailed, OutboundBlocked) as exc:
        error = str(exc)
    except httpx.TimeoutException as exc:
        error = f"timed out ({type(exc).__name__})"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    with db.session() as session:
        row = session.get(S2SMessage, message_id)
        if row is None:
            return False
        row.attempts += 1
        if error is None:
            row.state, row.delivered_ms, row.last_error = DELIVERED, now_ms, None
            return True
        row.last_error = error
        if row.attempts >= max_attempts(config):
            row.state = DEAD
    raise DeliveryFailed(f"message {message_id}: {error}")


# -- dead letters and history -----------------------------------------------------------------


def message_json(m: S2SMessage) -> dict[str, Any]:
    return {
        "messageId": m.id,
        "destinationId": m.destination_id,
        "idempotencyKey": m.idempotency_key,
        "state": m.state,
        "users": m.users,
        "attempts": m.attempts,
        "lastError": m.last_error,
        "createTime": m.created_ms,
        "deliveredTime": m.delivered_ms,
    }


def messages(
    session: Session,
    destination_id: int,
    *,
    state: str | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    limit: int = 1000,
) -> list[S2SMessage]:
    query = select(S2SMessage).where(S2SMessage.destination_id == destination_id)
    if state is not None:
        query = query.where(S2SMessage.state == state)
    if start_ms is not None:
        query = query.where(S2SMessage.created_ms >= start_ms)
    if end_ms is not None:
        query = query.where(S2SMessage.created_ms <= end_ms)
    return list(session.scalars(query.order_by(S2SMessage.id).limit(limit)))


def retry(session: Session, destination_id: int, message_id: int) -> S2SMessage:
    """Puts a dead letter back in the outbox with a fresh count of attempts."""
    message = session.scalar(
        select(S2SMessage).where(
            S2SMessage.destination_id == destination_id, S2SMessage.id == message_id
        )
    )
    if message is None:
        raise NotFound(f"message {message_id} of destination {destination_id} does not exist")
    if message.state != DEAD:
        raise Conflict(f"message {message_id} is {message.state}, not a dead letter")
    dest = session.get(Destination, destination_id)
    assert dest is not None
    message.state, message.attempts = PENDING, 0
    attempts = max_attempts(orjson.loads(dest.config))
    enqueue(session, SEND, {"message": message.id}, max_attempts=attempts)
    return message
