"""``POST /{tenant}/target/batch`` (Adobe Admin API, "Batch Updates"): check, run, render.

The caller needs the write right (Adobe: at least the "editor" role) for the batch itself; each
operation is then authorized on its own, with the caller's credentials.

Throttling: the batch request takes one token like any call, then one per operation, all at
once, before any operation runs; if the bucket lacks them the whole batch is one 429 with
``Retry-After`` and nothing runs (a batch half refused would skip dependents at random).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends
from starlette.responses import Response

from cible.batch.asgi import AsgiDispatcher
from cible.batch.run import run_batch
from cible.batch.schemas import BatchIn, BatchOut, inline_schema
from cible.batch.validate import parse_batch
from cible.errors import BadRequest, Forbidden, TooManyRequests
from cible.tenants.roles import Capability
from cible.web.admin import AdminCall, admin, admin_openapi, read_body
from cible.web.envelope import request_ids
from cible.web.throttle import PREPAID_SCOPE_KEY, TokenBucketThrottle
from cible.web.versioning import media_type

# Adobe's spec sends the batch as application/json; its Node client sends the v1 vendor type.
# Both are version 1 (web/versioning.py).
VERSIONS = (1,)
CREDENTIAL_HEADERS = ("authorization", "x-api-key")

router = APIRouter(prefix="/{tenant}/target", tags=["batch"])


def _openapi() -> dict[str, Any]:
    kwargs = admin_openapi(VERSIONS, summary="Run a batch of Admin API operations")
    extra = kwargs["openapi_extra"]
    extra["requestBody"] = {
        "required": True,
        "content": {
            kind: {"schema": inline_schema(BatchIn)} for kind in ("application/json", media_type(1))
        },
    }
    extra["responses"]["200"]["content"][media_type(1)] = {"schema": inline_schema(BatchOut)}
    return kwargs


@router.post("/batch", **_openapi())
async def run(
    call: AdminCall = Depends(admin(VERSIONS)),
    raw: bytes = Depends(read_body),
) -> Response:
    if not call.principal.can(Capability.WRITE):
        raise Forbidden(
            f"API client {call.principal.client_id} needs the editor role (write right) "
            "to run a batch"
        )
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest.fields([("body", f"JSON is malformed ({exc.msg})")]) from None
    batch = parse_batch(data)
    _admit(call, len(batch.operations))
    credentials = [
        (name, value)
        for name in CREDENTIAL_HEADERS
        if (value := call.request.headers.get(name)) is not None
    ]
    async with AsgiDispatcher(
        call.request.app, {PREPAID_SCOPE_KEY: call.principal.client_id}
    ) as dispatcher:
        results = await run_batch(
            batch,
            dispatcher,
            tenant=call.principal.tenant_code,
            credentials=credentials,
            now=request_ids(call.request)[1],
        )
    return call.render({"results": [r.to_json() for r in results]})


def _admit(call: AdminCall, operations: int) -> None:
    """Take one throttle token per operation from the caller's bucket, or refuse the batch."""
    throttle: TokenBucketThrottle = call.request.app.state.throttle
    client = call.principal.client_id
    if operations > throttle.burst:
        raise TooManyRequests(
            f"a batch of {operations} operations needs {operations} throttle tokens but API "
            f"client {client} may hold at most {throttle.burst} (CIBLE_THROTTLE_BURST)",
            retry_after=TokenBucketThrottle.retry_after(throttle.burst / throttle.rate),
        )
    wait = throttle.take(client, operations)
    if wait > 0:
        raise TooManyRequests(
            f"API client {client} lacks the {operations} throttle tokens this batch needs",
            retry_after=TokenBucketThrottle.retry_after(wait),
        )
