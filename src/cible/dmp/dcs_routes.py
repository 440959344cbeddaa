"""The DCS endpoints: ``/event``, ``/ibs:`` ID sync and the ``/demoptout`` opt-out.

AAM answers DCS problems with HTTP 200, the codes in ``{"errors": [{code, msg}]}`` and an
``X-Error`` header (Adobe Audience Manager, "DCS error codes"), and 429 when throttled. The
tenant of a call is the first label of ``Host`` when it ends with ``CIBLE_DCS_DOMAIN``
(``acme.demdex.localhost``, as AAM's ``<partner>.demdex.net``), else ``d_orgid``. Writes run in
group-commit units (``cible.events.GroupCommitter``): a call answers once they are durable.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson
from fastapi import APIRouter, Request
from sqlalchemy import Connection, Table, select
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from cible.dmp import dcs, devices
from cible.dmp.service import parse_id
from cible.dmp.tables import DataSource
from cible.events import GroupCommitter
from cible.store import Database
from cible.tenants.tables import Tenant
from cible.web.throttle import TokenBucketThrottle

router = APIRouter(tags=["audience manager DCS"])

GET_LIMIT = 8 * 1024  # AAM, "DCS API methods": GET 8K, POST 32K
POST_LIMIT = 32 * 1024
COOKIE = "demdex"
COOKIE_MAX_AGE = 180 * 24 * 3600
OPT_OUT_VALUE = dcs.OPT_OUT_COOKIE
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_DS: Table = DataSource.__table__  # type: ignore[assignment]

# DCS answers most problems with HTTP 200 and codes in the body; these are the statuses it uses.
_DCS_ERROR = {
    "content": {
        "application/json": {
            "schema": {
                "title": "DcsError",
                "type": "object",
                "properties": {
                    "errors": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"code": {"type": "integer"}, "msg": {"type": "string"}},
                        },
                    }
                },
            }
        }
    }
}
_THROTTLED: dict[int | str, dict[str, Any]] = {
    429: {"description": "Too many DCS calls for this tenant", **_DCS_ERROR},
    503: {"description": "The database is unavailable; retry later"},
}
_ANSWERS: dict[str, Any] = {
    "application/json": {},
    "application/javascript": {"schema": {"type": "string"}},
    "image/gif": {"schema": {"type": "string", "format": "binary"}},
}
_PIXEL_OR_JSON: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A 1x1 GIF, or JSON with d_rtbd=json (JSONP with d_cb); DCS errors "
        "are in the body and X-Error",
        "content": _ANSWERS,
    }
}
_EVENT_ERRORS: dict[int | str, dict[str, Any]] = {
    **_PIXEL_OR_JSON,
    **_THROTTLED,
    413: {"description": "POST body over 32 KiB (DCS error 0)", **_DCS_ERROR},
    414: {"description": "Query string over 8 KiB (DCS error 0)", **_DCS_ERROR},
}


class _Tenants:
    """Host label or organization id -> tenant id, remembered per process (tenants never move)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._known: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    async def find(self, kind: str, value: str) -> int | None:
        with self._lock:
            if (kind, value) in self._known:
                return self._known[(kind, value)]
        # A miss reads the database off the event loop.
        return await run_in_threadpool(self._read, kind, value)

    def _read(self, kind: str, value: str) -> int | None:
        column = Tenant.client_code if kind == "code" else Tenant.organization_id
        with self._db.session() as s:
            found = s.scalar(select(Tenant.id).where(column == value))
        if found is not None:
            with self._lock:
                self._known[(kind, value)] = int(found)
        return found


class _Runtime:
    def __init__(self, state: Any) -> None:
        committer = getattr(state, "committer", None)
        if committer is None:
            committer = GroupCommitter(
                state.db.engine, deadline_seconds=state.settings.database_deadline_seconds
            )
            state.committer = committer
        self.committer: GroupCommitter = committer
        self.tenants = _Tenants(state.db)
        self.throttle = TokenBucketThrottle(
            state.settings.dcs_throttle_rate, state.settings.dcs_throttle_burst
        )


def _runtime(request: Request) -> _Runtime:
    state = request.app.state
    runtime: _Runtime | None = getattr(state, "dmp_runtime", None)
    if runtime is None:
        runtime = _Runtime(state)
        state.dmp_runtime = runtime
        request.app.router.on_shutdown.append(runtime.committer.close)
    return runtime


def _errors_response(errors: Sequence[dcs.DcsError], status: int = 200) -> Response:
    body = orjson.dumps({"errors": [e.to_json() for e in errors]})
    headers = {"X-Error": ",".join(str(e.code) for e in errors)}
    return Response(body, status_code=status, media_type="application/json", headers=headers)


async def _tenant(
    request: Request, runtime: _Runtime, params: Sequence[tuple[str, str]]
) -> int | dcs.DcsError:
    domain = request.app.state.settings.dcs_domain.lower().strip(".")
    host = request.headers.get("host", "").split(":")[0].lower().rstrip(".")
    if not host:
        return dcs.DcsError(100, "Missing Host header")
    if host.endswith("." + domain):
        label = host[: -len(domain) - 1].split(".")[0]
        found = await runtime.tenants.find("code", label)
        if found is None:
            return dcs.DcsError(1, f"No configuration for hostname {host}")
        return found
    org = next((v for k, v in params if k.lower() == "d_orgid"), "")
    if not org:
        return dcs.DcsError(1, f"No configuration for hostname {host}; send d_orgid")
    found = await runtime.tenants.find("org", org)
    if found is None:
        return dcs.DcsError(2, f"Invalid d_orgid value {org!r}")
    return found


def _throttled(runtime: _Runtime, tenant_id: int) -> Response | None:
    wait = runtime.throttle.take(str(tenant_id))
    if wait <= 0:
        return None
    body = orjson.dumps({"errors": [{"code": 429, "msg": "Too Many Requests"}]})
    retry = str(TokenBucketThrottle.retry_after(wait))
    return Response(
        body, status_code=429, media_type="application/json", headers={"Retry-After": retry}
    )


def _now_ms(request: Request) -> int:
    return int(request.app.state.clock().timestamp() * 1000)


def _with_cookie(request: Request, response: Response, value: str) -> Response:
    secure = request.url.scheme == "https"
    response.set_cookie(
        COOKIE,
        value,
        max_age=COOKIE_MAX_AGE,
        path="/",
        secure=secure,
        samesite="none" if secure else "lax",
    )
    return response


def _decode(raw: bytes) -> list[tuple[str, str]] | None:
    try:
        text = raw.decode("ascii")
        return parse_qsl(text, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return None


async def _run(runtime: _Runtime, unit: Any) -> Any:
    # DatabaseUnavailable propagates: the app renders it as a 503 envelope.
    return await runtime.committer.run(unit)


@router.get("/event", summary="DCS real-time event call", responses=_EVENT_ERRORS)
async def event(request: Request) -> Response:
    return await _event(request)


@router.post("/event", summary="DCS real-time event call, form-encoded", responses=_EVENT_ERRORS)
async def event_form(request: Request) -> Response:
    return await _event(request)


async def _event(request: Request) -> Response:
    runtime = _runtime(request)
    query = request.scope.get("query_string", b"")
    if len(query) > GET_LIMIT:
        return _errors_response(
            [dcs.DcsError(0, f"The request exceeds the {GET_LIMIT}-byte GET limit")], 414
        )
    pairs = _decode(query)
    if request.method == "POST":
        body = await request.body()
        if len(body) > POST_LIMIT:
            return _errors_response(
                [dcs.DcsError(0, f"The request exceeds the {POST_LIMIT}-byte POST limit")], 413
            )
        form = _decode(body)
        pairs = None if pairs is None or form is None else pairs + form
    if pairs is None:
        return _errors_response([dcs.DcsError(311, "Bad URL encoding; the request was dropped")])
    tenant = await _tenant(request, runtime, pairs)
    if isinstance(tenant, dcs.DcsError):
        return _errors_response([tenant])
    limited = _throttled(runtime, tenant)
    if limited is not None:
        return limited
    headers = {k.lower(): v for k, v in request.headers.items()}
    client_ip = request.client.host if request.client else None
    call = dcs.parse(pairs, headers, client_ip, request.cookies.get(COOKIE))
    now = _now_ms(request)
    region = request.app.state.settings.dcs_region

    db: Database = request.app.state.db

    def read() -> dcs.Prepared:
        with db.engine.connect() as conn:
            return dcs.prepare(conn, tenant, call, now)

    # Reads and rule evaluation run outside the group commit; the unit only writes, by
    # compare-and-set, and re-applies the call if the device moved in between.
    prepared = await run_in_threadpool(read)

    def unit(conn: Connection) -> dcs.DcsResult:
        return dcs.unit(conn, tenant, call, now, region, prepared)

    result: dcs.DcsResult = await _run(runtime, unit)
    extra = {"X-Error": ",".join(str(e.code) for e in result.errors)} if result.errors else {}
    if call.json:
        payload = orjson.dumps(result.body)
        if call.callback:
            response = Response(
                call.callback.encode() + b"(" + payload + b");",
                media_type="application/javascript",
                headers=extra,
            )
        else:
            response = Response(payload, media_type="application/json", headers=extra)
    else:
        response = Response(PIXEL, media_type="image/gif", headers=extra)
    response.headers["Cache-Control"] = "no-store"
    if result.uuid is not None:
        return _with_cookie(request, response, result.uuid)
    if any(e.code == 171 for e in result.errors):
        return _with_cookie(request, response, OPT_OUT_VALUE)
    return response


def _ibs_params(request: Request) -> list[tuple[str, str]] | None:
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    _, _, tail = raw_path.partition(b"/ibs:")
    pairs = _decode(tail.split(b"?")[0])
    extra = _decode(request.scope.get("query_string", b""))
    if pairs is None or extra is None:
        return None
    return pairs + extra


# Out of the OpenAPI document: its path template cannot express ``/ibs:`` followed by a query
# string in the path (documented in docs/audience-manager.md, "ID sync").
@router.get("/ibs:{params:path}", summary="DCS inbound ID sync", include_in_schema=False)
async def id_sync(params: str, request: Request) -> Response:
    runtime = _runtime(request)
    pairs = _ibs_params(request)
    if pairs is None:
        return _errors_response([dcs.DcsError(311, "Bad URL encoding; the request was dropped")])
    values = {k.lower(): v for k, v in pairs}
    tenant = await _tenant(request, runtime, pairs)
    if isinstance(tenant, dcs.DcsError):
        return _errors_response([tenant])
    limited = _throttled(runtime, tenant)
    if limited is not None:
        return limited
    dpid, dpuuid = values.get("dpid", ""), values.get("dpuuid", "")
    redirect = values.get("redir", "")
    gdpr, consent = values.get("gdpr"), values.get("gdpr_consent")
    cookie = request.cookies.get(COOKIE)
    if cookie == OPT_OUT_VALUE:
        return _errors_response([dcs.DcsError(171, "Opt-out tag encountered")])
    errors: list[dcs.DcsError] = []
    dpid_value = parse_id(dpid)
    if dpid_value is None or not dpuuid:
        errors.append(dcs.DcsError(300, "ID sync needs dpid=<data source id>&dpuuid=<id>"))
    if (gdpr is None) != (consent is None) or (gdpr == "1" and not consent):
        # AAM, "ID sync over HTTP": gdpr and gdpr_consent go together; without consent under
        # GDPR nothing is synced.
        errors.append(dcs.DcsError(313, "gdpr and gdpr_consent must be sent together"))
    now = _now_ms(request)
    known = cookie if devices.is_uuid(cookie) else None

    def unit(conn: Connection) -> tuple[str | None, list[dcs.DcsError]]:
        problems = list(errors)
        uuid = known or devices.new_uuid()
        if devices.opted_out(conn, tenant, [(devices.UUID_NAMESPACE, uuid)]):
            return None, [*problems, dcs.DcsError(171, "Opt-out tag encountered")]
        if problems:
            return uuid, problems
        owned = conn.execute(
            select(_DS.c.id).where(_DS.c.tenant_id == tenant, _DS.c.id == dpid_value)
        ).first()
        if owned is None:
            return uuid, [dcs.DcsError(302, f"Unauthorized customer ID namespace {dpid}")]
        if devices.opted_out(conn, tenant, [(dpid, dpuuid)]):
            return None, [dcs.DcsError(171, "Opt-out tag encountered")]
        devices.map_ids(conn, tenant, uuid, [(dpid, dpuuid)], now)
        return uuid, []

    uuid, problems = await _run(runtime, unit)
    headers = {"X-Error": ",".join(str(e.code) for e in problems)} if problems else {}
    response: Response
    target = unquote(redirect) if "%" in redirect[:12] else redirect
    if target and urlsplit(target).scheme in ("http", "https") and uuid is not None:
        response = RedirectResponse(
            target.replace("${DD_UUID}", uuid), status_code=302, headers=headers
        )
    else:
        response = Response(PIXEL, media_type="image/gif", headers=headers)
    response.headers["Cache-Control"] = "no-store"
    return _with_cookie(request, response, uuid) if uuid else response


async def _opt_out(request: Request, pixel: bool) -> Response:
    runtime = _runtime(request)
    pairs = _decode(request.scope.get("query_string", b""))
    if pairs is None:
        return _errors_response([dcs.DcsError(311, "Bad URL encoding; the request was dropped")])
    tenant = await _tenant(request, runtime, pairs)
    if isinstance(tenant, dcs.DcsError):
        return _errors_response([tenant])
    limited = _throttled(runtime, tenant)
    if limited is not None:
        return limited
    values = {k.lower(): v for k, v in pairs}
    ids: list[tuple[str, str]] = []
    call = dcs.parse(pairs, {}, None, None)
    explicit = values.get("d_uuid")
    cookie = request.cookies.get(COOKIE)
    # AAM, "Declared IDs": an explicit d_uuid takes precedence over the cookie.
    if devices.is_uuid(explicit):
        ids.append((devices.UUID_NAMESPACE, str(explicit)))
    elif devices.is_uuid(cookie):
        ids.append((devices.UUID_NAMESPACE, str(cookie)))
    if values.get("d_dpid") and values.get("d_dpuuid"):
        ids.append((values["d_dpid"], values["d_dpuuid"]))
    now = _now_ms(request)

    def unit(conn: Connection) -> list[str]:
        declared = dcs.declared_ids(conn, tenant, call)
        return devices.opt_out(conn, tenant, ids + declared, now)

    if not ids and not call.cids and not call.cid_codes:
        return _errors_response(
            [dcs.DcsError(300, "Name the device: d_uuid, d_cid, d_cid_ic or the demdex cookie")]
        )
    await _run(runtime, unit)
    if pixel:
        response = Response(PIXEL, media_type="image/gif")
    else:
        response = Response(orjson.dumps({"optOut": True}), media_type="application/json")
    response.headers["Cache-Control"] = "no-store"
    return _with_cookie(request, response, OPT_OUT_VALUE)


@router.get(
    "/demoptout.jpg", summary="DCS opt-out (pixel)", responses={**_PIXEL_OR_JSON, **_THROTTLED}
)
async def opt_out_pixel(request: Request) -> Response:
    return await _opt_out(request, pixel=True)


@router.get("/demoptout", summary="DCS opt-out", responses=_THROTTLED)
async def opt_out(request: Request) -> Response:
    return await _opt_out(request, pixel=False)
