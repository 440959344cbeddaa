"""``cible schedules``: list, run now, pause and resume, with one-line errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cible.cli import app
from cible.config import get_settings
from cible.jobs import ensure_schedule, task
from cible.store import Database
from tests.conftest import BACKENDS

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

CALLS: list[dict[str, Any]] = []


@task("test.cli")
def _cli_task(db: Database, payload: dict[str, Any]) -> None:
    CALLS.append(payload)


@pytest.fixture
def cli(
    database: Database, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[CliRunner]:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("CIBLE_DATABASE_URL", database_url)
    get_settings.cache_clear()
    CALLS.clear()
    with database.session() as s:
        ensure_schedule(s, "test.daily", "test.cli", {"tenant": "acme"}, cron="0 3 * * *")
        ensure_schedule(s, "test.ghost", "test.no-such-kind", {}, every=timedelta(minutes=10))
    yield CliRunner()
    get_settings.cache_clear()


def run(cli: CliRunner, *args: str) -> tuple[int, str, str]:
    result = cli.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def listed(cli: CliRunner) -> dict[str, dict[str, Any]]:
    code, out, err = run(cli, "schedules", "list", "--json")
    assert code == 0, err
    return {row["name"]: row for row in json.loads(out)}


def test_list_shows_declared_and_stored_schedules(cli: CliRunner) -> None:
    rows = listed(cli)
    # Built-ins and other domains' declared schedules, and those stored by ensure_schedule.
    assert {"events.retention", "test.daily", "test.ghost"} <= set(rows)
    daily = rows["test.daily"]
    assert daily["kind"] == "test.cli" and daily["payload"] == {"tenant": "acme"}
    assert (daily["cron"], daily["everySeconds"], daily["enabled"]) == ("0 3 * * *", None, True)
    assert daily["nextRunAt"].endswith("T03:00:00.000Z")
    assert daily["lastRunAt"] is None and daily["lastJob"] is None
    assert rows["events.retention"]["everySeconds"] == 3600

    code, out, _ = run(cli, "schedules", "list")
    assert code == 0 and "test.daily" in out and "every 600 s" in out


def test_run_now_enqueues_or_runs_in_process(cli: CliRunner) -> None:
    code, out, err = run(cli, "schedules", "run", "test.daily", "--json")
    assert code == 0, err
    queued = json.loads(out)
    assert (queued["kind"], queued["state"], queued["attempts"]) == ("test.cli", "pending", 0)
    assert CALLS == []

    code, out, err = run(cli, "schedules", "run", "test.daily", "--wait", "--json")
    assert code == 0, err
    done = json.loads(out)
    assert (done["state"], done["attempts"]) == ("done", 1) and done["id"] != queued["id"]
    assert CALLS == [{"tenant": "acme"}]
    assert listed(cli)["test.daily"]["lastRunAt"] is None  # the timing is untouched

    code, out, _ = run(cli, "schedules", "run", "test.ghost", "--wait", "--json")
    assert code == 1
    dead = json.loads(out)
    assert dead["state"] == "dead" and "no handler registered" in dead["lastError"]


def test_disable_and_enable(cli: CliRunner) -> None:
    code, out, _ = run(cli, "schedules", "disable", "test.daily", "--json")
    assert code == 0 and json.loads(out) == {"name": "test.daily", "enabled": False}
    assert listed(cli)["test.daily"]["enabled"] is False
    code, out, _ = run(cli, "schedules", "list")
    assert "paused" in out
    code, out, _ = run(cli, "schedules", "enable", "test.daily")
    assert code == 0 and "schedule test.daily enabled" in out
    assert listed(cli)["test.daily"]["enabled"] is True


@pytest.mark.parametrize(
    "args",
    [
        ["schedules", "run", "nope"],
        ["schedules", "disable", "nope"],
        ["schedules", "enable", "nope"],
    ],
)
def test_unknown_schedules_are_one_line_errors(cli: CliRunner, args: list[str]) -> None:
    code, out, err = run(cli, *args)
    assert code == 1
    assert err == "error: no schedule named 'nope'\n"
    assert "Traceback" not in out
