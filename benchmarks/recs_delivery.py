"""Recommendations served per second through ``/rest/v1/delivery``, against a plain A/B call in
the same run, on a real ``cible serve`` on 127.0.0.1 (issue 20: target, recs >= half of plain).

Sets up a fresh SQLite database (or ``--database-url``) with one tenant: a catalog of
``--items`` entities, a trained "viewed this, viewed that" criteria with 20 results for each of
``--keys`` key items, a 4-slot HTML design (a loop, ``$esc.html`` on names), a global exclusion,
a front promotion, and two A/B activities compiled into the served artifact: ``plain`` shows a
JSON offer, ``recs`` a recommendations offer. Then ``cible serve`` gets the same load twice,
one scenario after the other, alternating ``--rounds`` times: execute calls of one mbox,
``--concurrency`` at a time, from ``--visitors`` returning visitors; the recs calls send
``entity.id`` (a key item, varying) as a product page does. Every recs answer is checked to
hold a rendered design.

Prints JSON: requests/s, p50 and p99 latency (ms) per scenario (best round), and the ratio.
The load comes from an httpx client in this process (``wrk`` is not installed here), which
bounds both figures the same way.

    .venv/bin/python benchmarks/recs_delivery.py --requests 3000 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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

DESIGN = (
    "<div class='recs'><h3>$criteria.title</h3><ul>\n"
    "#foreach($e in $entities)\n"
    "  <li><a href='$e.pageUrl'>$esc.html($e.name)</a> $e.value</li>\n"
    "#end\n"
    "</ul><!-- $entity4.id --></div>"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def setup_database(url: str, args: argparse.Namespace) -> None:
    from sqlalchemy import insert

    from cible.artifacts import compile_artifact, dump_artifact
    from cible.artifacts.store import replace
    from cible.recs.catalog import default_environment, upsert
    from cible.recs.entities import EntityIn
    from cible.recs.merchandising_tables import RecsDesign, RecsExclusion, RecsPromotion
    from cible.recs.tables import RecsCriteria, RecsResult
    from cible.store import Database, upgrade
    from cible.tenants import service as tenants
    from cible.tenants.tables import Tenant

    upgrade(url)
    now = datetime.now(UTC)
    db = Database(url)
    with db.session() as session:
        tenants.create_tenant(session, "bench")
        tenant = session.query(Tenant).filter(Tenant.client_code == "bench").one()
        conn = session.connection()
        env = default_environment(conn, tenant.id)
        items = [
            EntityIn(
                id=f"sku{i}",
                name=f"Product <{i}>",
                categories=(f"cat{i % 20}",),
                attributes={"value": 10 + i % 90, "inventory": 5, "pageUrl": f"/p/{i}"},
            )
            for i in range(args.items)
        ]
        upsert(conn, tenant.id, env, items, now)
        body = {
            "name": "Also viewed",
            "criteriaTitle": "People also viewed",
            "type": "VIEWED_CF",
            "key": "CURRENT",
            "daysCount": "TWO_WEEKS",
            "partialDesignAllowed": True,
            "backupDisabled": True,
        }
        criteria = RecsCriteria(
            tenant_id=tenant.id, criteria_group="item", name="Also viewed", body=json.dumps(body)
        )
        design = RecsDesign(tenant_id=tenant.id, name="List", type="HTML", script=DESIGN)
        exclusion = RecsExclusion(
            tenant_id=tenant.id, name="Hidden", rule=json.dumps({"id": {"equals": ["sku7"]}})
        )
        promotion = RecsPromotion(
            tenant_id=tenant.id,
            name="Front",
            body=json.dumps({"type": "EXTERNAL", "entityIds": ["sku1"], "key": "CURRENT"}),
        )
        session.add_all([criteria, design, exclusion, promotion])
        session.flush()
        trained = int(now.timestamp() * 1000)
        session.execute(
            insert(RecsResult),
            [
                {
                    "criteria_id": criteria.id,
                    "key": f"item:sku{k}",
                    "tenant_id": tenant.id,
                    "items": json.dumps([f"sku{(k * 7 + j) % args.items}" for j in range(1, 21)]),
                    "trained_ms": trained,
                }
                for k in range(args.keys)
            ],
        )
        offers = {
            500: {"id": 500, "name": "plain", "type": "json", "content": {"hero": True}},
            600: {
                "id": 600,
                "name": "recs",
                "type": "recs",
                "criteriaId": criteria.id,
                "designId": design.id,
                "promotions": {"front": [{"id": promotion.id, "configuration": {"maxSlots": 1}}]},
            },
        }
        activities = [
            {
                "id": activity_id,
                "type": "ab",
                "name": mbox,
                "state": "approved",
                "options": [{"optionLocalId": 0, "offerId": offer}],
                "locations": {"mboxes": [{"locationLocalId": 0, "name": mbox}]},
                "experiences": [
                    {
                        "experienceLocalId": 0,
                        "name": "A",
                        "visitorPercentage": 100,
                        "optionLocations": [{"locationLocalId": 0, "optionLocalId": 0}],
                    }
                ],
            }
            for activity_id, mbox, offer in ((1, "plain", 500), (2, "recs", 600))
        ]
        artifact = compile_artifact(
            client="bench",
            environment="production",
            activities=activities,
            offers=offers,
            audiences={},
            generated_at=now,
            include_remote=True,
        )
        replace(session, tenant.id, "production", dump_artifact(artifact), now, "")
    db.dispose()


def wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/rest/v1/delivery", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def body(mbox: str, visitor: int, n: int, keys: int) -> bytes:
    parameters = {"entity.id": f"sku{n % keys}"} if mbox == "recs" else {}
    return json.dumps(
        {
            "context": {"channel": "web"},
            "id": {"tntId": f"{visitor:032x}.0"},
            "execute": {"mboxes": [{"index": 0, "name": mbox, "parameters": parameters}]},
        }
    ).encode()


def rendered(payload: dict[str, Any]) -> bool:
    options = payload["execute"]["mboxes"][0].get("options") or []
    return bool(options) and options[0]["type"] == "html" and "<li>" in options[0]["content"]


async def load(port: int, mbox: str, args: argparse.Namespace, requests: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(requests))
    limits = httpx.Limits(max_connections=args.concurrency)
    started = time.perf_counter()
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal errors
            for n in counter:
                visitor = n % args.visitors
                url = f"http://127.0.0.1:{port}/rest/v1/delivery?client=bench&sessionId=s{visitor}"
                t0 = time.perf_counter()
                try:
                    response = await client.post(
                        url,
                        content=body(mbox, visitor, n, args.keys),
                        headers={"content-type": "application/json"},
                    )
                except httpx.TransportError:
                    # A kept-alive connection the server closed as the request left: the
                    # call is counted as an error, not retried.
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - t0)
                ok = response.status_code == 200
                if ok and mbox == "recs":
                    ok = rendered(response.json())
                errors += not ok

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000, help="per scenario and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--visitors", type=int, default=500)
    parser.add_argument("--items", type=int, default=10_000, help="catalog size")
    parser.add_argument("--keys", type=int, default=500, help="key items with trained results")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cible-bench-recs-"))
    url = args.database_url or f"sqlite:///{tmp / 'cible.db'}"
    setup_database(url, args)
    port = free_port()
    env = {
        **os.environ,
        "CIBLE_DATABASE_URL": url,
        "CIBLE_LOG_LEVEL": "WARNING",
        "CIBLE_SECRET_KEY": "benchmark-secret-key-0123456789abcdef",
    }
    command = [sys.executable, "-m", "cible", "serve", "--port", str(port)]
    log = (tmp / "serve.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    results: dict[str, list[dict[str, Any]]] = {"plain": [], "recs": []}
    try:
        wait_ready(port, process)
        for mbox in ("plain", "recs"):  # warm-up: every visitor seen once, caches filled
            asyncio.run(load(port, mbox, args, args.visitors))
        for _ in range(args.rounds):
            for mbox in ("plain", "recs"):
                results[mbox].append(asyncio.run(load(port, mbox, args, args.requests)))
    except Exception:
        print(f"cible serve's log: {tmp / 'serve.log'}", file=sys.stderr)
        raise
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
    best = {
        mbox: max(runs, key=lambda r: float(r["requests_per_second"]))
        for mbox, runs in results.items()
    }
    ratio = round(best["recs"]["requests_per_second"] / best["plain"]["requests_per_second"], 3)
    print(
        json.dumps(
            {
                "benchmark": "delivery execute of one mbox: recs offer (4-slot HTML design) vs "
                "plain A/B JSON offer, same server, same load",
                "database": url.split(":", 1)[0].split("+", 1)[0],
                "catalog_items": args.items,
                "key_items": args.keys,
                "visitors": args.visitors,
                "concurrency": args.concurrency,
                "generator": "httpx",
                "recs_over_plain": ratio,
                "plain": best["plain"],
                "recs": best["recs"],
                "rounds": results,
                "date": datetime.now(UTC).date().isoformat(),
                "cpus": os.cpu_count(),
                "python": sys.version.split()[0],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
