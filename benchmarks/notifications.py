"""Notification ingestion against a real ``cible serve`` on 127.0.0.1 (SQLite, one worker).

Two figures (issue 12, "Numbers it must reach"):

(a) ``batch``: ``POST /rest/v1/notifications`` in batches of ``--batch-size`` (500) display
    notifications with valid event tokens, ``--concurrency`` batches in flight; first from new
    visitors (every notification a visitor never seen), then from returning ones (the visitors
    of the first phase, drawn at random). Prints notifications/s per phase.
(b) ``sdk``: ``cible.sdk.TargetClient`` deciding on-device in execute mode (one mbox, so one
    display notification per decision) at a paced ``--rate`` (2,000) decisions/s for
    ``--seconds`` (30) over ``--visitors`` visitors, sending its notifications to the server
    (``notification_endpoint`` ``--endpoint``, default ``auto``), then ``client.close()``.
    Prints ``client.stats["notifications"]`` and the display rows counted in the database once
    they stop growing (the server's event consumers drained).

The tenant's served artifact holds 10 A/B activities on 10 mboxes (``m0`` … ``m9``), split
50/50; tokens are the ones the artifact carries. Each part runs against its own fresh server and
database. ``--profile DIR`` runs the server under ``py-spy record`` (when installed) and writes
its collapsed stacks (``--format raw``, one file per part, for ``flamegraph.pl`` or speedscope)
there.

    .venv/bin/python benchmarks/notifications.py [--part batch|sdk|both] [--profile /tmp/prof]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

CLIENT = "bench"
ACTIVITIES = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def artifact_json() -> dict[str, Any]:
    from cible.artifacts import compile_artifact

    offers = {
        500 + e: {"id": 500 + e, "name": f"o{e}", "type": "json", "content": {"e": e}}
        for e in range(2)
    }
    activities = [
        {
            "id": 1000 + a,
            "type": "ab",
            "name": f"activity {a}",
            "state": "approved",
            "priority": 5,
            "options": [{"optionLocalId": e, "offerId": 500 + e} for e in range(2)],
            "locations": {"mboxes": [{"locationLocalId": 0, "name": f"m{a}"}]},
            "experiences": [
                {
                    "experienceLocalId": e,
                    "name": f"E{e}",
                    "visitorPercentage": 50,
                    "optionLocations": [{"locationLocalId": 0, "optionLocalId": e}],
                }
                for e in range(2)
            ],
        }
        for a in range(ACTIVITIES)
    ]
    return compile_artifact(
        client=CLIENT,
        environment="production",
        activities=activities,
        offers=offers,
        audiences={},
        generated_at=datetime.now(UTC),
        include_remote=False,
    )


def setup_database(url: str, artifact: dict[str, Any]) -> str:
    """Migrate, create the tenant, serve the artifact; the tenant's organization id."""
    from cible.artifacts import dump_artifact
    from cible.artifacts.store import replace
    from cible.store import Database, upgrade
    from cible.tenants import service as tenants
    from cible.tenants.tables import Tenant

    upgrade(url)
    db = Database(url)
    with db.session() as session:
        tenants.create_tenant(session, CLIENT)
        tenant = session.query(Tenant).filter(Tenant.client_code == CLIENT).one()
        org = str(tenant.organization_id)
        replace(session, tenant.id, "production", dump_artifact(artifact), datetime.now(UTC), "")
    db.dispose()
    return org


def tokens(artifact: dict[str, Any]) -> dict[str, list[str]]:
    """``{mbox: [event token of each experience]}`` from the artifact's rules."""
    found: dict[str, list[str]] = {}
    for mbox, rules in artifact["rules"]["mboxes"].items():
        for rule in rules:
            for option in rule["consequence"].get("options", []):
                if option.get("eventToken"):
                    found.setdefault(mbox, []).append(option["eventToken"])
    return found


def display_rows(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT count(*) FROM events WHERE kind = 'display'")
                ).scalar_one()
            )
    finally:
        engine.dispose()


def drained_rows(url: str, settle: float = 3.0, limit: float = 120.0) -> int:
    """Display rows once the count has not moved for ``settle`` seconds (consumers drained)."""
    deadline = time.monotonic() + limit
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = display_rows(url)
        if count != last:
            last, since = count, time.monotonic()
        elif time.monotonic() - since >= settle:
            break
        time.sleep(0.5)
    return last


class Server:
    """``cible serve`` on a free port, optionally under ``py-spy record``."""

    def __init__(self, url: str, profile: Path | None, name: str) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "CIBLE_DATABASE_URL": url,
            "CIBLE_LOG_LEVEL": "WARNING",
            "CIBLE_SECRET_KEY": "benchmark-secret-key-0123456789abcdef",
        }
        command = [sys.executable, "-m", "cible", "serve", "--port", str(self.port)]
        self.profile_file: Path | None = None
        if profile is not None and shutil.which("py-spy"):
            profile.mkdir(parents=True, exist_ok=True)
            self.profile_file = profile / f"{name}.txt"
            command = [
                "py-spy", "record", "--format", "raw", "--subprocesses", "--rate", "100",
                "-o", str(self.profile_file), "--", *command,
            ]  # fmt: skip
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"cible serve exited: {self.process.stderr.read()!r}")  # type: ignore[union-attr]
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("cible serve did not start")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- (a) the batch endpoint ------------------------------------------------------------------


def batch_bodies(
    count: int, size: int, visitors: list[str], marks: dict[str, list[str]], rng: random.Random
) -> list[bytes]:
    mboxes = sorted(marks)
    bodies = []
    for _ in range(count):
        items = []
        for _ in range(size):
            visitor = visitors.pop() if visitors else ""
            mbox = rng.choice(mboxes)
            items.append(
                {
                    "id": uuid.uuid4().hex,
                    "type": "display",
                    "timestamp": int(time.time() * 1000),
                    "mbox": {"name": mbox},
                    "tokens": [rng.choice(marks[mbox])],
                    "visitorId": {"tntId": visitor},
                    "sessionId": f"s-{visitor[:20]}",
                }
            )
        bodies.append(json.dumps({"notifications": items}).encode())
    return bodies


async def post_all(port: int, bodies: list[bytes], concurrency: int) -> dict[str, Any]:
    queue = list(reversed(bodies))
    accepted = other = errors = 0
    failures: dict[int, str] = {}
    url = f"http://127.0.0.1:{port}/rest/v1/notifications?client={CLIENT}"
    async with httpx.AsyncClient(timeout=300) as client:

        async def worker() -> None:
            nonlocal accepted, other, errors
            while queue:
                body = queue.pop()
                response = await client.post(
                    url, content=body, headers={"content-type": "application/json"}
                )
                if response.status_code != 200:
                    errors += 1
                    failures.setdefault(response.status_code, response.text[:200])
                    continue
                for result in response.json()["results"]:
                    if result["status"] == 200:
                        accepted += 1
                    else:
                        other += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    sent = accepted + other
    return {
        "batches": len(bodies),
        "notifications": sent,
        "accepted": accepted,
        "not_accepted": other,
        "failed_batches": errors,
        "failures": {str(status): text for status, text in failures.items()},
        "seconds": round(elapsed, 2),
        "notifications_per_second": round(sent / elapsed, 1),
    }


def part_batch(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    artifact = artifact_json()
    url = f"sqlite:///{tmp / 'batch.db'}"
    setup_database(url, artifact)
    marks = tokens(artifact)
    rng = random.Random(12)
    server = Server(url, args.profile, "batch")
    try:
        total = args.batches * args.batch_size
        new_visitors = [f"{uuid.uuid4().hex}.0" for _ in range(total)]
        pool = list(new_visitors)
        warm = batch_bodies(
            2,
            args.batch_size,
            [f"{uuid.uuid4().hex}.0" for _ in range(2 * args.batch_size)],
            marks,
            rng,
        )
        asyncio.run(post_all(server.port, warm, 1))
        new = asyncio.run(
            post_all(
                server.port,
                batch_bodies(args.batches, args.batch_size, new_visitors, marks, rng),
                args.concurrency,
            )
        )
        returning_ids = [rng.choice(pool) for _ in range(total)]
        returning = asyncio.run(
            post_all(
                server.port,
                batch_bodies(args.batches, args.batch_size, returning_ids, marks, rng),
                args.concurrency,
            )
        )
        # Counted while the server runs: its consumers copy the event log into `events`.
        rows = drained_rows(url)
    finally:
        server.stop()
    accepted = new["accepted"] + returning["accepted"] + 2 * args.batch_size
    return {
        "batch_size": args.batch_size,
        "concurrency": args.concurrency,
        "new_visitors": new,
        "returning_visitors": returning,
        "accepted_with_warmup": accepted,
        # Rows beyond the accepted notifications come from groups of a failed (503) batch that
        # committed before the failure (docs/delivery.md).
        "display_rows": rows,
    }


# -- (b) cible.sdk on-device -----------------------------------------------------------------


def part_sdk(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from cible.sdk import TargetClient

    artifact = artifact_json()
    url = f"sqlite:///{tmp / 'sdk.db'}"
    org = setup_database(url, artifact)
    server = Server(url, args.profile, "sdk")
    try:
        client = TargetClient.create(
            {
                "client": CLIENT,
                "organization_id": org,
                "server_domain": f"127.0.0.1:{server.port}",
                "secure": False,
                "decisioning_method": "on-device",
                "artifact_payload": artifact,
                "polling_interval": 0,
                "session_cache_size": 0,
                "notification_endpoint": args.endpoint,
            }
        )
        rng = random.Random(7)
        visitors = [f"{uuid.uuid4().hex}.0" for _ in range(args.visitors)]
        requests = [
            {
                "context": {"channel": "web"},
                "id": {"tntId": visitor},
                "execute": {"mboxes": [{"index": 0, "name": f"m{n % ACTIVITIES}"}]},
            }
            for n, visitor in enumerate(visitors)
        ]
        total = int(args.rate * args.seconds)
        late = 0.0
        started = time.perf_counter()
        for n in range(total):
            due = started + n / args.rate
            now = time.perf_counter()
            if now < due:
                time.sleep(due - now)
            else:
                late = max(late, now - due)
            v = rng.randrange(args.visitors)
            client.get_offers(requests[v], session_id=f"s{v}")
        decided = time.perf_counter() - started
        closing = time.perf_counter()
        client.close(timeout=args.close_timeout)
        close_seconds = time.perf_counter() - closing
        stats = client.stats["notifications"]
        rows = drained_rows(url)
    finally:
        server.stop()
    return {
        "endpoint": args.endpoint,
        "decisions": total,
        "decisions_per_second": round(total / decided, 1),
        "max_lag_behind_pace_s": round(late, 3),
        "close_seconds": round(close_seconds, 2),
        "stats": {
            k: stats[k]
            for k in (
                "queued",
                "sent",
                "accepted",
                "rejected",
                "dropped",
                "failed",
                "pending",
                "requests",
                "retries",
            )
        },
        "display_rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", choices=("batch", "sdk", "both"), default="both")
    parser.add_argument("--batches", type=int, default=20, help="batches per phase")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--rate", type=float, default=2000.0, help="SDK decisions per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="SDK run length")
    parser.add_argument("--visitors", type=int, default=20_000, help="SDK visitor pool")
    parser.add_argument("--endpoint", choices=("auto", "batch", "single"), default="auto")
    parser.add_argument("--close-timeout", type=float, default=300.0)
    parser.add_argument("--profile", type=Path, default=None, help="py-spy flame graphs here")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cible-notify-bench-"))
    out: dict[str, Any] = {
        "benchmark": "notification ingestion, cible serve on 127.0.0.1, SQLite, 1 worker",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    try:
        if args.part in ("batch", "both"):
            out["batch_endpoint"] = part_batch(args, tmp)
        if args.part in ("sdk", "both"):
            out["sdk_on_device"] = part_sdk(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
