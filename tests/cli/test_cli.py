"""The ``cible`` command: JSON output for scripts, one-line errors and non-zero exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cible.cli import app
from cible.config import get_settings


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("CIBLE_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def run(cli: CliRunner, *args: str) -> tuple[int, str, str]:
    result = cli.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_tenants_and_clients(cli: CliRunner) -> None:
    code, out, _ = run(cli, "tenants", "create", "shop", "--name", "Shop", "--json")
    assert code == 0
    tenant = json.loads(out)
    assert tenant["clientCode"] == "shop" and tenant["organizationId"].endswith("@AdobeOrg")
    code, out, _ = run(cli, "tenants", "list", "--json")
    assert [t["clientCode"] for t in json.loads(out)] == ["shop"]

    code, out, _ = run(cli, "clients", "create", "--tenant", "shop", "--role", "editor", "--json")
    assert code == 0
    created = json.loads(out)
    assert created["clientSecret"].startswith("p8e-")
    code, out, _ = run(cli, "clients", "list", "--json")
    listed = json.loads(out)
    assert listed[0]["clientId"] == created["clientId"]
    assert "clientSecret" not in listed[0] and created["clientSecret"] not in out
    assert listed[0]["roles"] == [{"tenant": "shop", "workspace": None, "role": "editor"}]

    code, out, _ = run(cli, "clients", "revoke", created["clientId"], "--json")
    assert code == 0 and json.loads(out)["revoked"] is True
    code, out, _ = run(cli, "clients", "list", "--tenant", "shop", "--json")
    assert json.loads(out)[0]["revoked"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tenants", "create", "Bad-Code"], "clientCode"),
        (["tenants", "create", "rest"], "reserved"),
        (["clients", "create", "--tenant", "ghost", "--role", "editor"], "ghost"),
        (["clients", "create", "--tenant", "shop", "--role", "king"], "unknown role"),
        (["clients", "revoke", "nope"], "nope"),
    ],
)
def test_errors_are_one_line_with_a_non_zero_exit(
    cli: CliRunner, args: list[str], message: str
) -> None:
    run(cli, "tenants", "create", "shop")
    code, out, err = run(cli, *args)
    assert code != 0
    assert err.startswith("error:") and message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err + out


def test_duplicate_tenant(cli: CliRunner) -> None:
    assert run(cli, "tenants", "create", "shop")[0] == 0
    code, _, err = run(cli, "tenants", "create", "shop")
    assert code == 1 and "already exists" in err


def test_demo_is_idempotent(cli: CliRunner) -> None:
    code, out, _ = run(cli, "demo", "--json")
    first = json.loads(out)
    assert code == 0 and first["created"] is True and first["clientSecret"]
    code, out, _ = run(cli, "demo", "--json")
    assert json.loads(out)["created"] is False
