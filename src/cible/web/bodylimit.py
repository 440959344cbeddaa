"""Rejects request bodies over ``max_body_bytes`` with 413, by header and while streaming.

Checking only ``Content-Length`` would let a chunked upload through, so the body is also
counted as it arrives.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cible.errors import ErrorItem, PayloadTooLarge
from cible.web.envelope import envelope_response

DELIVERY_PREFIXES = ("/rest/", "/m2/")


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.get("state", {})
        error = PayloadTooLarge(f"request body exceeds {self.max_bytes} bytes")
        response: Response
        if scope["path"].startswith(DELIVERY_PREFIXES):
            # The delivery and profile APIs answer in Adobe's delivery error shape
            # (Delivery API OpenAPI, ``UnexpectedError``), as their routes do.
            body = orjson.dumps({"status": 413, "message": error.message})
            response = Response(body, status_code=413, media_type="application/json")
            await response(scope, receive, send)
            return
        response = envelope_response(
            413,
            [ErrorItem(error.code, error.message)],
            state.get("request_id", "-"),
            state.get("request_time", datetime.now(UTC)),
        )
        await response(scope, receive, send)
