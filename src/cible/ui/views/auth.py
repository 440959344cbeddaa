"""Sign-in, sign-out and the tenant switcher.

The sign-in form has no session yet, so its CSRF token is a double-submit cookie (OWASP CSRF
Prevention Cheat Sheet): the page sets a random cookie and the form echoes it.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from cible.errors import Forbidden, Unauthorized
from cible.ui import sessions, users
from cible.ui._context import (
    CSRF_FIELD,
    SESSION_COOKIE,
    SIGNIN_CSRF_COOKIE,
    TEMPLATES,
    Ui,
    cookie_secure,
    host_state,
    new_signin_token,
    signed_page,
)
from cible.web.throttle import TokenBucketThrottle

router = APIRouter()


def _signin_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    token = new_signin_token()
    state = host_state(request)
    response = TEMPLATES.TemplateResponse(
        request,
        "signin.html",
        {"csrf": token, "error": error, "root": request.scope["root_path"]},
        status_code=status,
    )
    response.set_cookie(
        SIGNIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request, state.settings),
        path=str(request.scope["root_path"]) or "/",
    )
    return response


@router.get("/signin", include_in_schema=False)
def signin_form(request: Request) -> Response:
    return _signin_page(request)


def _check(request: Request, username: str, password: str) -> str:
    state = host_state(request)
    with state.db.session() as s:
        user = users.check_password(s, username, password)
        return sessions.start(s, user, state.clock(), state.settings.ui_session_ttl_seconds)


@router.post("/signin", include_in_schema=False)
async def signin(request: Request) -> Response:
    form = await request.form()
    given, expected = form.get(CSRF_FIELD), request.cookies.get(SIGNIN_CSRF_COOKIE)
    if not (
        isinstance(given, str)
        and expected
        and hmac.compare_digest(given.encode(), expected.encode())
    ):
        raise Forbidden("the sign-in form expired; reload the page and sign in again")
    username, password = form.get("username"), form.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return _signin_page(request, "Enter a username and a password.", 400)
    # Per username, before the password is checked, with the bucket that slows guessing of API
    # client secrets (CIBLE_TOKEN_THROTTLE_*): wherever the guesses come from.
    wait = host_state(request).token_throttle.take(f"ui-user:{username.strip()}")
    if wait > 0:
        response = _signin_page(request, "Too many sign-in attempts; wait and try again.", 429)
        response.headers["retry-after"] = str(TokenBucketThrottle.retry_after(wait))
        return response
    try:
        token = await run_in_threadpool(_check, request, username.strip(), password)
    except Unauthorized:
        return _signin_page(request, "Wrong username or password.", 401)
    root = str(request.scope["root_path"])
    response = RedirectResponse(f"{root}/", status_code=303)
    state = host_state(request)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=state.settings.ui_session_ttl_seconds,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request, state.settings),
        path=root or "/",
    )
    response.delete_cookie(SIGNIN_CSRF_COOKIE, path=root or "/")
    return response


@router.post("/signout", include_in_schema=False)
def signout(ui: Ui = Depends(signed_page)) -> Response:
    with ui.session() as s:
        sessions.end(s, ui.request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(f"{ui.root}/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=ui.root or "/")
    return response


@router.get("/", include_in_schema=False)
def home(ui: Ui = Depends(signed_page)) -> Response:
    """The first tenant's activities, or a page saying the user has no tenant."""
    if ui.tenants:
        return RedirectResponse(f"{ui.root}/{ui.tenants[0][0]}/activities", status_code=303)
    return ui.render("no_tenant.html")


@router.get("/switch", include_in_schema=False)
def switch(request: Request, ui: Ui = Depends(signed_page)) -> Response:
    """The tenant switcher's target (a GET form, so it works without JavaScript)."""
    wanted = request.query_params.get("tenant", "")
    if wanted not in {code for code, _ in ui.tenants}:
        raise Forbidden(f"user {ui.signed.user.username} has no role on tenant {wanted!r}")
    return RedirectResponse(f"{ui.root}/{wanted}/activities", status_code=303)
