"""``POST /rest/v1/notifications``: notifications of many visitors in one request (Cible's).

A server-side SDK deciding on-device reports what it showed; Adobe's delivery API takes one
visitor per call, this endpoint up to 1,000 notifications of any visitors (docs/delivery.md,
"Notifications of many visitors"). Tenant, error shape and CORS (a tenant's list of origins
included) are the delivery API's; every
response carries ``X-Cible-Notifications: batch``, the header by which ``cible.sdk`` (option
``notification_endpoint: "auto"``) knows that the server takes batches.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cible.delivery.notify_batch import MAX_BATCH, parse_batch, record_batch
from cible.delivery.routes import (
    error_response,
    origin_refusal,
    preflight,
    runtime,
    with_cors,
)
from cible.delivery.validate import InvalidRequest
from cible.events import DatabaseUnavailable

router = APIRouter(tags=["delivery"])

PATH = "/rest/v1/notifications"
CAPABILITY_HEADER = "X-Cible-Notifications"


def _answer(request: Request, response: Response) -> Response:
    response.headers[CAPABILITY_HEADER] = "batch"
    return with_cors(request, response)


@router.post(
    PATH,
    summary=f"Record up to {MAX_BATCH:,} notifications of any visitors (Cible batch endpoint)",
    responses={
        200: {"description": '{"results": [{"id", "status", "message"}]} in request order'},
        400: {"description": '{"status": 400, "message": "<field>: <problem>"}'},
        403: {"description": "an Origin the tenant does not list (docs/security.md)"},
        413: {"description": "body over CIBLE_MAX_BODY_BYTES"},
        503: {"description": '{"status": 503, "message": ...}: the database is unavailable'},
    },
)
async def notify(request: Request) -> Response:
    refused = await origin_refusal(request)
    if refused is not None:
        refused.headers[CAPABILITY_HEADER] = "batch"
        return refused
    return _answer(request, await _notify(request))


router.add_api_route(
    PATH,
    preflight,
    methods=["OPTIONS"],
    summary="CORS preflight of the batch notification endpoint",
    responses={403: {"description": "an origin the tenant does not list (no CORS headers)"}},
)


async def _notify(request: Request) -> Response:
    params = request.query_params
    client, org_id = params.get("client"), params.get("imsOrgId")
    try:
        if not client and not org_id:
            raise InvalidRequest("client: client or imsOrgId is required")
        raw = await request.body()
        try:
            body: Any = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise InvalidRequest(f"request: malformed JSON ({error.msg})") from None
        entries = parse_batch(body)
    except InvalidRequest as error:
        return error_response(400, str(error))
    delivery, directory = runtime(request)
    known, tenant = directory.cached(client, org_id)
    if not known:
        tenant = await run_in_threadpool(directory.find, client, org_id)
    if tenant is None:
        which = f"client {client}" if client else f"imsOrgId {org_id}"
        return error_response(400, f"Unknown {which}")
    try:
        results = await record_batch(delivery, tenant, entries)
    except DatabaseUnavailable as error:
        # Resending the batch is safe (events are keyed by notification id): a 503 tells the
        # caller to retry, as the delivery API does.
        return error_response(503, str(error))
    body_out = orjson.dumps({"results": [result.as_json() for result in results]})
    return Response(body_out, media_type="application/json")
