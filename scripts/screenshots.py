"""Screenshots of the admin web UI for docs/ and the README; run by ``scripts/screenshots``.

Starts ``cible serve`` on a free port over a temporary SQLite database holding the demo data and
the demo user, signs in with Debian's chromium (Playwright, no browser download) and writes one
PNG per main page.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

from cible.demo import install_demo
from cible.store import Database, upgrade
from cible.ui import users

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PASSWORD = "demo password for screenshots"  # noqa: S105 (a throwaway database)
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _shots(page: Page, base: str) -> None:
    def shot(name: str, path: str | None = None) -> None:
        if path is not None:
            page.goto(f"{base}/ui{path}")
        page.screenshot(path=str(OUT / f"{name}.png"))
        print(f"docs/screenshots/{name}.png")

    page.goto(f"{base}/ui/signin")
    shot("signin")
    page.fill("#username", "demo")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/activities")
    shot("activities")
    page.goto(f"{base}/ui/demo/activities/2")
    page.fill("#p-params", "loyalty=gold")
    page.get_by_role("button", name="Show decision").click()
    page.locator("#preview .match").wait_for()
    page.locator("#preview-title").scroll_into_view_if_needed()
    shot("activity-preview")
    shot("activity-form", "/demo/activities/1/edit")
    shot("offers", "/demo/offers")
    shot("offer-html", "/demo/offers/2")
    page.goto(f"{base}/ui/demo/audiences/1")
    page.fill("#t-params", "loyalty=gold")
    page.locator("#verdict .match").wait_for()
    page.locator("#verdict").scroll_into_view_if_needed()
    shot("audience-tester")
    shot("report", "/demo/activities/1/report")
    shot("mboxes", "/demo/mboxes")
    shot("jobs", "/demo/jobs")
    shot("clients", "/demo/clients")


def _traffic(base: str, visitors: int = 120) -> None:
    """Delivery calls on the demo's hero test, a share of them converting, so that the
    sparklines and the report have something to show."""
    with httpx.Client(base_url=base, timeout=10) as http:
        for n in range(visitors):
            visitor = {"tntId": f"shot-{n}.28_0"}
            body = {
                "context": {"channel": "web"},
                "id": visitor,
                "execute": {"mboxes": [{"index": 0, "name": "hero"}]},
            }
            http.post("/rest/v1/delivery?client=demo&sessionId=s" + str(n), json=body)
            if n % 3 == 0 or (n % 5 == 0 and n % 2 == 1):
                body["execute"] = {"mboxes": [{"index": 0, "name": "orderConfirmPage"}]}
                http.post("/rest/v1/delivery?client=demo&sessionId=s" + str(n), json=body)
    time.sleep(3)  # the worker's consumers fold the events into the report tables


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        url = f"sqlite:///{work}/cible.db"
        upgrade(url)
        db = Database(url)
        install_demo(db)
        with db.session() as s:
            users.create_user(
                s, username="demo", password=PASSWORD, tenant_code="demo", role="approver"
            )
        db.dispose()
        port = _port()
        env = {**os.environ, "CIBLE_DATABASE_URL": url, "CIBLE_LOG_LEVEL": "WARNING"}
        server = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [sys.executable, "-m", "cible", "serve", "--port", str(port)], cwd=work, env=env
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            _traffic(base)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
                desk = browser.new_page(viewport={"width": 1280, "height": 800})
                _shots(desk, base)
                phone = browser.new_page(viewport={"width": 390, "height": 844})
                phone.goto(f"{base}/ui/signin")
                phone.fill("#username", "demo")
                phone.fill("#password", PASSWORD)
                phone.click("button[type=submit]")
                phone.wait_for_url("**/activities")
                phone.screenshot(path=str(OUT / "activities-phone.png"))
                print("docs/screenshots/activities-phone.png")
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
