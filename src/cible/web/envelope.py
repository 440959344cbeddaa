"""Adobe's error envelope, rendered the same way for every error the server returns.

``{httpStatus, requestId, requestTime, errors: [{errorCode, message}]}`` (Adobe Target Admin API,
``ErrorResponse``); ``requestTime`` is ISO 8601 UTC with milliseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from cible.errors import (
    BadRequest,
    CibleError,
    ErrorItem,
    MethodNotAllowed,
    NotFound,
    TooManyRequests,
)
from cible.isotime import iso_millis


def envelope_body(
    status: int, errors: list[ErrorItem], request_id: str, request_time: datetime
) -> dict[str, Any]:
    return {
        "httpStatus": status,
        "requestId": request_id,
        "requestTime": iso_millis(request_time),
        "errors": [e.to_json() for e in errors],
    }


def envelope_response(
    status: int,
    errors: list[ErrorItem],
    request_id: str,
    request_time: datetime,
    headers: dict[str, str] | None = None,
) -> Response:
    body = orjson.dumps(envelope_body(status, errors, request_id, request_time))
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def request_ids(request: Request) -> tuple[str, datetime]:
    """The id and arrival time that ``RequestContextMiddleware`` gave this request."""
    state = request.scope.get("state", {})
    return state.get("request_id", "-"), state.get("request_time", datetime.now(UTC))


def render_error(request: Request, error: CibleError) -> Response:
    rid, rtime = request_ids(request)
    headers = (
        {"Retry-After": str(error.retry_after)} if isinstance(error, TooManyRequests) else None
    )
    return envelope_response(error.status, error.errors(), rid, rtime, headers)


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out or "body"


def validation_problems(errors: list[Any]) -> list[tuple[str, str]]:
    """Pydantic's error list as ``(field path, message)`` pairs."""
    problems = []
    for err in errors:
        kind = err.get("type", "")
        message = "JSON is malformed" if kind == "json_invalid" else err.get("msg", "invalid")
        if kind == "extra_forbidden":
            message = "unknown field"
        problems.append((_field_path(tuple(err.get("loc", ()))), message))
    return problems


async def on_cible_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CibleError)
    return render_error(request, exc)


async def on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return render_error(request, BadRequest.fields(validation_problems(list(exc.errors()))))


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error: CibleError
    if exc.status_code == 404:
        error = NotFound(f"no route for {request.method} {request.url.path}")
    elif exc.status_code == 405:
        error = MethodNotAllowed(f"method {request.method} is not allowed on {request.url.path}")
    else:
        error = CibleError(str(exc.detail))
        rid, rtime = request_ids(request)
        return envelope_response(
            exc.status_code, [ErrorItem("Http.Error", str(exc.detail))], rid, rtime
        )
    return render_error(request, error)
