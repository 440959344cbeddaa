"""What every UI page gets: the signed-in user, the tenant as a ``Principal``, the form, CSRF.

A view declares ``ui: Ui = Depends(tenant_page)`` (or ``signed_page`` for pages outside a
tenant). The dependency finds the session from its cookie (no session: a redirect to the sign-in
page), builds the ``Principal`` from the user's roles on the tenant in the path (the same type the
Admin API authorizes with), and on a POST reads the form and checks its CSRF token (a mismatch is
a 403 that changes nothing).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from cible.config import Settings
from cible.errors import Forbidden
from cible.store import Database
from cible.tenants.principal import Principal
from cible.tenants.roles import GRANTS, Capability
from cible.ui import sessions, users

SESSION_COOKIE = "cible_ui_session"
SIGNIN_CSRF_COOKIE = "cible_ui_signin"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


class SignInRequired(Exception):
    """No valid session: the handler redirects to the sign-in page."""


@dataclass
class Ui:
    """One UI request: who, on which tenant, with which form, and how to answer."""

    request: Request
    db: Database
    settings: Settings
    now: datetime
    signed: sessions.Signed
    tenants: list[tuple[str, str]]
    principal: Principal | None = None
    form: FormData | None = None
    notices: list[str] = field(default_factory=list)

    @property
    def tenant(self) -> str:
        assert self.principal is not None
        return self.principal.tenant_code

    @property
    def root(self) -> str:
        return str(self.request.scope.get("root_path", ""))

    def url(self, path: str = "") -> str:
        """``/ui/{tenant}{path}``."""
        return f"{self.root}/{self.tenant}{path}"

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.db.session() as s:
            yield s

    def can(self, capability: str, workspace_id: int | None = None) -> bool:
        return self.principal is not None and self.principal.can(
            Capability(capability), workspace_id
        )

    def can_tenant_wide(self, capability: str) -> bool:
        """Whether a role on every workspace grants ``capability`` (tenant-level objects)."""
        if self.principal is None:
            return False
        roles = self.principal.grants.get(None, frozenset())
        return any(Capability(capability) in GRANTS[r] for r in roles)

    def field(self, name: str, default: str = "") -> str:
        if self.form is None:
            return default
        value = self.form.get(name)
        return value if isinstance(value, str) else default

    def fields(self, name: str) -> list[str]:
        if self.form is None:
            return []
        return [v for v in self.form.getlist(name) if isinstance(v, str)]

    def render(self, template: str, status: int = 200, **data: Any) -> HTMLResponse:
        context = {"ui": self, "csrf": self.signed.csrf_token, "root": self.root, **data}
        return TEMPLATES.TemplateResponse(self.request, template, context, status_code=status)

    def redirect(self, path: str) -> Response:
        """After a successful POST: 303 to ``path`` (an htmx request follows it too)."""
        return RedirectResponse(path, status_code=303)


def host_state(request: Request) -> Any:
    """The main app's state (database, settings, clock), which the mounted UI shares."""
    return request.app.state.host.state


def _signed(request: Request, tenant: str | None) -> Ui:
    state = host_state(request)
    now: datetime = state.clock()
    with state.db.session() as s:
        signed = sessions.lookup(s, request.cookies.get(SESSION_COOKIE), now)
        if signed is None:
            raise SignInRequired()
        found = [(t.client_code, t.name) for t in users.tenants_of(s, signed.user)]
        principal = users.principal_for(s, signed.user, tenant) if tenant is not None else None
    return Ui(request, state.db, state.settings, now, signed, found, principal)


async def _with_form(request: Request, ui: Ui) -> Ui:
    if request.method == "POST":
        ui.form = await request.form()
        given = request.headers.get(CSRF_HEADER) or ui.field(CSRF_FIELD) or None
        if not sessions.csrf_valid(ui.signed, given):
            raise Forbidden("the form's CSRF token is missing or wrong; reload the page")
    return ui


async def signed_page(request: Request) -> Ui:
    ui = await run_in_threadpool(_signed, request, None)
    return await _with_form(request, ui)


async def tenant_page(request: Request, tenant: str) -> Ui:
    ui = await run_in_threadpool(_signed, request, tenant)
    return await _with_form(request, ui)


def new_signin_token() -> str:
    return secrets.token_urlsafe(32)


def cookie_secure(request: Request, settings: Settings) -> bool:
    """``Secure`` cookies over https, or always/never as ``CIBLE_UI_SECURE_COOKIES`` says."""
    mode = settings.ui_secure_cookies
    if mode == "auto":
        return request.url.scheme == "https"
    return mode == "always"
