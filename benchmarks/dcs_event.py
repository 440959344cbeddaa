"""DCS ``/event`` qualifications per second against a real ``cible serve``, beside a bare endpoint.

Part ``rules`` (in process, no I/O, CPU time): the cost of one call's qualification with 500
and with 5,000 traits (100 segments), each call sending three trait keys; the ratio shows that a
call's work follows the traits its keys reach, not the taxonomy's size (target: at most 1.3).

Part ``server``: a fresh SQLite database (or ``--database-url``) with one tenant holding 500
traits and 100 segments and ``--profiles`` device profiles already qualified; ``cible serve`` and,
in the same run, a bare FastAPI endpoint answering a GET with a fixed ~200-byte JSON body get the
same ``wrk`` load (one thread, ``--concurrency`` connections): ``GET /event`` calls spread over
``--devices`` devices, each with three trait keys, ``d_rtbd=json&d_cts=2``. Afterwards the script
waits for the event log's consumers to reach the end of the log. Prints JSON.

    .venv/bin/python benchmarks/dcs_event.py --seconds 10
    .venv/bin/python benchmarks/dcs_event.py --only rules
    .venv/bin/python benchmarks/dcs_event.py --postgres   # or --database-url postgresql+psycopg://…
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
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
from fastapi import FastAPI
from starlette.responses import Response
BODY = orjson.dumps({"stuff": [], "dests": [], "uuid": "1" * 38, "dcs_region": 7,
                     "tid": "abcdefghijkl", "traits": [1, 2, 3], "segments": [4, 5],
                     "pad": "x" * 40})
app = FastAPI()
@app.get("/event")
async def event() -> Response:
    return Response(BODY, media_type="application/json")
uvicorn.run(app, host="127.0.0.1", port=int(__import__("sys").argv[1]), log_level="warning",
            access_log=False)
"""

WRK_SCRIPT = """
counter = 0
request = function()
  counter = counter + 1
  local device = counter %% %(devices)d
  local path = string.format("/event?d_rtbd=json&d_cts=2&d_uuid=2%%037d", device)
  for i = 0, 2 do
    path = path .. "&c_k" .. ((counter * 7 + i * 131) %% %(traits)d) .. "=1"
  end
  return wrk.format("GET", path, {["Host"] = "bench.demdex.localhost"})
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%f %%f %%f\\n", summary.requests,
    e.status + e.connect + e.read + e.write + e.timeout, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def taxonomy(traits: int, segments: int) -> tuple[list[str], list[str]]:
    """Trait rules (trait i reads key c_k<i>) and segment rules over trait positions."""
    rng = random.Random(7)
    trait_rules = [f'c_k{i} == "1" OR c_k{i} > 5' for i in range(traits)]
    segment_rules = []
    for _ in range(segments):
        a, b, c = (rng.randrange(traits) for _ in range(3))
        segment_rules.append(f"{{{a}}}T OR (frequency([{{{b}}}T] <= 7D) >= 2 AND NOT {{{c}}}T)")
    return trait_rules, segment_rules


def bench_rules(calls: int) -> dict[str, Any]:
    from cible.dmp.qualify import DeviceState, RuleSet, SegmentDef, TraitDef, apply_call

    out: dict[str, Any] = {}
    for size in (500, 5000):
        trait_rules, segment_rules = taxonomy(size, 100)
        traits = [TraitDef(i + 1, rule, 120) for i, rule in enumerate(trait_rules)]
        segments = [
            SegmentDef(j + 1, re.sub(r"\{(\d+)\}", lambda m: str(int(m.group(1)) + 1), rule))
            for j, rule in enumerate(segment_rules)
        ]
        rules = RuleSet.build(traits, segments, [])
        rng = random.Random(11)
        states = [DeviceState() for _ in range(1000)]
        # CPU time of this process: on a shared machine, waiting for a core is not the rules' cost.
        started = time.process_time()
        for n in range(calls):
            signals = {f"c_k{rng.randrange(size)}": ["1"] for _ in range(3)}
            index = n % len(states)
            states[index], _ = apply_call(rules, states[index], signals, n * 1000)
        elapsed = time.process_time() - started
        out[f"traits_{size}_us_per_call"] = round(elapsed / calls * 1e6, 1)
    out["ratio_5000_over_500"] = round(
        out["traits_5000_us_per_call"] / out["traits_500_us_per_call"], 3
    )
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def setup_database(url: str, profiles: int) -> None:
    from sqlalchemy import insert, select

    from cible.dmp.qualify import DeviceState
    from cible.dmp.schemas import DataSourceIn, FolderIn, SegmentIn, TraitIn
    from cible.dmp.service import create_data_source, create_folder, create_segment, create_trait
    from cible.dmp.tables import Device
    from cible.store import Database, upgrade
    from cible.tenants import service as tenants
    from cible.tenants.principal import Principal
    from cible.tenants.roles import Role
    from cible.tenants.tables import Tenant

    upgrade(url)
    db = Database(url)
    now = datetime.now(UTC)
    with db.session() as s:
        tenants.create_tenant(s, "bench")
        tenant_id = s.scalar(select(Tenant.id).where(Tenant.client_code == "bench"))
        assert tenant_id is not None
        who = Principal("bench", 0, tenant_id, "bench", {None: frozenset({Role.APPROVER})})
        ds = create_data_source(s, who, DataSourceIn(name="site"), now).id
        tf = create_folder(s, who, "traits", FolderIn(name="traits"), now).id
        sf = create_folder(s, who, "segments", FolderIn(name="segments"), now).id
        trait_rules, segment_rules = taxonomy(500, 100)
        sids = []
        for i, rule in enumerate(trait_rules):
            body = TraitIn.model_validate(
                {
                    "name": f"t{i}",
                    "traitType": "RULE_BASED_TRAIT",
                    "traitRule": rule,
                    "dataSourceId": ds,
                    "folderId": tf,
                }
            )
            sids.append(create_trait(s, who, body, now).id)
        for j, rule in enumerate(segment_rules):
            text = re.sub(r"\{(\d+)\}", lambda m: str(sids[int(m.group(1))]), rule)
            body = SegmentIn.model_validate(
                {"name": f"s{j}", "segmentRule": text, "dataSourceId": ds, "folderId": sf}
            )
            create_segment(s, who, body, now)
    rng = random.Random(3)
    now_ms = int(time.time() * 1000)
    with db.engine.begin() as conn:
        batch = []
        for n in range(profiles):
            held = rng.sample(sids, 5)
            state = DeviceState({sid: [1, [now_ms - 86_400_000]] for sid in held}, {})
            batch.append(
                {
                    "tenant_id": tenant_id,
                    "uuid": f"2{n:037d}",
                    "version": 1,
                    "state": state.encode(),
                    "last_seen_ms": now_ms,
                    "expires_ms": None,
                }
            )
            if len(batch) == 5000:
                conn.execute(insert(Device.__table__), batch)
                batch = []
        if batch:
            conn.execute(insert(Device.__table__), batch)
    db.dispose()


def wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/event", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def wrk(port: int, args: argparse.Namespace, seconds: float) -> dict[str, Any]:
    script = Path(tempfile.mkdtemp(prefix="cible-wrk-")) / "dcs.lua"
    script.write_text(WRK_SCRIPT % {"devices": args.devices, "traits": 500})
    command = ["wrk", "-t1", f"-c{args.concurrency}", f"-d{int(seconds)}s", "-s", str(script)]
    out = subprocess.run(
        [*command, f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    match = re.search(r"RESULT (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"unexpected wrk output: {out}")
    count, elapsed = int(match.group(1)), float(match.group(3))
    return {
        "requests": count,
        "errors": int(match.group(2)),
        "requests_per_second": round(count / elapsed, 1),
        "p50_ms": round(float(match.group(4)), 2),
        "p99_ms": round(float(match.group(5)), 2),
    }


def lag_drain_seconds(url: str, timeout: float = 30.0) -> float | None:
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


def serve(command: list[str], env: dict[str, str], port: int, args: argparse.Namespace) -> Any:
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_ready(port, process)
        wrk(port, args, args.warmup)
        return wrk(port, args, args.seconds)
    finally:
        process.terminate()
        process.wait(timeout=30)


def bench_server(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    url = args.database_url or f"sqlite:///{tmp / 'cible.db'}"
    setup_database(url, args.profiles)
    env = {
        **os.environ,
        "CIBLE_DATABASE_URL": url,
        "CIBLE_LOG_LEVEL": "WARNING",
        "CIBLE_SECRET_KEY": "benchmark-secret-key-0123456789abcdef",
        "CIBLE_DCS_THROTTLE_RATE": "1000000",
        "CIBLE_DCS_THROTTLE_BURST": "1000000",
    }
    cible_port, bare_port = free_port(), free_port()
    cible = serve(
        [sys.executable, "-m", "cible", "serve", "--port", str(cible_port)], env, cible_port, args
    )
    cible["consumer_lag_zero_after_s"] = lag_drain_seconds(url)
    bare = serve([sys.executable, "-c", BARE_APP, str(bare_port)], env, bare_port, args)
    return {
        "database": url.split(":", 1)[0].split("+", 1)[0],
        "profiles": args.profiles,
        "devices": args.devices,
        "concurrency": args.concurrency,
        "cible_over_bare": round(cible["requests_per_second"] / bare["requests_per_second"], 3),
        "cible": cible,
        "bare_fastapi_orjson": bare,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=("rules", "server"))
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--database-url")
    parser.add_argument(
        "--postgres", action="store_true", help="run on a throwaway PostgreSQL 15 cluster"
    )
    args = parser.parse_args()
    result: dict[str, Any] = {
        "benchmark": "DCS /event: 500 traits, 100 segments",
        "date": datetime.now(UTC).date().isoformat(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    if args.only in (None, "rules"):
        result["rules"] = bench_rules(args.calls)
    if args.only in (None, "server"):
        with tempfile.TemporaryDirectory() as tmp:
            if args.postgres:
                with throwaway_database() as url:
                    args.database_url = url
                    result["server"] = bench_server(args, Path(tmp))
            else:
                result["server"] = bench_server(args, Path(tmp))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
