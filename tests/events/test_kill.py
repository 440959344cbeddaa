"""SIGKILL mid-load: every record whose unit was acknowledged is in the log after a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import BACKENDS

pytestmark = [pytest.mark.parametrize("backend", BACKENDS, indirect=True), pytest.mark.slow]

APPENDER = Path(__file__).with_name("_appender.py")
ROOT = Path(__file__).resolve().parents[2]


def test_every_acknowledged_record_survives_sigkill(database_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    acknowledged: list[str] = []
    with subprocess.Popen(
        [sys.executable, str(APPENDER), database_url],
        stdout=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    ) as process:
        assert process.stdout is not None
        try:
            for line in process.stdout:
                acknowledged.append(line.decode().strip())
                if len(acknowledged) >= 1000:
                    break
        finally:
            process.send_signal(signal.SIGKILL)
            rest = process.stdout.read()
            process.wait(60)
    # Lines printed before the kill landed are acknowledged too; a cut last line is not.
    acknowledged += [line.decode() for line in rest.split(b"\n")[:-1]]
    assert len(acknowledged) >= 1000
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            stored = [row[0] for row in conn.execute(text("SELECT key FROM event_log"))]
    finally:
        engine.dispose()
    assert len(stored) == len(set(stored)), "a record was stored twice"
    missing = set(acknowledged) - set(stored)
    assert missing == set(), f"{len(missing)} acknowledged records lost"
    pairs = {key.removesuffix("/2") for key in stored}
    assert all(key in stored and key + "/2" in stored for key in pairs), "half a unit stored"
