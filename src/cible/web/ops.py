"""Operations endpoints: ``/health`` (is the database reachable) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from cible.web.metrics import CONTENT_TYPE

router = APIRouter(tags=["operations"])

HEALTH = {
    "type": "object",
    "required": ["status", "database"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "unavailable"]},
        "database": {"type": "string", "enum": ["ok", "unreachable"]},
    },
}


@router.get(
    "/health",
    summary="Liveness and database reachability",
    responses={
        200: {"content": {"application/json": {"schema": HEALTH}}},
        503: {"content": {"application/json": {"schema": HEALTH}}},
    },
)
def health(request: Request) -> Response:
    ok = request.app.state.db.ping()
    body = {"status": "ok" if ok else "unavailable", "database": "ok" if ok else "unreachable"}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics in the text exposition format",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)
