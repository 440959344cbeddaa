"""Browser fixtures for the admin web UI, shared by every issue's UI tests.

One ``cible serve`` process (uvicorn and its job worker, as ``scripts/run`` starts it) on a free
127.0.0.1 port over a temporary SQLite database, and one headless Debian ``chromium`` driven by
Playwright, both for the whole session. Playwright's own browser downloads are never used
(``/usr/bin/chromium``; ``scripts/test`` installs it). Tests get a fresh browser context per
call of ``ui.page(...)``, signed in as the user they name.

    def test_something(ui: UiSession) -> None:
        page = ui.page("ana")              # signed in as approver "ana" on tenant "acme"
        page.goto(ui.url("/acme/offers"))
        assert ui.axe(page) == []          # serious or critical axe-core violations

Users: ``ana`` (approver on acme, editor on beta), ``olga`` (observer on acme); ``ui.add_user``
makes more. Tests outside ``tests/ui/`` use the same session by importing the fixtures::

    from tests.ui.conftest import UiSession, browser, ui, ui_server  # noqa: F401
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
PASSWORD = "correct horse battery"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class UiSession:
    """The running server, the browser, and helpers to sign in and check pages."""

    base: str
    database_url: str
    browser: Any
    console: list[str] = field(default_factory=list)
    _contexts: list[Any] = field(default_factory=list)

    def url(self, path: str) -> str:
        """``path`` under the UI, e.g. ``/acme/offers`` -> ``http://127.0.0.1:N/ui/acme/offers``."""
        return f"{self.base}/ui{path}"

    def add_user(self, username: str, tenant: str, role: str) -> None:
        from cible.store import Database
        from cible.ui import users

        db = Database(self.database_url)
        try:
            with db.session() as s:
                users.create_user(
                    s, username=username, password=PASSWORD, tenant_code=tenant, role=role
                )
        finally:
            db.dispose()

    def page(self, username: str | None = None, *, width: int = 1280, height: int = 900) -> Any:
        """A page in a new browser context, signed in as ``username`` when given."""
        context = self.browser.new_context(viewport={"width": width, "height": height})
        self._contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        if username is not None:
            page.goto(self.url("/signin"))
            page.fill("#username", username)
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/activities")
        return page

    def axe(self, page: Any) -> list[dict[str, Any]]:
        """axe-core's serious and critical violations on the current page (WCAG 2.1 A/AA)."""
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            # Through the debugging protocol, so the page's content-security policy (which
            # refuses inline scripts) does not apply to the injection.
            page.evaluate(AXE.read_text())
        result = page.evaluate(
            """async () => {
                const r = await axe.run(document, {runOnly: {type: 'tag',
                    values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
                return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.map(n => n.target.join(' '))}));
            }"""
        )
        return [v for v in result if v["impact"] in ("serious", "critical")]

    def csp_violations(self) -> list[str]:
        return [line for line in self.console if "Content Security Policy" in line]

    def close_contexts(self) -> None:
        for context in self._contexts:
            with contextlib.suppress(Exception):
                context.close()
        self._contexts.clear()


def _wait_healthy(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    # Generous: importing the app takes seconds on an idle machine and a minute on a loaded one.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"cible serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"cible serve did not answer in 180 s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def ui_server(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """``(base URL, database URL)`` of a ``cible serve`` with tenant ``acme`` and its users."""
    from cible.store import Database
    from cible.tenants import service as tenants
    from cible.ui import users

    workdir = tmp_path_factory.mktemp("ui-server")
    shutil.copy(sqlite_template, workdir / "cible.db")
    url = f"sqlite:///{workdir / 'cible.db'}"
    db = Database(url)
    with db.session() as s:
        tenants.create_tenant(s, "acme", "Acme")
        tenants.create_tenant(s, "beta", "Beta")
        for name, role in (("ana", "approver"), ("olga", "observer")):
            users.create_user(s, username=name, password=PASSWORD, tenant_code="acme", role=role)
        users.grant(s, users.get_user(s, "ana"), tenant_code="beta", role="editor")
    db.dispose()
    port = _free_port()
    env = {
        **os.environ,
        "CIBLE_DATABASE_URL": url,
        "CIBLE_SECRET_KEY": "ui-tests-secret-key-0123456789-abcdefghijkl",
        "CIBLE_LOG_LEVEL": "WARNING",
        # The browser tests sign "ana" in dozens of times a minute; the default burst of 10
        # sign-ins per user answered some of them 429 (the throttle has its own tests in
        # tests/ui/test_http.py).
        "CIBLE_TOKEN_THROTTLE_BURST": "10000",
    }
    log = workdir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cible", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process, log)
        yield base, url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class _Browser:
    chromium: Any
    # Playwright's sync API runs its event loop in a greenlet of this thread, and that loop
    # stays marked as the thread's running loop between calls; every async test after it
    # (anyio) would then refuse to start its own. The loop is marked running only while a
    # browser test runs (the ``ui`` fixture), and unmarked in between.
    loop: asyncio.AbstractEventLoop | None


@contextlib.contextmanager
def _playwright_loop(state: _Browser) -> Iterator[None]:
    asyncio._set_running_loop(state.loop)
    try:
        yield
    finally:
        asyncio._set_running_loop(None)


@pytest.fixture(scope="session")
def browser() -> Iterator[_Browser]:
    """One headless Debian chromium for the session."""
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Debian's chromium at /usr/bin/chromium (scripts/test)")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    state = _Browser(chromium, asyncio._get_running_loop())
    asyncio._set_running_loop(None)
    try:
        yield state
    finally:
        with _playwright_loop(state):
            chromium.close()
            playwright.stop()


@pytest.fixture
def ui(ui_server: tuple[str, str], browser: _Browser) -> Iterator[UiSession]:
    session = UiSession(base=ui_server[0], database_url=ui_server[1], browser=browser.chromium)
    with _playwright_loop(browser):
        try:
            yield session
        finally:
            session.close_contexts()
