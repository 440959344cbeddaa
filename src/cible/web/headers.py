"""Response headers every answer carries, whatever route produced it.

- ``X-Content-Type-Options: nosniff`` on everything, so a browser never runs a JSON body or an
  offer's content as another type (Fetch standard, "X-Content-Type-Options").
- ``Cache-Control: no-store`` on Admin API, token and audience-manager answers, and on any answer
  to a request that carried credentials, unless the route chose its own caching: those bodies hold
  tenant data or tokens that no shared cache or browser history should keep (RFC 9111, 5.2.2.5).

A pure ASGI middleware, as Starlette's own, so error handlers' answers get the headers too.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def is_private_path(path: str) -> bool:
    """Admin API (``/{tenant}/target/...``), the token endpoint and the AAM-style ``/v1`` API."""
    parts = path.split("/", 3)
    return path.startswith(("/ims/", "/v1/")) or (len(parts) > 2 and parts[2] == "target")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = is_private_path(scope["path"]) or any(
            name == b"authorization" for name, _ in scope.get("headers", ())
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
                names = {k.lower() for k, _ in headers}
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                if private and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
