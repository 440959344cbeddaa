"""One delivery call: the visitor's state, the engine's decision, durable events, the response.

The call is a sans-I/O flow (``_flow``, a generator, as ``cible.sdk._flow``) that yields the two
things it needs from the database and is driven either on the event loop (``deliver_async``, the
HTTP route: no thread hop when the visitor's state is cached) or in the calling thread
(``deliver``). Its steps:

1. the visitor's state by every id he sent: from the per-process ``VisitorCache``, else read
   once (``_Load``); merge profiles (docs/profiles.md), start a session when ``sessionId``
   changes or the timeout passed, apply ``profileParameters`` and ``profile.*`` mbox parameters;
2. decide with ``cible.engine.decide`` on the artifact seen through the visitor's sticky A/B
   assignments, reusing the session's cached decision when nothing it depends on moved;
3. record assignments, impressions of executed decisions, notifications, conversions, orders;
4. write (``_Commit``): a compare-and-set of the visitor's state and the events appended to the
   event log, in one group commit shared with concurrent calls (``cible.events``). When the state
   moved since it was read (another request, worker or host), the flow reads it again and
   decides again, so no write is lost and a response only reports what is durable;
5. build Adobe's response (``cible.delivery.response``), then render its recommendations
   options (``cible.recs.serving``: reads the catalog, in a thread on the event loop).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import anyio
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from cible.delivery import trace
from cible.delivery.cache import DecisionCache, request_shape
from cible.delivery.events import EventBatch
from cible.delivery.geo import GeoLookup, with_geo
from cible.delivery.notify_plausible import Plausibility
from cible.delivery.qa import QaPreviews, QaRejected
from cible.delivery.recording import record_executed, record_notifications
from cible.delivery.reporting import ReportingAudiences
from cible.delivery.response import analytics_payload, build_response, located_decisions
from cible.delivery.seen import SeenNames
from cible.delivery.source import EMPTY_ARTIFACT, ArtifactSource
from cible.delivery.sticky import StickyIndex
from cible.dmp import targeting as aam
from cible.engine import EXTRA_KEY, Artifact, decide
from cible.events import DatabaseUnavailable, GroupCommitter, Record, append_records
from cible.ids import random_uuid
from cible.profiles import service as profiles
from cible.profiles import state
from cible.recs import serving as recs_serving
from cible.recs.behaviour import behaviour_records
from cible.store import Database
from cible.tenants.event_keys import TenantTokenKeys

__all__ = ["Delivery", "DeliveryRejected", "TenantRef", "analytics_payload"]

MAX_ATTEMPTS = 30
"""Reads and decisions of one call before it gives up on a visitor whose state keeps moving."""
BACKOFF_SECONDS = 0.002
"""First pause after a lost compare-and-set; it doubles (with jitter) up to ``MAX_BACKOFF``."""
MAX_BACKOFF_SECONDS = 0.1


class DeliveryRejected(ValueError):
    """A request refused after parsing (Adobe's 400 ``{"status", "message"}``)."""


@dataclass(frozen=True)
class TenantRef:
    id: int
    client_code: str
    # Origins allowed to call from a browser (CORS); None: any (cible.delivery.cors).
    origins: frozenset[str] | None = None


@dataclass
class _ArtifactFacts:
    """What the service derives once per loaded artifact."""

    artifact: Artifact
    sticky: StickyIndex
    served: frozenset[tuple[int, int]]
    plausible: Plausibility
    published: dict[str, tuple[int, int]]
    # The activities' reporting audiences (cible.delivery.reporting); None: the artifact has none.
    reporting: ReportingAudiences | None = None


@dataclass(frozen=True, slots=True)
class _Load:
    """The flow needs the stored state these ids lead to."""

    tenant_id: int
    keys: list[tuple[str, str]]
    aam_ids: aam.AamIds


@dataclass(frozen=True, slots=True)
class _Pause:
    """The flow lost a compare-and-set to another writer: wait before reading again."""

    seconds: float


@dataclass(frozen=True, slots=True)
class _Commit:
    """The flow needs its writes run in a group commit; it answers ``(profile id, version)``."""

    change: state.Change
    records: list[Record]
    now: datetime

    def unit(self, conn: Connection) -> tuple[int, int]:
        return _write(self.change, self.records, self.now, conn)


_Step = _Load | _Pause | _Commit
_Flow = Generator[_Step, Any, dict[str, Any]]


def _facts_of(artifact: Artifact) -> _ArtifactFacts:
    return _ArtifactFacts(
        artifact,
        StickyIndex(artifact),
        _served(artifact),
        Plausibility(artifact),
        _published(artifact),
        ReportingAudiences.of(artifact),
    )


def _served(artifact: Artifact) -> frozenset[tuple[int, int]]:
    pairs: set[tuple[int, int]] = set()
    for rules in (*artifact.mbox_rules.values(), *artifact.view_rules.values()):
        for rule in rules:
            try:
                pairs.add((int(rule.activity_id), int(rule.experience_id)))
            except (TypeError, ValueError):
                continue
    return frozenset(pairs)


def _published(artifact: Artifact) -> dict[str, tuple[int, int]]:
    """The event tokens the artifact hands out, and the experience each stands for."""
    found: dict[str, tuple[int, int]] = {}
    for rules in (*artifact.mbox_rules.values(), *artifact.view_rules.values()):
        for rule in rules:
            try:
                pair = (int(rule.activity_id), int(rule.experience_id))
            except (TypeError, ValueError):
                continue
            tokens = [*rule.display_tokens, *(m.get("eventToken") for m in rule.click_metrics)]
            for token in tokens:
                if isinstance(token, str) and token:
                    found.setdefault(token, pair)
    return found


def _write(
    change: state.Change, records: list[Record], now: datetime, conn: Connection
) -> tuple[int, int]:
    written = state.write(conn, change, now)
    if records:
        append_records(conn, records)
    return written


def _write_all(commits: list[_Commit], conn: Connection) -> list[tuple[int, int] | state.Conflict]:
    """Many visitors' writes as one unit of the group commit, each failing alone.

    A visitor whose state moved fails at its compare-and-set, before writing anything; only a
    write that creates a profile, claims ids or merges profiles can fail half-way, so only those
    run inside a savepoint of their own. The events of the visitors written are appended at the
    end, in one statement.
    """
    outcomes: list[tuple[int, int] | state.Conflict] = []
    records: list[Record] = []
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        for commit in commits:
            change = commit.change
            guarded = bool(change.created or change.new_keys or change.losers)
            if guarded:
                cursor.execute("SAVEPOINT cible_visitor")
            try:
                outcomes.append(state.write(conn, change, commit.now))
            except state.Conflict as conflict:
                if guarded:
                    cursor.execute("ROLLBACK TO SAVEPOINT cible_visitor")
                outcomes.append(conflict)
            else:
                records.extend(commit.records)
            if guarded:
                cursor.execute("RELEASE SAVEPOINT cible_visitor")
    finally:
        cursor.close()
    if records:
        append_records(conn, records)
    return outcomes


def _profile_updates(request: Mapping[str, Any]) -> dict[str, str]:
    updates: dict[str, str] = {}
    for detail in _details(request, with_notifications=True):
        for name, value in (detail.get("profileParameters") or {}).items():
            updates[name] = value
        for name, value in (detail.get("parameters") or {}).items():
            if name.startswith("profile."):
                updates[name.removeprefix("profile.")] = value
    return updates


def _details(request: Mapping[str, Any], *, with_notifications: bool) -> Iterator[Any]:
    for mode in ("execute", "prefetch"):
        block = request.get(mode) or {}
        if block.get("pageLoad") is not None:
            yield block["pageLoad"]
        yield from block.get("mboxes") or ()
        yield from block.get("views") or ()
    if with_notifications:
        yield from request.get("notifications") or ()


def _without_profile_parameters(request: dict[str, Any]) -> dict[str, Any]:
    # ``profile.*`` mbox parameters are profile updates (Adobe, at.js 1.x style), not mbox.*.
    copy = dict(request)
    for mode in ("execute", "prefetch"):
        block = copy.get(mode)
        if not block:
            continue
        block = dict(block)
        for key in ("mboxes", "views"):
            if block.get(key):
                block[key] = [_strip(detail) for detail in block[key]]
        if block.get("pageLoad") is not None:
            block["pageLoad"] = _strip(block["pageLoad"])
        copy[mode] = block
    return copy


def _strip(detail: Mapping[str, Any]) -> Mapping[str, Any]:
    parameters = detail.get("parameters")
    if not parameters or not any(name.startswith("profile.") for name in parameters):
        return detail
    kept = {k: v for k, v in parameters.items() if not k.startswith("profile.")}
    return {**detail, "parameters": kept}


class Delivery:
    """The delivery service of one app: artifact source, caches, group commit, database."""

    def __init__(
        self,
        db: Database,
        source: ArtifactSource,
        *,
        committer: GroupCommitter | None = None,
        states: state.VisitorCache | None = None,
        session_timeout_seconds: int = 1800,
        environment: str = "production",
        clock: Callable[[], datetime] | None = None,
        cache: DecisionCache | None = None,
        seen: SeenNames | None = None,
        token_keys: TenantTokenKeys | None = None,
        geo_lookup: GeoLookup | None = None,
        segments: aam.SegmentCache | None = None,
        trace_gate: trace.TraceGate | None = None,
    ) -> None:
        self.db = db
        # Which requests' trace.authorizationToken is valid (cible.delivery.trace).
        self.trace_gate = trace_gate
        # The visitors' audience manager profiles, cached beside their Target state (their
        # segments are resolved server-side, cible.dmp.targeting).
        self.segments = segments if segments is not None else aam.SegmentCache()
        self.source = source
        self.committer = committer if committer is not None else GroupCommitter(db.engine)
        self.states = states if states is not None else state.VisitorCache()
        self.session_timeout_seconds = session_timeout_seconds
        self.environment = environment
        self.clock = clock or (lambda: datetime.now(UTC))
        self.cache = cache if cache is not None else DecisionCache()
        self.seen = seen if seen is not None else SeenNames(db)
        self.token_keys = token_keys
        self.geo_lookup = geo_lookup
        # Requests with qaMode preview activities under QA (cible.delivery.qa).
        self.qa = QaPreviews(db, token_keys or TenantTokenKeys(db, clock=self.clock), self.clock)
        self._facts: dict[int, _ArtifactFacts] = {}
        self._locks: dict[tuple[int, str, str], tuple[asyncio.Lock, int]] = {}

    def close(self) -> None:
        """Finish pending writes and stop the group commit."""
        self.committer.close()

    def facts(self, artifact: Artifact) -> _ArtifactFacts:
        facts = self._facts.get(id(artifact))
        if facts is None or facts.artifact is not artifact:
            if len(self._facts) > 256:
                self._facts.clear()
            facts = _facts_of(artifact)
            self._facts[id(artifact)] = facts
        return facts

    # Drivers -------------------------------------------------------------------------------

    def deliver(
        self,
        tenant: TenantRef,
        request: dict[str, Any],
        session_id: str,
        edge_host: str | None,
    ) -> dict[str, Any] | None:
        """The response for a validated request, blocking the calling thread; None for a beacon."""
        token = (request.get("property") or {}).get("token") or ""
        artifact = self._artifact(tenant, token)
        facts, qa = self._qa_facts(tenant, request, self.facts(artifact))
        flow = self._flow(tenant, request, session_id, facts, qa)
        reply: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = flow.send(reply) if error is None else flow.throw(error)
            except StopIteration as done:
                response: dict[str, Any] = done.value
                break
            reply, error = None, None
            try:
                if isinstance(step, _Load):
                    reply = self._load(step)
                elif isinstance(step, _Pause):
                    time.sleep(step.seconds)
                else:
                    reply = self.committer.submit(step.unit).result()
            except (state.Conflict, DatabaseUnavailable) as exc:
                error = exc
        recs_serving.fill(self.db, tenant.id, request, response, self.clock())
        return self._finish(tenant, request, response, edge_host)

    async def deliver_async(
        self,
        tenant: TenantRef,
        request: dict[str, Any],
        session_id: str,
        edge_host: str | None,
    ) -> dict[str, Any] | None:
        """As ``deliver``, on the event loop: reads the database in a thread only on a cache miss.

        Calls for one visitor in this process run one after another (a lock per id), so they
        do not race each other's compare-and-set; other processes are kept honest by it.
        """
        token = (request.get("property") or {}).get("token") or ""
        facts, qa = await self._facts_for(tenant, token), None
        if request.get("qaMode") is not None:
            facts, qa = await anyio.to_thread.run_sync(self._qa_facts, tenant, request, facts)
        flow = self._flow(tenant, request, session_id, facts, qa)
        keys = profiles.VisitorIds.from_request(request.get("id")).keys()
        lock_key = (tenant.id, *keys[0]) if keys else None
        lock = self._lock(lock_key)
        try:
            async with lock if lock is not None else _NO_LOCK:
                reply: Any = None
                error: BaseException | None = None
                while True:
                    try:
                        step = flow.send(reply) if error is None else flow.throw(error)
                    except StopIteration as done:
                        response: dict[str, Any] = done.value
                        break
                    reply, error = None, None
                    try:
                        if isinstance(step, _Load):
                            reply = await anyio.to_thread.run_sync(self._load, step)
                        elif isinstance(step, _Pause):
                            await asyncio.sleep(step.seconds)
                        else:
                            reply = await self.committer.run(step.unit)
                    except (state.Conflict, DatabaseUnavailable) as exc:
                        error = exc
        finally:
            self._unlock(lock_key)
        if self._note_seen(tenant.id, request):
            asyncio.get_running_loop().run_in_executor(None, self.seen.flush)
        await recs_serving.fill_async(self.db, tenant.id, request, response, self.clock())
        return self._shape(request, response, edge_host)

    async def deliver_many(
        self, tenant: TenantRef, calls: list[tuple[dict[str, Any], str]]
    ) -> list[dict[str, Any] | Exception | None]:
        """Many visitors' calls ``(request, session id)`` at once; one result each, in order.

        The calls' flows advance together: the states none of them had cached are read in one
        thread hop, and their writes go to the group commit as one unit, each visitor's failing
        alone (``_write_all``). This is what lets ``/rest/v1/notifications`` record a batch of
        hundreds of visitors for the cost of a few delivery calls. A result is the response, or
        the ``DeliveryRejected`` / ``DatabaseUnavailable`` that ended that call.
        """
        facts: dict[str, _ArtifactFacts] = {}
        flows = []
        results: list[dict[str, Any] | Exception | None] = [None] * len(calls)
        replies: dict[int, tuple[Any, BaseException | None]] = {}
        for index, (request, session_id) in enumerate(calls):
            token = (request.get("property") or {}).get("token") or ""
            if token not in facts:
                facts[token] = await self._facts_for(tenant, token)
            chosen, qa = facts[token], None
            if request.get("qaMode") is not None:
                try:
                    chosen, qa = await anyio.to_thread.run_sync(
                        self._qa_facts, tenant, request, chosen
                    )
                except DeliveryRejected as exc:
                    results[index] = exc
            flows.append(self._flow(tenant, request, session_id, chosen, qa))
            if results[index] is None:
                replies[index] = (None, None)
        while replies:
            steps: dict[int, _Step] = {}
            for index, (reply, error) in replies.items():
                flow = flows[index]
                try:
                    step = flow.send(reply) if error is None else flow.throw(error)
                except StopIteration as done:
                    results[index] = self._shape(calls[index][0], done.value, None)
                except (DeliveryRejected, DatabaseUnavailable) as exc:
                    results[index] = exc
                else:
                    steps[index] = step
            replies = {}
            loads = [(i, step) for i, step in steps.items() if isinstance(step, _Load)]
            commits = [(i, step) for i, step in steps.items() if isinstance(step, _Commit)]
            pauses = [(i, step) for i, step in steps.items() if isinstance(step, _Pause)]
            if loads:
                try:
                    found = await anyio.to_thread.run_sync(
                        self._load_many, [step for _, step in loads]
                    )
                    replies.update(
                        {i: (value, None) for (i, _), value in zip(loads, found, strict=True)}
                    )
                except DatabaseUnavailable as exc:
                    replies.update({i: (None, exc) for i, _ in loads})
            if commits:
                batch = [step for _, step in commits]
                try:
                    outcomes: list[Any] = await self.committer.run(partial(_write_all, batch))
                except DatabaseUnavailable as exc:
                    outcomes = [exc] * len(batch)
                for (index, _), outcome in zip(commits, outcomes, strict=True):
                    failed = isinstance(outcome, BaseException)
                    replies[index] = (None, outcome) if failed else (outcome, None)
            if pauses:
                await asyncio.sleep(max(step.seconds for _, step in pauses))
                replies.update({i: (None, None) for i, _ in pauses})
        due = False
        for request, _ in calls:
            due = self._note_seen(tenant.id, request) or due
        if due:
            asyncio.get_running_loop().run_in_executor(None, self.seen.flush)
        return results

    async def _facts_for(self, tenant: TenantRef, token: str) -> _ArtifactFacts:
        """The artifact's facts, from memory when the source can say, else read in a thread."""
        peek = getattr(self.source, "peek", None)
        artifact: Artifact | None = None
        if peek is not None:
            artifact = peek(tenant.id, self.environment, token)
        if artifact is None:
            artifact = await anyio.to_thread.run_sync(self._artifact, tenant, token)
        keys = self.token_keys
        if keys is not None and not keys.fresh(tenant.id):
            await anyio.to_thread.run_sync(keys.get, tenant.id)  # the flow then reads memory
        return self.facts(artifact)

    def _qa_facts(
        self, tenant: TenantRef, request: Mapping[str, Any], facts: _ArtifactFacts
    ) -> tuple[_ArtifactFacts, frozenset[int] | None]:
        """The facts a request with ``qaMode`` decides with, and the activities under QA."""
        if request.get("qaMode") is None:
            return facts, None
        try:
            preview = self.qa.prepare(tenant.id, tenant.client_code, request, facts.artifact)
        except QaRejected as error:
            raise DeliveryRejected(str(error)) from None
        return _facts_of(preview.artifact), preview.activity_ids

    def _load_many(self, steps: list[_Load]) -> list[tuple[state.Loaded, aam.Snapshot]]:
        try:
            with self.db.engine.connect() as conn:
                return [
                    (
                        state.load(conn, step.tenant_id, step.keys),
                        aam.load(conn, step.tenant_id, step.aam_ids),
                    )
                    for step in steps
                ]
        except DBAPIError as error:
            raise DatabaseUnavailable(f"the database could not be read: {error.orig}") from None

    def _lock(self, key: tuple[int, str, str] | None) -> asyncio.Lock | None:
        if key is None:
            return None
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        return lock

    def _unlock(self, key: tuple[int, str, str] | None) -> None:
        if key is None:
            return
        lock, users = self._locks[key]
        if users <= 1:
            del self._locks[key]
        else:
            self._locks[key] = (lock, users - 1)

    def _artifact(self, tenant: TenantRef, token: str) -> Artifact:
        if token:
            artifact = self.source.get(tenant.id, tenant.client_code, self.environment, token)
        else:
            artifact = self.source.get(tenant.id, tenant.client_code, self.environment)
        return artifact if artifact is not None else EMPTY_ARTIFACT

    def _load(self, step: _Load) -> tuple[state.Loaded, aam.Snapshot]:
        return self._load_many([step])[0]

    def _finish(
        self,
        tenant: TenantRef,
        request: dict[str, Any],
        response: dict[str, Any],
        edge_host: str | None,
    ) -> dict[str, Any] | None:
        if self._note_seen(tenant.id, request):
            self.seen.flush()
        return self._shape(request, response, edge_host)

    @staticmethod
    def _shape(
        request: dict[str, Any], response: dict[str, Any], edge_host: str | None
    ) -> dict[str, Any] | None:
        if edge_host:
            response["edgeHost"] = edge_host
        context = request.get("context") or {}
        return None if context.get("beacon") is True else response

    # The flow ------------------------------------------------------------------------------

    def _flow(
        self,
        tenant: TenantRef,
        request: dict[str, Any],
        session_id: str,
        facts: _ArtifactFacts,
        qa: frozenset[int] | None = None,
    ) -> _Flow:
        now = self.clock()
        request_id = request.get("requestId") or random_uuid()
        updates = _profile_updates(request)
        ids = profiles.VisitorIds.from_request(request.get("id"))
        keys = ids.keys()
        # Segments matter only to decisions: a notifications-only call reads none.
        deciding = bool(request.get("execute") or request.get("prefetch"))
        aam_ids = aam.request_ids(request) if deciding else aam.AamIds()
        for attempt in range(MAX_ATTEMPTS):
            loaded = self._cached(tenant.id, keys) if attempt == 0 else None
            segments = self.segments.get(tenant.id, aam_ids) if attempt == 0 else None
            if loaded is None or segments is None:
                loaded, segments = yield _Load(tenant.id, keys, aam_ids)
                self.segments.put(tenant.id, aam_ids, segments)
            visit = profiles.open_state(
                tenant.id, ids, loaded, session_id, now, self.session_timeout_seconds
            )
            before = visit.engine_profile() if "trace" in request else None
            if qa is not None:
                # A QA call writes no assignment, and the visitor's own ones in the activities
                # under QA do not decide what QA shows (cible.delivery.qa).
                real = dict(visit.assignments), dict(visit.new_assignments)
                for activity in qa:
                    visit.assignments.pop(activity, None)
            if updates:
                try:
                    visit.set_attributes(updates, int(now.timestamp() * 1000))
                except profiles.ProfileTooLarge as error:
                    raise DeliveryRejected(str(error)) from None
            in_segments = segments.segments(int(now.timestamp() * 1000))
            decision, located = self._decide(
                tenant, request, request_id, session_id, visit, facts, now, in_segments, qa
            )
            reasons = decision.pop(trace.REASONS_KEY, None)
            if reasons is not None:
                trace.attach(
                    decision, reasons, request, facts.artifact, before or {}, visit.engine_profile()
                )
            batch = EventBatch(
                tenant.id, profiles.tnt_key(visit.tnt_id), session_id, qa=qa is not None
            )
            global_mbox = facts.artifact.global_mbox
            record_executed(batch, request, located, visit, request_id, now, global_mbox)
            acked, rejected = record_notifications(
                batch,
                request,
                facts,
                visit,
                self.token_keys.get(tenant.id) if self.token_keys is not None else (),
                tenant.client_code,
            )
            reporting = facts.reporting if qa is None else None  # QA traffic is never reported
            if reporting is not None and reporting.concerns(batch):
                probe = self._engine_request(request, request_id, visit, in_segments)
                locations = list(_details(probe, with_notifications=False))
                locations += [_strip(n) for n in request.get("notifications") or ()]
                reporting.tag(
                    batch, probe, locations, visit.engine_profile(), now, tenant.client_code
                )
            if qa is not None:
                for held, saved in ((visit.assignments, real[0]), (visit.new_assignments, real[1])):
                    held.clear()
                    held.update(saved)
            change = profiles.change_of(tenant.id, visit, now)
            try:
                # Recommendations: entity parameters and purchases, for the recs consumer.
                records = batch.records()
                if qa is None:  # QA traffic teaches recommendations nothing
                    records += behaviour_records(tenant.id, batch.visitor, session_id, request, now)
                profile_id, version = yield _Commit(change, records, now)
            except state.Conflict:
                self.states.forget(tenant.id, [*keys, *visit.known_keys])
                self.segments.forget(tenant.id, aam_ids)
                if attempt:
                    # Another process keeps winning: spread the retries out (jittered backoff).
                    ceiling = min(MAX_BACKOFF_SECONDS, BACKOFF_SECONDS * 2**attempt)
                    yield _Pause(random.uniform(0, ceiling))
                continue
            self.states.put(tenant.id, profiles.snapshot_after(visit, profile_id, version))
            return build_response(
                tenant.client_code,
                request,
                request_id,
                visit.tnt_id,
                decision,
                located,
                visit.engine_profile(),
                facts.artifact,
                acked,
                rejected,
            )
        raise DatabaseUnavailable("this visitor's profile is being changed by too many requests")

    def _cached(self, tenant_id: int, keys: list[tuple[str, str]]) -> state.Loaded | None:
        if not keys:
            return state.Loaded()
        snapshot = self.states.get(tenant_id, keys)
        if snapshot is None:
            return None
        assert snapshot.row.id is not None
        profile_id = snapshot.row.id
        return state.Loaded({profile_id: snapshot}, {kind: profile_id for kind, _ in keys})

    def _decide(
        self,
        tenant: TenantRef,
        request: dict[str, Any],
        request_id: str,
        session_id: str,
        visit: profiles.Visit,
        facts: _ArtifactFacts,
        now: datetime,
        segments: list[str],
        qa: frozenset[int] | None = None,
    ) -> tuple[dict[str, Any], Any]:
        if not request.get("execute") and not request.get("prefetch"):
            return {}, {}  # notifications only: nothing to decide
        engine_request = self._engine_request(request, request_id, visit, segments)
        key = (tenant.id, session_id, visit.tnt_id, request_shape(engine_request))
        fingerprint = visit.fingerprint()
        tracing = self.trace_gate is not None and self.trace_gate.authorized(tenant.id, request)
        fresh = tracing or qa is not None  # never cached: the artifact is this call's own
        cached = None if fresh else self.cache.get(key, facts.artifact, fingerprint)
        if cached is not None:
            decision = dict(cached)
        else:
            artifact = facts.sticky.view(visit.assignments)
            decision = decide(
                artifact,
                engine_request,
                profile=visit.engine_profile(),
                now=now,
                client=tenant.client_code,
                trace=tracing,
            )
            if not fresh:
                self.cache.put(key, facts.artifact, fingerprint, decision)
        extra = decision.pop(EXTRA_KEY, {})
        if tracing:
            decision[trace.REASONS_KEY] = extra.get("reasons", [])
        located = located_decisions(extra.get("reasons", ()))
        for pairs in located.values():
            for activity, experience in pairs:
                visit.assign(activity, experience)
        return decision, located

    def _engine_request(
        self,
        request: Mapping[str, Any],
        request_id: str,
        visit: profiles.Visit,
        segments: list[str],
    ) -> dict[str, Any]:
        """The request as the engine decides it: the visitor's tntId, server-side segments and
        geo, ``profile.*`` parameters taken out (they are profile updates), no notifications."""
        sent_ids = dict(request.get("id") or {})
        sent_ids["tntId"] = visit.tnt_id
        # The engine reads segments.ids from experienceCloud.audienceManager.segments: the
        # segments resolved here, server-side, replace any list a client sent (docs/engine.md).
        cloud = request.get("experienceCloud")
        cloud = dict(cloud) if isinstance(cloud, Mapping) else {}
        manager = cloud.get("audienceManager")
        manager = dict(manager) if isinstance(manager, Mapping) else {}
        manager["segments"] = segments
        cloud["audienceManager"] = manager
        engine_request = _without_profile_parameters(
            {**request, "id": sent_ids, "requestId": request_id, "experienceCloud": cloud}
        )
        engine_request.pop("notifications", None)
        if self.geo_lookup is not None and isinstance(request.get("context"), dict):
            engine_request["context"] = with_geo(request["context"], self.geo_lookup)
        return engine_request

    def _note_seen(self, tenant_id: int, request: Mapping[str, Any]) -> bool:
        """Buffer the request's mbox and profile names; True when a flush is due."""
        mboxes: dict[str, set[str]] = {}
        for mode in ("execute", "prefetch"):
            for mbox in (request.get(mode) or {}).get("mboxes") or ():
                params = mbox.get("parameters") or {}
                mboxes.setdefault(mbox["name"], set()).update(
                    name for name in params if not name.startswith("profile.")
                )
        for notification in request.get("notifications") or ():
            name = (notification.get("mbox") or {}).get("name")
            if name:
                mboxes.setdefault(name, set())
        updates = _profile_updates(request)
        return bool(mboxes or updates) and self.seen.add(tenant_id, mboxes, updates)


class _NoLock:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *_: object) -> None:
        return None


_NO_LOCK = _NoLock()
