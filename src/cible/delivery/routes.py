"""``POST /rest/v1/delivery``: Adobe's delivery API (no authentication, as Adobe's).

The body is decoded with orjson and checked by ``validate`` (no pydantic on this hot path,
docs/delivery.md); errors use Adobe's delivery error shape ``{"status": 400, "message": ...}`` with
the same HTTP status. The tenant comes from ``client`` (at.js) or ``imsOrgId`` (Adobe's SDKs).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson
from fastapi import APIRouter
from sqlalchemy import or_, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cible.delivery import cors
from cible.delivery.cache import DecisionCache
from cible.delivery.geo import with_caller_address
from cible.delivery.service import Delivery, DeliveryRejected, TenantRef
from cible.delivery.source import StoreArtifactSource
from cible.delivery.trace import TraceGate
from cible.delivery.validate import InvalidRequest, check_request, check_session_id
from cible.events import DatabaseUnavailable, GroupCommitter
from cible.profiles.state import VisitorCache
from cible.store import Database
from cible.tenants.event_keys import TenantTokenKeys
from cible.tenants.tables import Tenant

router = APIRouter(tags=["delivery"])

TENANT_TTL_SECONDS = 30.0
SINGLE_PARAMETERS = ("client", "imsOrgId", "sessionId", "version")
BATCH_HEADER = {"X-Cible-Notifications": "batch"}
"""Tells ``cible.sdk`` (``notification_endpoint="auto"``) that ``/rest/v1/notifications`` exists."""
MAX_CONCURRENT_PER_SESSION = 100  # Adobe: over 100 concurrent requests of one session get 420


def error_response(status: int, message: str) -> Response:
    """Adobe's delivery error body (Delivery API OpenAPI, ``UnexpectedError``)."""
    body = orjson.dumps({"status": status, "message": message})
    return Response(body, status_code=status, media_type="application/json")


def with_cors(request: Request, response: Response) -> Response:
    """at.js calls the delivery API from the page: echo its origin, allow its cookies.

    As Adobe's edge answers browser callers (``Access-Control-Allow-Origin: <page origin>``,
    ``Access-Control-Allow-Credentials: true``); nothing is added for server-side callers.
    """
    origin = request.headers.get("origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Vary"] = "Origin"
    return response


class TenantDirectory:
    """Client codes and organization ids to tenants, cached for ``TENANT_TTL_SECONDS``."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[tuple[str, str], tuple[TenantRef | None, float]] = {}
        self._lock = threading.Lock()

    def cached(self, client: str | None, org_id: str | None) -> tuple[bool, TenantRef | None]:
        """``(True, tenant or None)`` when cached and fresh, else ``(False, None)``."""
        hit = self._cache.get((client or "", org_id or ""))
        if hit is not None and time.monotonic() - hit[1] < TENANT_TTL_SECONDS:
            return True, hit[0]
        return False, None

    def find(self, client: str | None, org_id: str | None) -> TenantRef | None:
        key = (client or "", org_id or "")
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[1] < TENANT_TTL_SECONDS:
            return hit[0]
        query = select(Tenant.id, Tenant.client_code, Tenant.delivery_origins)
        conditions = []
        if client:
            conditions.append(Tenant.client_code == client)
        if org_id:
            conditions.append(Tenant.organization_id == org_id)
        with self.db.session() as session:
            row = session.execute(query.where(or_(*conditions)).limit(1)).first()
        found = None
        if row is not None:
            origins = None if row[2] is None else frozenset(row[2])
            found = TenantRef(row[0], row[1], origins)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (found, now)
        return found


class SessionGate:
    """Counts a session's requests in flight; Adobe answers 420 beyond 100 (per replica here).

    >>> gate = SessionGate(limit=1)
    >>> gate.enter("s"), gate.enter("s"), gate.leave("s"), gate.enter("s")
    (True, False, None, True)
    """

    def __init__(self, limit: int = MAX_CONCURRENT_PER_SESSION) -> None:
        self.limit = limit
        self._in_flight: dict[Any, int] = {}
        self._lock = threading.Lock()

    def enter(self, key: Any) -> bool:
        with self._lock:
            count = self._in_flight.get(key, 0)
            if count >= self.limit:
                return False
            self._in_flight[key] = count + 1
            return True

    def leave(self, key: Any) -> None:
        with self._lock:
            count = self._in_flight.get(key, 0) - 1
            if count > 0:
                self._in_flight[key] = count
            else:
                self._in_flight.pop(key, None)


def runtime(request: Request) -> tuple[Delivery, TenantDirectory]:
    """The app's delivery service, built on first use from ``app.state``."""
    return runtime_of(request.app)


def runtime_of(app: Any) -> tuple[Delivery, TenantDirectory]:
    """``runtime`` for an app object (the ASGI fast path has no ``Request``)."""
    state = app.state
    delivery = getattr(state, "delivery", None)
    if delivery is None:
        settings = state.settings
        source = getattr(state, "artifact_source", None) or StoreArtifactSource(state.db)
        committer = getattr(state, "committer", None)
        if committer is None:
            # One group commit per app, shared with the audience manager's /event: on SQLite a
            # second writer thread would only wait for the first one's lock.
            committer = GroupCommitter(
                state.db.engine, deadline_seconds=settings.database_deadline_seconds
            )
            state.committer = committer
        delivery = Delivery(
            state.db,
            source,
            committer=committer,
            seen=getattr(state, "seen_names", None),
            cache=DecisionCache(max_bytes=settings.decision_cache_bytes),
            states=VisitorCache(settings.visitor_cache_bytes),
            session_timeout_seconds=settings.session_timeout_seconds,
            environment=settings.delivery_environment,
            clock=state.clock,
            geo_lookup=getattr(state, "geo_lookup", None),
            trace_gate=TraceGate(state.db, key=settings.secret_key, clock=state.clock),
            token_keys=TenantTokenKeys(state.db, clock=state.clock),
        )
        state.delivery = delivery
        state.tenant_directory = TenantDirectory(state.db)
        if getattr(state, "session_gate", None) is None:
            state.session_gate = SessionGate()
        # Buffered mbox names are flushed when the server stops (FastAPI runs these handlers
        # from its default lifespan), so a quiet server does not keep them forever.
        app.router.on_shutdown.append(delivery.seen.flush)
        app.router.on_shutdown.append(delivery.close)
    return delivery, state.tenant_directory


def edge_host(request: Request) -> str:
    """The ``Host`` the caller used, unless Adobe's SDKs would read a cluster from it.

    ``extract_cluster_from_edge_host`` (target-python-sdk) takes any host of exactly four
    dot-separated parts as ``mboxedge<cluster>.tt.omtrdc.net`` and reroutes later calls there;
    an IPv4 host (``127.0.0.1:8080``) has four, so Cible answers ``cible`` instead.
    """
    return edge_host_of(request.headers.get("host", ""))


def edge_host_of(host: str) -> str:
    """``edge_host`` from the ``Host`` header's value."""
    if not host or len(host.split(".")) == 4:
        return "cible"
    return host


@router.post(
    "/rest/v1/delivery",
    summary="Decide execute/prefetch requests and record notifications (Adobe Delivery API)",
    responses={
        200: {"description": "DeliveryResponse"},
        204: {"description": "beacon request"},
        400: {"description": '{"status": 400, "message": "<field>: <problem>"}'},
        403: {"description": "an Origin the tenant does not list (docs/security.md)"},
        413: {"description": "body over CIBLE_MAX_BODY_BYTES"},
        503: {"description": '{"status": 503, "message": ...}: database locked or full'},
    },
)
async def deliver(request: Request) -> Response:
    refused = await origin_refusal(request)
    if refused is not None:
        return refused
    return with_cors(request, await _deliver(request))


async def origin_refusal(request: Request) -> Response | None:
    """The 403 for an origin the tenant does not list (``cible.delivery.cors``), else None."""
    origin = request.headers.get("origin")
    directory = runtime(request)[1]
    if not await cors.refused(directory, request.query_params.multi_items(), origin):
        return None
    body = cors.refusal(origin or "")
    return Response(body, status_code=cors.STATUS, media_type="application/json")


@router.options(
    "/rest/v1/delivery",
    summary="CORS preflight of the delivery API (at.js)",
    responses={403: {"description": "an origin the tenant does not list (no CORS headers)"}},
)
async def preflight(request: Request) -> Response:
    refused = await origin_refusal(request)
    if refused is not None:
        return refused
    response = Response(status_code=204)
    response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    asked = request.headers.get("access-control-request-headers")
    response.headers["Access-Control-Allow-Headers"] = asked or "Content-Type"
    response.headers["Access-Control-Max-Age"] = "600"
    return with_cors(request, response)


async def _deliver(request: Request) -> Response:
    status, body = await answer(
        request.app,
        request.query_params.multi_items(),
        await request.body(),
        request.headers.get("host", ""),
        request.client.host if request.client else None,
    )
    if body is None:
        return Response(status_code=status, headers=BATCH_HEADER)
    headers = BATCH_HEADER if status == 200 else None
    return Response(body, status_code=status, media_type="application/json", headers=headers)


async def answer(
    app: Any, query: list[tuple[str, str]], raw: bytes, host: str, caller: str | None = None
) -> tuple[int, bytes | None]:
    """Status and JSON body of one delivery call (``None``: no body, a beacon's 204).

    Shared by the route and by ``cible.delivery.asgi``, which serves the same answers without
    the framework's per-request layers. ``caller`` is the client's IP address, looked up for
    geo when the request gives none (``cible.delivery.geo``).
    """
    params = dict(query)
    client, org_id = params.get("client"), params.get("imsOrgId")
    try:
        for name in SINGLE_PARAMETERS:
            if sum(1 for key, _ in query if key == name) > 1:
                # Two tenants or two sessions in one call: refuse rather than pick one.
                raise InvalidRequest(f"{name}: must be given once")
        session_id = check_session_id(params.get("sessionId"))
        if not client and not org_id:
            raise InvalidRequest("client: client or imsOrgId is required")
        try:
            body: Any = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise InvalidRequest(f"request: malformed JSON ({error.msg})") from None
        check_request(body)
    except InvalidRequest as error:
        return _error(400, str(error))
    delivery, directory = runtime_of(app)
    if caller is not None and delivery.geo_lookup is not None:
        with_caller_address(body, caller)
    known, tenant = directory.cached(client, org_id)
    if not known:
        tenant = await run_in_threadpool(directory.find, client, org_id)
    if tenant is None:
        which = f"client {client}" if client else f"imsOrgId {org_id}"
        return _error(400, f"Unknown {which}")
    gate: SessionGate = app.state.session_gate
    key = (tenant.id, session_id)
    if not gate.enter(key):
        return _error(420, "Too many requests with same session ID")
    try:
        response = await delivery.deliver_async(tenant, body, session_id, edge_host_of(host))
    except DeliveryRejected as error:
        return _error(400, str(error))
    except DatabaseUnavailable as error:
        return _error(503, str(error))
    finally:
        gate.leave(key)
    if response is None:
        return 204, None
    return 200, orjson.dumps(response)


def _error(status: int, message: str) -> tuple[int, bytes]:
    return status, orjson.dumps({"status": status, "message": message})
