"""``POST /rest/v1/delivery`` answered at the edge of the ASGI stack.

The delivery API is what every page, screen and email calls; the framework's per-request layers
(eight middlewares, routing over every Admin API route, a ``Request`` object, the endpoint
wrapper) cost about as much CPU as deciding does. This middleware sits outermost and answers that
one route itself, with the same answers as the documented route (``routes.answer``) and what the
inner layers add to every response: ``X-Request-Id``, ``X-Content-Type-Options: nosniff``, the
metric and the log line of the request (``cible.web.context``), the body limit (413 in Adobe's
delivery error shape), CORS for browser callers (limited to a tenant's origins when it lists
them, ``cible.delivery.cors``). Every other request goes down the stack.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from cible.delivery.cors import STATUS, refusal, refused
from cible.delivery.routes import BATCH_HEADER, answer, runtime_of
from cible.ids import random_uuid

__all__ = ["DeliveryFastPath"]

PATH = "/rest/v1/delivery"
log = logging.getLogger("cible.web")

_JSON = (b"content-type", b"application/json")
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_BATCH = [(k.lower().encode(), v.encode()) for k, v in BATCH_HEADER.items()]


class _TooLarge(Exception):
    pass


class DeliveryFastPath:
    """The outermost middleware of ``create_app``: the delivery route, or the rest of the app."""

    def __init__(self, app: ASGIApp, *, fastapi: Any, max_bytes: int) -> None:
        self.app = app
        self.fastapi = fastapi
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = random_uuid()
        headers = dict(scope["headers"])
        body: bytes | None
        try:
            raw = await self._body(headers, receive)
        except _TooLarge:
            status, body = 413, _message(413, f"request body exceeds {self.max_bytes} bytes")
        else:
            try:
                query = parse_qsl(scope["query_string"].decode("latin-1"))
                host = headers.get(b"host", b"").decode("latin-1")
                origin_text = headers[b"origin"].decode("latin-1") if b"origin" in headers else None
                directory = runtime_of(self.fastapi)[1]
                if await refused(directory, query, origin_text):
                    # A tenant's list of origins (cible.delivery.cors): no CORS headers either.
                    status, body = STATUS, refusal(origin_text or "")
                    headers.pop(b"origin", None)
                else:
                    client = scope.get("client")
                    caller = client[0] if client else None
                    status, body = await answer(self.fastapi, query, raw, host, caller)
            except Exception:
                log.exception("unhandled error", extra={"request_id": request_id})
                status, body = 500, _message(500, "internal server error")
        out = [_NOSNIFF, (b"x-request-id", request_id.encode())]
        if status in (200, 204):
            out += _BATCH
        if body is not None:
            out.append(_JSON)
            out.append((b"content-length", str(len(body)).encode()))
        origin = headers.get(b"origin")
        if origin:
            # As the route's ``with_cors``: Adobe's edge echoes the page's origin with credentials.
            out += [
                (b"access-control-allow-origin", origin),
                (b"access-control-allow-credentials", b"true"),
                (b"vary", b"Origin"),
            ]
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": body or b""})
        elapsed = time.perf_counter() - started
        self.fastapi.state.metrics.observe("POST", PATH, status, elapsed)
        # Answered calls are counted and timed by the metric; a line each only at DEBUG, so a
        # busy server does not spend a JSON log record per page (refusals are logged at INFO).
        level = logging.DEBUG if status < 400 else logging.INFO
        if log.isEnabledFor(level):
            extra: dict[str, Any] = {
                "request_id": request_id,
                "method": "POST",
                "path": PATH,
                "route": PATH,
                "status": status,
                "duration_ms": round(elapsed * 1000, 3),
            }
            log.log(level, "request", extra=extra)

    async def _body(self, headers: dict[bytes, bytes], receive: Receive) -> bytes:
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _message(status: int, message: str) -> bytes:
    return orjson.dumps({"status": status, "message": message})
