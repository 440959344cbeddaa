"""Delivery API throughput and latency against a real ``cible serve`` on 127.0.0.1.

Sets up a fresh SQLite database (or ``--database-url``) with one tenant whose served artifact
holds 10 live A/B activities on each of two mboxes (nine with an audience the request does not
match, so every call evaluates all ten per mbox), starts ``cible serve`` (``--workers``; the
event log's consumers run in its parent process) and, in the same run, a bare FastAPI endpoint
that decodes the same JSON body with orjson and answers a fixed response. Both get the same
load: execute calls of both mboxes, ``--concurrency`` at a time, from ``--visitors`` returning
visitors (each with his own tntId and sessionId, all seen once during the warm-up), every call
setting a profile parameter to a new value (so every call writes the visitor's state) and
appending its impressions to the event log. After the load, the script waits for the
consumers' lag to reach zero and reports how long that took. Prints JSON: requests/s, p50 and
p99 latency in milliseconds, errors, lag drain time.

The load comes from ``wrk`` (Debian package ``wrk``; one thread, ``--concurrency``
connections, ``--seconds`` long) when it is installed, since a Python client saturates a core
before a bare endpoint does; otherwise from an httpx client in this process, which then bounds
the figures (``"generator"`` in the output says which).

    .venv/bin/python benchmarks/delivery.py --requests 3000 --concurrency 16
    .venv/bin/python benchmarks/delivery.py --requests 3000 --concurrency 16 --postgres
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from _postgres import throwaway_database

BARE_APP = """
import orjson, uvicorn
from fastapi import FastAPI, Request
from starlette.responses import Response
app = FastAPI()
@app.post("/rest/v1/delivery")
async def delivery(request: Request) -> Response:
    body = orjson.loads(await request.body())
    answer = {"status": 200, "id": body.get("id"), "execute": {"mboxes": []}}
    return Response(orjson.dumps(answer), media_type="application/json")
uvicorn.run(app, host="127.0.0.1", port=int(__import__("sys").argv[1]), log_level="warning",
            access_log=False)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def setup_database(url: str) -> None:
    from cible.artifacts import compile_artifact, dump_artifact
    from cible.artifacts.store import replace
    from cible.store import Database, upgrade
    from cible.tenants import service as tenants
    from cible.tenants.tables import Tenant

    upgrade(url)
    offers = {
        500 + i: {"id": 500 + i, "name": f"o{i}", "type": "json", "content": {"n": i}}
        for i in range(2)
    }
    audiences = {
        i: {"id": i, "name": f"tier {i}", "targetRule": {"mbox": "tier", "equals": [f"t{i}"]}}
        for i in range(1, 11)
    }
    activities = [
        {
            "id": offset + i,
            "type": "ab",
            "name": f"activity {i}",
            "state": "approved",
            "priority": 100 - i,
            "options": [{"optionLocalId": e, "offerId": 500 + e} for e in range(2)],
            "locations": {"mboxes": [{"locationLocalId": 0, "name": mbox, "audienceIds": [i]}]},
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
        for offset, mbox in ((1000, "hero"), (2000, "promo"))
        for i in range(1, 11)
    ]
    db = Database(url)
    with db.session() as session:
        tenants.create_tenant(session, "bench")
        tenant = session.query(Tenant).filter(Tenant.client_code == "bench").one()
        artifact = compile_artifact(
            client="bench",
            environment="production",
            activities=activities,
            offers=offers,
            audiences=audiences,
            generated_at=datetime.now(UTC),
            include_remote=True,
        )
        replace(session, tenant.id, "production", dump_artifact(artifact), datetime.now(UTC), "")
    db.dispose()


def wait_ready(port: int, process: subprocess.Popen[bytes], path: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


COUNTER = "__N__"  # replaced by a per-request number (wrk: in Lua; httpx: in Python)


def bodies(args: argparse.Namespace) -> list[bytes]:
    return [
        json.dumps(
            {
                "context": {"channel": "web"},
                "id": {"tntId": f"{v:032x}.0"},
                "execute": {
                    "mboxes": [
                        {
                            "index": 1,
                            "name": "hero",
                            "parameters": {"tier": "t10"},
                            "profileParameters": {"pageViews": COUNTER},
                        },
                        {"index": 2, "name": "promo", "parameters": {"tier": "t10"}},
                    ]
                },
            }
        ).encode()
        for v in range(args.visitors)
    ]


WRK_SCRIPT = """
local bodies = {%s}
local n = 0
request = function()
  n = n + 1
  local v = n %% #bodies
  local body = string.gsub(bodies[v + 1], "__N__", tostring(n))
  return wrk.format("POST", "/rest/v1/delivery?client=bench&sessionId=s" .. v,
                    {["Content-Type"] = "application/json"}, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%.3f %%.3f %%.3f\\n", summary.requests,
    e.status + e.connect + e.read + e.write + e.timeout, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def load_wrk(port: int, args: argparse.Namespace, seconds: float) -> dict[str, Any]:
    script = Path(tempfile.mkdtemp(prefix="cible-wrk-")) / "delivery.lua"
    script.write_text(WRK_SCRIPT % ", ".join(f"[[{b.decode()}]]" for b in bodies(args)))
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{args.concurrency}",
            f"-d{int(seconds)}s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    match = re.search(r"RESULT (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"unexpected wrk output: {out}")
    count, errors = int(match.group(1)), int(match.group(2))
    elapsed = float(match.group(3))
    return {
        "requests": count,
        "errors": errors,
        "seconds": round(elapsed, 2),
        "requests_per_second": round(count / elapsed, 1),
        "p50_ms": round(float(match.group(4)), 2),
        "p99_ms": round(float(match.group(5)), 2),
    }


async def load(port: int, args: argparse.Namespace) -> dict[str, Any]:
    payloads = bodies(args)
    latencies: list[float] = []
    errors = 0
    counter = iter(range(args.requests))
    started = time.perf_counter()
    deadline = started + args.max_seconds
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal errors
            for n in counter:
                if time.perf_counter() > deadline:
                    return
                visitor = n % args.visitors
                url = f"http://127.0.0.1:{port}/rest/v1/delivery?client=bench&sessionId=s{visitor}"
                t0 = time.perf_counter()
                body = payloads[visitor].replace(COUNTER.encode(), str(n).encode())
                response = await client.post(
                    url, content=body, headers={"content-type": "application/json"}
                )
                latencies.append(time.perf_counter() - t0)
                if response.status_code != 200:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 2),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
    }


def lag_drain_seconds(url: str | None, timeout: float = 30.0) -> float | None:
    """Seconds until every event-log consumer has applied the whole log (None: no database)."""
    if url is None:
        return None
    from cible.events import lag, load_consumers
    from cible.store import Database

    load_consumers()
    db = Database(url)
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < timeout:
            if not any(lag(db.engine).values()):
                return round(time.perf_counter() - started, 3)
            time.sleep(0.02)
        return None
    finally:
        db.dispose()


def run_server(
    command: list[str],
    env: dict[str, str],
    port: int,
    path: str,
    args: argparse.Namespace,
    database_url: str | None = None,
) -> dict[str, Any]:
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_ready(port, process, path)
        # Warm-up: one call per visitor, so every visitor of the measured run is a returning one.
        warm = argparse.Namespace(**{**vars(args), "requests": args.visitors})
        asyncio.run(load(port, warm))
        if args.generator == "wrk":
            load_wrk(port, args, args.warmup)
            result = load_wrk(port, args, args.seconds)
        else:
            result = asyncio.run(load(port, args))
        result["consumer_lag_zero_after_s"] = lag_drain_seconds(database_url)
        return result
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--visitors", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=1, help="cible serve --workers")
    parser.add_argument("--warmup", type=float, default=2.0, help="wrk warm-up seconds")
    parser.add_argument(
        "--consumers",
        choices=("in-process", "worker"),
        default="in-process",
        help="event-log consumers in cible serve's process, or in a separate cible worker",
    )
    parser.add_argument(
        "--only", choices=("cible", "bare"), default=None, help="run one server only"
    )
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--seconds", type=float, default=10.0, help="wrk run length")
    parser.add_argument(
        "--generator",
        choices=("wrk", "httpx"),
        default="wrk" if shutil.which("wrk") else "httpx",
        help="load generator (wrk when installed)",
    )
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--postgres", action="store_true", help="run on a throwaway PostgreSQL 15 cluster"
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cible-bench-"))
    if not args.postgres:
        run(args, tmp)
        return
    with throwaway_database() as url:
        args.database_url = url
        run(args, tmp)


def run(args: argparse.Namespace, tmp: Path) -> None:
    url = args.database_url or f"sqlite:///{tmp / 'cible.db'}"
    setup_database(url)
    env = {
        **os.environ,
        "CIBLE_DATABASE_URL": url,
        "CIBLE_LOG_LEVEL": "WARNING",
        "CIBLE_SECRET_KEY": "benchmark-secret-key-0123456789abcdef",
    }
    cible_port, bare_port = free_port(), free_port()
    serve = [sys.executable, "-m", "cible", "serve", "--port", str(cible_port)]
    serve += ["--workers", str(args.workers)]
    worker = None
    if args.consumers == "worker":
        serve.append("--no-worker")
        worker = subprocess.Popen(
            [sys.executable, "-m", "cible", "worker", "--poll", "0.2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    cible = bare = None
    try:
        if args.only in (None, "cible"):
            cible = run_server(serve, env, cible_port, "/rest/v1/delivery", args, url)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
    if args.only in (None, "bare"):
        bare_command = [sys.executable, "-c", BARE_APP, str(bare_port)]
        bare = run_server(bare_command, env, bare_port, "/rest/v1/delivery", args)
    ratio = None
    if cible is not None and bare is not None:
        ratio = round(cible["requests_per_second"] / bare["requests_per_second"], 3)
    print(
        json.dumps(
            {
                "benchmark": "delivery execute, 2 mboxes x 10 live activities, state written",
                "database": url.split(":", 1)[0].split("+", 1)[0],
                "workers": args.workers,
                "consumers": args.consumers,
                "visitors": args.visitors,
                "concurrency": args.concurrency,
                "cible_over_bare": ratio,
                "generator": args.generator,
                "cible": cible,
                "bare_fastapi_orjson": bare,
                "date": datetime.now(UTC).date().isoformat(),
                "cpus": os.cpu_count(),
                "python": sys.version.split()[0],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
