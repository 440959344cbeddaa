"""``cible serve --workers N`` runs one job worker, and its scheduler, whatever N is."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from cible.jobs import ensure_schedule
from cible.jobs.scheduler import LEADER
from cible.jobs.tables import DONE, Job, JobLease
from cible.store import Database, upgrade

CIBLE = str(Path(sys.executable).parent / "cible")


@dataclass
class Served:
    pid: int
    logs: list[dict[str, object]]
    jobs: list[Job]
    leader_pid: str  # from the scheduler lease's holder, "" when nothing ever led


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(tmp_path: Path, *flags: str) -> Served:
    """Boots ``cible serve`` with a schedule due every second, waits for one run to finish (or
    a few seconds without a worker) and stops it."""
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    upgrade(url)
    db = Database(url)
    with db.session() as s:
        ensure_schedule(s, "test.often", "events.compact", {}, every=timedelta(seconds=1))
    env = {
        **os.environ,
        "CIBLE_DATABASE_URL": url,
        "CIBLE_SECRET_KEY": "serve-test-secret-key-0123456789-abcdef",
        "CIBLE_LOG_LEVEL": "INFO",
    }
    port = _free_port()
    process = subprocess.Popen(
        [CIBLE, "serve", "--host", "127.0.0.1", "--port", str(port), *flags],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180  # a loaded machine imports the app slowly
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        settle = time.monotonic() + (30 if "--no-worker" not in flags else 3)
        while time.monotonic() < settle:
            with db.session() as s:
                if s.scalar(select(Job.id).where(Job.state == DONE).limit(1)) is not None:
                    break
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    with db.session() as s:
        jobs = list(s.scalars(select(Job)))
        lease = s.get(JobLease, LEADER)
        leader = "" if lease is None else lease.holder
    db.dispose()
    logs = []
    for line in err.splitlines():
        try:
            logs.append(json.loads(line))
        except ValueError:
            continue  # uvicorn's own lines are plain text
    return Served(process.pid, logs, jobs, leader.split(":")[1] if leader else "")


def logged(served: Served, message: str) -> int:
    return sum(1 for entry in served.logs if entry.get("message") == message)


@pytest.mark.slow
def test_serve_with_two_workers_runs_one_job_worker_and_its_schedules(tmp_path: Path) -> None:
    served = _serve(tmp_path, "--workers", "2")
    assert logged(served, "worker started") == 1
    assert served.leader_pid == str(served.pid)  # the parent, not one of uvicorn's workers
    assert any(
        j.state == DONE and (j.dedupe_key or "").startswith("schedule:test.often:")
        for j in served.jobs
    )
    assert logged(served, "worker stopped") == 1


@pytest.mark.slow
def test_serve_without_worker_runs_no_schedule(tmp_path: Path) -> None:
    served = _serve(tmp_path, "--no-worker")
    assert logged(served, "worker started") == 0
    assert served.jobs == [] and served.leader_pid == ""
