"""The UI's ASGI sub-application, mounted at ``/ui`` by ``cible.web.app.create_app``.

A separate FastAPI app so that its pages stay out of the Admin API's OpenAPI document, its
errors are HTML pages rather than Adobe's JSON envelope, and its security headers apply to it
alone. It shares the main app's database, settings and clock through ``state.host``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from cible.config import Settings
from cible.errors import CibleError
from cible.ui._context import TEMPLATES, SignInRequired
from cible.ui._security import SecurityHeadersMiddleware
from cible.ui.views import ROUTERS

STATIC = Path(__file__).parent / "static"


def _signin(request: Request, exc: Exception) -> Response:
    root = str(request.scope.get("root_path", ""))
    if request.headers.get("hx-request"):
        # htmx swaps responses in place: ask it to load the sign-in page instead.
        return Response(status_code=204, headers={"HX-Redirect": f"{root}/signin"})
    return RedirectResponse(f"{root}/signin", status_code=303)


def _error_page(request: Request, status: int, code: str, message: str) -> Response:
    return TEMPLATES.TemplateResponse(
        request,
        "error.html",
        {"status": status, "code": code, "message": message, "root": request.scope["root_path"]},
        status_code=status,
    )


def _cible_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CibleError)
    # The services name their principal "API client"; in the UI the principal is a user.
    message = exc.message.replace("API client ", "User ", 1)
    return _error_page(request, exc.status, exc.code, message)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error_page(request, exc.status_code, "HTTP.Error", str(exc.detail))


def build(host: FastAPI) -> FastAPI:
    ui = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, title="Cible UI")
    ui.state.host = host
    ui.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in ROUTERS:
        ui.include_router(router)
    ui.add_exception_handler(SignInRequired, _signin)
    ui.add_exception_handler(CibleError, _cible_error)
    ui.add_exception_handler(HTTPException, _http_error)
    ui.add_middleware(SecurityHeadersMiddleware)
    return ui


def mount(app: FastAPI, settings: Settings) -> None:
    """Mount the UI at ``/ui`` and send ``/`` there."""
    app.mount("/ui", build(app))

    def to_ui() -> Response:
        return RedirectResponse("/ui/", status_code=307)

    app.add_api_route(
        "/",
        to_ui,
        methods=["GET"],
        summary="Redirect to the admin web UI",
        include_in_schema=False,
    )
