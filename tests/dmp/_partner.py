"""A partner of real-time destinations on 127.0.0.1, and a job runner that drains the outbox.

The partner checks each request's HMAC signature (or OAuth bearer token) itself and applies a
message at most once per idempotency key, the way a partner of AAM's real-time destinations
would; it can refuse or stall a share of requests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

import orjson

from cible.dmp.transfers import s2s
from cible.jobs import run_pending
from cible.store import Database
from cible.store.base import utcnow
from tests.stub_http import StubHTTPServer

KEY = "partner-shared-key"


class Partner:
    """A partner endpoint: ``plan(n)`` chooses what the n-th data request meets."""

    def __init__(
        self,
        fail: float = 0.0,
        timeout: float = 0.0,
        seed: int = 18,
        digest: Any = hashlib.sha256,
        header: str = "X-Signature",
    ) -> None:
        self.fail, self.timeout = fail, timeout
        self.digest, self.header = digest, header
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.applied: dict[str, dict[str, Any]] = {}
        self.duplicates = 0
        self.requests = 0
        self.bad_signatures = 0
        self.in_flight = 0
        self.tokens_issued = 0
        self.always_fail = False
        self.revoke_token = False  # the next bearer request gets 401 (a revoked token)
        partner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path == "/token":
                    partner.token(self)
                    return
                with partner.lock:
                    partner.in_flight += 1
                try:
                    partner.receive(self, body)
                finally:
                    with partner.lock:
                        partner.in_flight -= 1

            def log_message(self, *args: Any) -> None:
                pass

        self.server = StubHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def token(self, handler: BaseHTTPRequestHandler) -> None:
        expected = "Basic " + base64.b64encode(b"cible:client-secret").decode()
        ok = handler.headers.get("Authorization") == expected
        with self.lock:
            self.tokens_issued += ok
        body = orjson.dumps({"token_type": "Bearer", "access_token": "tok-1", "expires_in": 3600})
        _answer(handler, 200 if ok else 401, body if ok else b"{}")

    def receive(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        signed = handler.headers.get(self.header, "")
        good = base64.b64encode(hmac.new(KEY.encode(), body, self.digest).digest()).decode()
        bearer = handler.headers.get("Authorization")
        with self.lock:
            self.requests += 1
            draw = self.rng.random()
            if signed != good and bearer != "Bearer tok-1":
                self.bad_signatures += 1
                _answer(handler, 403)
                return
        if self.always_fail:
            _answer(handler, 503)
            return
        if bearer and self.revoke_token:
            self.revoke_token = False
            _answer(handler, 401)
            return
        if draw < self.fail / 2:
            _answer(handler, 500)  # refused before applying
            return
        if draw < self.fail + self.timeout and draw >= self.fail:
            time.sleep(0.6)  # longer than Cible's timeout: Cible gives up, the partner applies
        self.apply(handler.headers[s2s.IDEMPOTENCY_HEADER], body)
        # Applied, then an error: Cible must retry, the partner must not apply it twice.
        _answer(handler, 500 if draw < self.fail else 200)

    def apply(self, key: str, body: bytes) -> None:
        with self.lock:
            if key in self.applied:
                self.duplicates += 1
            else:
                self.applied[key] = orjson.loads(body)

    def settle(self) -> None:
        """Waits for handlers still sleeping past Cible's timeout."""
        deadline = time.monotonic() + 10
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.05)


def _answer(handler: BaseHTTPRequestHandler, status: int, body: bytes = b"{}") -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def serve(**kwargs: Any) -> Iterator[Partner]:
    """A running partner for a fixture to yield; stopped when the fixture ends."""
    partner = Partner(**kwargs)
    partner.thread.start()
    yield partner
    partner.server.shutdown()
    partner.server.server_close()


def drain(db: Database) -> None:
    """Runs jobs until none is left, each round far enough ahead to pass every backoff."""
    for day in range(1, 400):
        if run_pending(db, now=utcnow() + timedelta(days=day), limit=10_000) == 0:
            return
    raise AssertionError("jobs kept coming")
