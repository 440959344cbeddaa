"""The token endpoint, in the shape of Adobe IMS OAuth server-to-server credentials.

``POST /ims/token/v3`` with a form-encoded ``grant_type=client_credentials``, ``client_id`` and
``client_secret`` (RFC 6749, section 4.4) returns ``{access_token, token_type, expires_in}``.
Errors carry Cible's envelope plus OAuth's ``error`` and ``error_description`` (RFC 6749,
section 5.2), so both kinds of client understand them.
"""

from __future__ import annotations

from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from cible.errors import (
    BadRequest,
    CibleError,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
)
from cible.tenants import service as tenants
from cible.web.envelope import render_error
from cible.web.throttle import TokenBucketThrottle

router = APIRouter(tags=["authentication"])


def _oauth_error(request: Request, error: CibleError, oauth_code: str) -> Response:
    response = render_error(request, error)
    body = orjson.loads(response.body)
    body.update({"error": oauth_code, "error_description": error.message})
    retry = response.headers.get("retry-after")
    headers = {"Retry-After": retry} if retry is not None else None
    return JSONResponse(body, status_code=error.status, headers=headers)


@router.post(
    "/ims/token/v3",
    summary="Exchange client credentials for an access token",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type", "client_id", "client_secret"],
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["client_credentials"]},
                            "client_id": {"type": "string"},
                            "client_secret": {"type": "string"},
                            "scope": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
async def token(request: Request) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        error: CibleError = UnsupportedMediaType(
            "send the credentials as application/x-www-form-urlencoded"
        )
        return _oauth_error(request, error, "invalid_request")
    try:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8")).items()}
    except UnicodeDecodeError:
        return _oauth_error(request, BadRequest("body is not valid UTF-8"), "invalid_request")
    missing = [f for f in ("grant_type", "client_id", "client_secret") if not form.get(f)]
    if missing:
        error = BadRequest.fields([(f, "is required") for f in missing])
        return _oauth_error(request, error, "invalid_request")
    if form["grant_type"] != "client_credentials":
        error = BadRequest.fields([("grant_type", "only client_credentials is supported")])
        return _oauth_error(request, error, "unsupported_grant_type")
    state = request.app.state
    # Per client id, before the secret is checked: guessing one client's secret is slowed to the
    # token rate whatever addresses the guesses come from (docs/security.md).
    wait = state.token_throttle.take(form["client_id"])
    if wait > 0:
        error = TooManyRequests(
            "too many token requests for this client id",
            retry_after=TokenBucketThrottle.retry_after(wait),
        )
        return _oauth_error(request, error, "slow_down")

    def issue() -> str:
        with state.db.session() as session:
            return tenants.issue_token(
                session,
                form["client_id"],
                form["client_secret"],
                key=state.settings.secret_key,
                ttl=state.settings.token_ttl_seconds,
                now=state.clock(),
            )

    try:
        access_token = await run_in_threadpool(issue)
    except Unauthorized as exc:
        return _oauth_error(request, exc, "invalid_client")
    return JSONResponse(
        {
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": state.settings.token_ttl_seconds,
        },
        headers={"Cache-Control": "no-store"},
    )
