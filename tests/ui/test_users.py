"""Users of the admin web UI: ``cible users create``, password checks, and their ``Principal``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cible.cli import app
from cible.config import get_settings
from cible.errors import BadRequest, Forbidden, Unauthorized
from cible.store import Database
from cible.tenants import service as tenants
from cible.tenants.roles import Capability
from cible.ui import users


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[CliRunner]:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("CIBLE_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_cible_users_create(cli: CliRunner, database: Database) -> None:
    with database.session() as s:
        tenants.create_tenant(s, "shop")
        tenants.create_tenant(s, "other")
    made = cli.invoke(
        app, ["users", "create", "ana", "--tenant", "shop", "--role", "editor", "--json"]
    )
    assert made.exit_code == 0, made.stderr
    data = json.loads(made.stdout)
    assert data["username"] == "ana" and len(data["password"]) >= users.MIN_PASSWORD
    given = cli.invoke(
        app,
        [
            "users",
            "create",
            "bo",
            "--tenant",
            "shop",
            "--role",
            "observer",
            "--password",
            "a long passphrase",
            "--json",
        ],
    )
    assert given.exit_code == 0 and "password" not in json.loads(given.stdout)
    with database.session() as s:
        user = users.check_password(s, "ana", data["password"])
        principal = users.principal_for(s, user, "shop")
        assert principal.can(Capability.WRITE) and not principal.can(Capability.ACTIVATE)
        with pytest.raises(Unauthorized):
            users.check_password(s, "ana", "a long passphrase")
        with pytest.raises(Unauthorized):
            users.check_password(s, "nobody", "a long passphrase")
        with pytest.raises(Forbidden):
            users.principal_for(s, user, "other")
    for args, message in (
        (["ana", "--tenant", "shop", "--role", "editor"], "already exists"),
        (["eve", "--tenant", "shop", "--role", "king"], "unknown role"),
        (["eve", "--tenant", "ghost", "--role", "editor"], "ghost"),
        (["eve", "--tenant", "shop", "--role", "editor", "--password", "short"], "10 characters"),
        (["e v", "--tenant", "shop", "--role", "editor"], "username"),
    ):
        failed = cli.invoke(app, ["users", "create", *args])
        assert failed.exit_code == 1
        assert failed.stderr.startswith("error:") and message in failed.stderr


def test_bad_input_creates_no_user(database: Database) -> None:
    with database.session() as s:
        tenants.create_tenant(s, "shop")
    with pytest.raises(BadRequest), database.session() as s:
        users.create_user(s, username="ana", password="x" * 12, tenant_code="shop", role="boss")
    with database.session() as s, pytest.raises(Exception, match="does not exist"):
        users.get_user(s, "ana")
