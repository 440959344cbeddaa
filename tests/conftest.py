"""Shared fixtures: a migrated database per test (SQLite, or PostgreSQL where asked), the app,
an in-process HTTP client, and helpers to create tenants and credentials."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from cible.config import Settings
from cible.events import drain
from cible.store import Database, upgrade
from cible.tenants import service as tenants
from cible.web.app import create_app
from tests.pg import Cluster, start_cluster

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]
SECRET_KEY = "test-secret-key-0123456789-abcdefghijklmnop"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``pytest -n`` (scripts/test), every test that drives the browser or the served UI runs
    in one worker, so one Chromium and one ``cible serve`` serve them all."""
    for item in items:
        if {"browser", "ui_server"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("chromium"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _fresh_adobe_sdk_configuration() -> Iterator[None]:
    """Adobe's ``delivery_api_client.Configuration`` keeps the first configuration made in the
    process as the default of every later one, so one test's SDK client would reach another
    test's (stopped) server. Each test starts and ends without that default."""
    from delivery_api_client import Configuration

    Configuration.set_default(None)
    yield
    Configuration.set_default(None)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    try:
        cluster = start_cluster()
    except FileNotFoundError as exc:
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
    try:
        engine = create_engine(cluster.url("postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("CREATE DATABASE cible_template"))
        engine.dispose()
        upgrade(cluster.url("cible_template"))
        yield cluster
    finally:
        cluster.stop()


_counter = itertools.count()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "postgres":
        cluster: Cluster = request.getfixturevalue("pg_cluster")
        name = f"t{next(_counter)}"
        engine = create_engine(cluster.url("postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name} TEMPLATE cible_template"))
        engine.dispose()
        return cluster.url(name)
    template: Path = request.getfixturevalue("sqlite_template")
    path = tmp_path / "cible.db"
    shutil.copy(template, path)
    return f"sqlite:///{path}"


@dataclass
class FakeClock:
    now: datetime = field(default_factory=lambda: datetime(2026, 1, 15, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=SECRET_KEY,
        throttle_rate=10_000,
        throttle_burst=10_000,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    db = Database(settings.database_url)
    yield db
    db.dispose()


@pytest.fixture
def app(settings: Settings, database: Database, clock: FakeClock) -> Iterator[Any]:
    app = create_app(settings, database=database, clock=clock)
    yield app
    # In-process apps get no lifespan shutdown: stop the app's group commit thread here.
    committer = getattr(app.state, "committer", None)
    if committer is not None:
        committer.close()


@pytest.fixture
async def http(app: Any, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async def applied(_response: httpx.Response) -> None:
        # The event log's consumers run in the background in a server; a test reads the tables
        # they fill as soon as a response arrives, so it drains them first.
        drain(database)

    transport = httpx.ASGITransport(app=app)
    hooks = {"response": [applied]}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://cible.test", event_hooks=hooks
    ) as client:
        yield client


@dataclass
class Credential:
    client_id: str
    secret: str
    token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-Api-Key": self.client_id}


@dataclass
class World:
    """Tenants and credentials created for a test, and a way to mint more."""

    database: Database
    http: httpx.AsyncClient

    def tenant(self, code: str) -> None:
        with self.database.session() as s:
            tenants.create_tenant(s, code)

    async def credential(self, tenant: str, role: str, workspace: str | None = None) -> Credential:
        with self.database.session() as s:
            new = tenants.create_client(s, tenant_code=tenant, role=role, workspace=workspace)
        cred = Credential(new.client_id, new.client_secret)
        cred.token = await self.token(cred.client_id, cred.secret)
        return cred

    async def token(self, client_id: str, secret: str) -> str:
        response = await self.http.post(
            "/ims/token/v3",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


@pytest.fixture
def world(database: Database, http: httpx.AsyncClient) -> World:
    return World(database, http)


@pytest.fixture
async def acme(world: World) -> Credential:
    """Tenant ``acme`` and an approver credential on it."""
    world.tenant("acme")
    return await world.credential("acme", "approver")


def count_rows(database: Database, table: str) -> int:
    with database.session() as s:
        return int(s.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


@pytest.fixture
def drain_events(database: Database) -> Callable[[], None]:
    """Applies every registered event consumer's pending records (docs/events.md, "Tests")."""
    return lambda: drain(database)
