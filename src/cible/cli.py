"""The ``cible`` command: serve, migrate, demo data, tenants and API clients.

Every command that prints data takes ``--json``; errors are one line on stderr and a non-zero
exit code.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from cible.config import get_settings
from cible.dmp.transfers.cli import dmp_app
from cible.errors import CibleError
from cible.isotime import iso_millis
from cible.store import Database, upgrade

app = typer.Typer(help="Cible: Adobe Target-compatible personalization.", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants (Target client codes).", no_args_is_help=True)
clients_app = typer.Typer(help="API clients and their roles.", no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")
app.add_typer(clients_app, name="clients")
app.add_typer(dmp_app, name="dmp")

out = Console()

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def fail(message: str) -> None:
    # Plain write, not rich: an error stays one line whatever the terminal width.
    sys.stderr.write(f"error: {' '.join(message.split())}\n")
    raise typer.Exit(1)


@contextmanager
def session() -> Iterator[Session]:
    db = Database(get_settings().database_url)
    try:
        with db.session() as s:
            yield s
    except CibleError as exc:
        fail(exc.message)
    except Exception as exc:  # one line, never a traceback, for operational errors
        fail(f"{type(exc).__name__}: {exc}")
    finally:
        db.dispose()


def emit(data: Any, as_json: bool, table: Table | None = None, text: str | None = None) -> None:
    if as_json:
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif table is not None:
        out.print(table)
    elif text is not None:
        out.print(text, markup=False, highlight=False)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    jobs: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Also run background jobs in a thread.")
    ] = True,
) -> None:
    """Serve every API on HOST:PORT with uvicorn."""
    import uvicorn

    from cible.events import ConsumerRunner
    from cible.jobs.worker import start_background
    from cible.web.logs import configure

    settings = get_settings()
    configure(settings.log_level)
    db = Database(settings.database_url) if jobs else None
    # Started here, in the parent: with --workers N uvicorn's children import only
    # cible.web.asgi, so one worker thread (and one scheduler) runs whatever N is.
    background = start_background(db, 1.0) if db is not None else None
    # The event log's consumers, like jobs, run once per host process group, not per worker.
    consumers = ConsumerRunner(db) if db is not None else None
    if consumers is not None:
        consumers.start()
    try:
        uvicorn.run(
            "cible.web.asgi:app",
            host=host or settings.host,
            port=port or settings.port,
            workers=workers,
            log_level=settings.log_level.lower(),
            access_log=False,
            # No "server: uvicorn": the stack's name and version help nobody but a scanner.
            server_header=False,
        )
    finally:
        if consumers is not None:
            consumers.stop(timeout=10)
        if background is not None and db is not None:
            background[1].set()
            background[0].join(timeout=10)  # lets the scheduler hand its lease over
            db.dispose()


@app.command()
def worker(
    poll: Annotated[float, typer.Option(min=0.1, help="Seconds between polls when idle.")] = 1.0,
) -> None:
    """Run background jobs, recurring schedules and event-log consumers until interrupted."""
    import signal
    import threading

    from cible.events import ConsumerRunner
    from cible.jobs.worker import run_forever
    from cible.web.logs import configure

    settings = get_settings()
    configure(settings.log_level)
    db = Database(settings.database_url)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    consumers = ConsumerRunner(db)
    consumers.start()
    try:
        run_forever(db, poll, stop)
    finally:
        consumers.stop(timeout=10)
        db.dispose()


@app.command()
def migrate() -> None:
    """Bring the database schema to the newest version."""
    url = get_settings().database_url
    try:
        upgrade(url)
    except Exception as exc:
        fail(f"migration failed: {exc}")
    out.print(f"database migrated: {_safe_url(url)}", markup=False, highlight=False)
    from cible.tenants import keys

    with session() as s:
        # The first run stores a random signing key; there is no built-in one (docs/security.md).
        if keys.ensure_key(s, now=keys.utcnow()):
            out.print("access-token signing key generated", markup=False, highlight=False)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command()
def demo(as_json: JsonFlag = False) -> None:
    """Load the demo tenant, an API client and a few offers (once)."""
    from cible.demo import install_demo

    db = Database(get_settings().database_url)
    try:
        result = install_demo(db)
        data = {
            "tenant": result.tenant.client_code,
            "organizationId": result.tenant.organization_id,
            "created": result.created,
            "clientId": result.client_id,
            "clientSecret": result.client_secret,
        }
    except CibleError as exc:
        fail(exc.message)
    except Exception as exc:
        fail(f"{type(exc).__name__}: {exc}")
    finally:
        db.dispose()
    text = (
        f"demo tenant created; client id {result.client_id}, secret {result.client_secret}"
        if result.created
        else "demo tenant already present"
    )
    emit(data, as_json, text=text)


@tenants_app.command("create")
def tenants_create(
    code: Annotated[str, typer.Argument(help="Client code, [a-z0-9]+.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a tenant with its default workspace."""
    from cible.tenants import service

    with session() as s:
        tenant = service.create_tenant(s, code, name)
        data = _tenant_json(tenant)
    emit(data, as_json, text=f"tenant {code} created (organization {data['organizationId']})")


def _tenant_json(tenant: Any) -> dict[str, Any]:
    return {
        "clientCode": tenant.client_code,
        "name": tenant.name,
        "organizationId": tenant.organization_id,
        "createdAt": iso_millis(tenant.created_at),
    }


@tenants_app.command("list")
def tenants_list(as_json: JsonFlag = False) -> None:
    """List tenants with their organization ids."""
    from cible.tenants import service

    with session() as s:
        rows = [_tenant_json(t) for t in service.list_tenants(s)]
    table = Table("client code", "name", "organization id", "created")
    for r in rows:
        table.add_row(r["clientCode"], r["name"], r["organizationId"], r["createdAt"])
    emit(rows, as_json, table=table)


@tenants_app.command("origins")
def tenants_origins(
    code: Annotated[str, typer.Argument(help="tenant client code")],
    origins: Annotated[
        list[str] | None, typer.Argument(help="https://host[:port] origins allowed")
    ] = None,
    any_origin: Annotated[
        bool, typer.Option("--any", help="let any origin call (the default, as Adobe's edge)")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Show or set the origins whose pages may call the tenant's delivery API (CORS)."""
    from cible.tenants import service

    if origins and any_origin:
        fail("give origins or --any, not both")
    with session() as s:
        if origins or any_origin:
            tenant = service.set_delivery_origins(s, code, origins or None)
        else:
            tenant = service.get_tenant(s, code)
        allowed = None if tenant.delivery_origins is None else list(tenant.delivery_origins)
    data = {"clientCode": code, "deliveryOrigins": allowed}
    shown = "any origin" if allowed is None else ", ".join(allowed)
    emit(data, as_json, text=f"delivery API of {code}: {shown}")


@tenants_app.command("profile-auth")
def tenants_profile_auth(
    code: Annotated[str, typer.Argument(help="tenant client code")],
    state: Annotated[
        str | None, typer.Argument(help="on or off; leave out to show the setting")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show or set whether the tenant's Profile APIs require a profile_api token (Adobe's
    "Require Authentication")."""
    from cible.profiles import auth
    from cible.tenants import service

    if state not in (None, "on", "off"):
        fail("the state is on or off")
    with session() as s:
        if state is None:
            on = auth.requires_auth(s, service.get_tenant(s, code).id)
        else:
            on = auth.set_requires_auth(s, code, state == "on")
    data = {"clientCode": code, "profileApiAuthentication": on}
    emit(data, as_json, text=f"Profile API authentication of {code}: {'on' if on else 'off'}")


@clients_app.command("create")
def clients_create(
    tenant: Annotated[str, typer.Option(help="Tenant client code.")],
    role: Annotated[str, typer.Option(help="observer, editor, approver or publisher.")],
    workspace: Annotated[str | None, typer.Option(help="Limit the role to one workspace.")] = None,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an API client; its secret is printed once and never again."""
    from cible.tenants import service

    with session() as s:
        new = service.create_client(
            s, tenant_code=tenant, role=role, name=name, workspace=workspace
        )
        data = {
            "clientId": new.client_id,
            "clientSecret": new.client_secret,
            "tenant": tenant,
            "role": role,
        }
    emit(
        data,
        as_json,
        text=f"client id: {new.client_id}\nclient secret: {new.client_secret}\n"
        "(the secret is shown only once)",
    )


@clients_app.command("list")
def clients_list(
    tenant: Annotated[str | None, typer.Option(help="Only clients of this tenant.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List API clients and their roles (never their secrets)."""
    from cible.tenants import service

    with session() as s:
        tenants_by_id = {t.id: t.client_code for t in service.list_tenants(s)}
        rows: list[dict[str, Any]] = [
            {
                "clientId": c.client_id,
                "name": c.name,
                "revoked": c.revoked_at is not None,
                "roles": [
                    {
                        "tenant": tenants_by_id.get(r.tenant_id),
                        "workspace": None if r.workspace_id is None else str(r.workspace_id),
                        "role": r.role,
                    }
                    for r in c.roles
                ],
            }
            for c in service.list_clients(s, tenant)
        ]
    table = Table("client id", "name", "roles", "revoked")
    for r in rows:
        roles = ", ".join(f"{x['role']}@{x['tenant']}" for x in r["roles"])
        table.add_row(r["clientId"], r["name"], roles, "yes" if r["revoked"] else "")
    emit(rows, as_json, table=table)


@clients_app.command("revoke")
def clients_revoke(
    client_id: Annotated[str, typer.Argument(help="The client id to revoke.")],
    as_json: JsonFlag = False,
) -> None:
    """Revoke a client: its tokens stop working at once."""
    from cible.tenants import service

    with session() as s:
        client = service.revoke_client(s, client_id)
        data = {"clientId": client.client_id, "revoked": True}
    emit(data, as_json, text=f"client {client_id} revoked")


keys_app = typer.Typer(help="Keys that sign access tokens.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _key_json(info: Any) -> dict[str, Any]:
    retires = info.retires_at
    return {
        "kid": info.kid,
        "createdAt": iso_millis(info.created_at),
        "retiresAt": None if retires is None else iso_millis(retires),
    }


@keys_app.command("rotate")
def keys_rotate(as_json: JsonFlag = False) -> None:
    """Sign new tokens with a new random key; the old one verifies until its tokens expire."""
    from cible.tenants import keys

    settings = get_settings()
    if settings.secret_key:
        fail("CIBLE_SECRET_KEY is set and overrides stored keys: change the setting instead")
    from cible.activities.publish import request_rebuild
    from cible.tenants.service import list_tenants

    with session() as s:
        data = _key_json(
            keys.rotate(s, now=keys.utcnow(), grace_seconds=settings.token_ttl_seconds)
        )
        # Event tokens are signed with keys derived from the signing key
        # (cible.tenants.event_keys): artifacts are rebuilt so new tokens carry the new key.
        for tenant in list_tenants(s):
            request_rebuild(s, tenant.id)
    emit(
        data,
        as_json,
        text=f"new signing key {data['kid']}; previous keys retire in "
        f"{settings.token_ttl_seconds} s",
    )


@keys_app.command("list")
def keys_list(as_json: JsonFlag = False) -> None:
    """List the signing keys still accepted (ids and dates, never the keys)."""
    from cible.tenants import keys

    with session() as s:
        rows = [_key_json(k) for k in keys.list_keys(s, now=keys.utcnow())]
    table = Table("kid", "created", "retires")
    for r in rows:
        table.add_row(r["kid"], r["createdAt"], r["retiresAt"] or "")
    emit(rows, as_json, table=table)


schedules_app = typer.Typer(help="Recurring jobs (docs/jobs.md).", no_args_is_help=True)
app.add_typer(schedules_app, name="schedules")


def _job_json(job: Any) -> dict[str, Any] | None:
    if job is None:
        return None
    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.state,
        "attempts": job.attempts,
        "runAt": iso_millis(job.run_at),
        "lastError": job.last_error,
    }


@contextmanager
def _jobs_db() -> Iterator[Database]:
    """The database with the declared schedules written, as a worker writes them at start, so
    a schedule declared in code shows (and runs) before any worker ran."""
    from cible.jobs.scheduler import Scheduler

    db = Database(get_settings().database_url)
    try:
        scheduler = Scheduler(db)
        scheduler.sync(scheduler.clock(), warn=False)
        yield db
    except CibleError as exc:
        fail(exc.message)
    except Exception as exc:  # one line, never a traceback, for operational errors
        fail(f"{type(exc).__name__}: {exc}")
    finally:
        db.dispose()


@schedules_app.command("list")
def schedules_list(as_json: JsonFlag = False) -> None:
    """List schedules with their timing, next run and last run's job."""
    from cible.jobs.scheduler import list_schedules

    with _jobs_db() as db, db.session() as s:
        rows = [
            {
                "name": row.name,
                "kind": row.kind,
                "payload": orjson.loads(row.payload),
                "everySeconds": row.every_seconds,
                "cron": row.cron,
                "enabled": row.enabled,
                "nextRunAt": iso_millis(row.next_run_at),
                "lastRunAt": None if row.last_run_at is None else iso_millis(row.last_run_at),
                "lastJob": _job_json(job),
            }
            for row, job in list_schedules(s)
        ]
    table = Table("name", "kind", "timing", "next run", "last run", "last job")
    for r in rows:
        last = r["lastJob"]
        table.add_row(
            r["name"],
            r["kind"],
            r["cron"] or f"every {r['everySeconds']} s",
            r["nextRunAt"] if r["enabled"] else "paused",
            r["lastRunAt"] or "",
            "" if last is None else f"{last['id']} {last['state']}",
        )
    emit(rows, as_json, table=table)


@schedules_app.command("run")
def schedules_run(
    name: Annotated[str, typer.Argument(help="The schedule to run now.")],
    wait: Annotated[
        bool, typer.Option("--wait", help="Run it in this process and report how it ended.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Enqueue one run of a schedule now; its timing does not change."""
    from cible.jobs.scheduler import run_now

    with _jobs_db() as db:
        job = _job_json(run_now(db, name, wait=wait))
    assert job is not None
    emit(job, as_json, text=f"job {job['id']} ({job['kind']}) {job['state']}")
    if job["state"] == "dead":
        raise typer.Exit(1)


def _set_enabled(name: str, enabled: bool, as_json: bool) -> None:
    from cible.jobs.schedules import set_enabled

    with _jobs_db() as db, db.session() as s:
        set_enabled(s, name, enabled)
    state = "enabled" if enabled else "disabled"
    emit({"name": name, "enabled": enabled}, as_json, text=f"schedule {name} {state}")


@schedules_app.command("disable")
def schedules_disable(
    name: Annotated[str, typer.Argument(help="The schedule to pause.")], as_json: JsonFlag = False
) -> None:
    """Pause a schedule (it stays paused across restarts)."""
    _set_enabled(name, False, as_json)


@schedules_app.command("enable")
def schedules_enable(
    name: Annotated[str, typer.Argument(help="The schedule to resume.")], as_json: JsonFlag = False
) -> None:
    """Resume a schedule; runs missed while it was paused are not replayed."""
    _set_enabled(name, True, as_json)


users_app = typer.Typer(help="People who sign in to the admin web UI.", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="Sign-in name, [A-Za-z0-9._@+-].")],
    tenant: Annotated[str, typer.Option(help="Tenant client code.")],
    role: Annotated[str, typer.Option(help="observer, editor, approver or publisher.")],
    workspace: Annotated[str | None, typer.Option(help="Limit the role to one workspace.")] = None,
    password: Annotated[
        str | None,
        typer.Option(help="At least 10 characters; default: a random one, printed once."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a user of the admin web UI holding ROLE on TENANT."""
    from cible.ui import users

    chosen = password or users.new_password()
    with session() as s:
        users.create_user(
            s,
            username=username,
            password=chosen,
            tenant_code=tenant,
            role=role,
            workspace=workspace,
        )
    data = {"username": username, "tenant": tenant, "role": role}
    if password is None:
        data["password"] = chosen
    text = f"user {username} created with role {role} on {tenant}"
    if password is None:
        text += f"\npassword: {chosen}\n(the password is shown only once)"
    emit(data, as_json, text=text)


reports_app = typer.Typer(help="Activity reports (docs/reports.md).", no_args_is_help=True)
app.add_typer(reports_app, name="reports")


@reports_app.command("rebuild")
def reports_rebuild(
    tenant: Annotated[
        str | None, typer.Option(help="Tenant client code; default: every tenant.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Recompute report aggregates from raw events with DuckDB (writes pause meanwhile)."""
    from rich.progress import Progress

    from cible.reports.backfill import rebuild
    from cible.tenants import service as tenants

    db = Database(get_settings().database_url)
    try:
        tenant_id = None
        if tenant is not None:
            with db.session() as s:
                tenant_id = tenants.get_tenant(s, tenant).id
        with Progress(console=Console(stderr=True), disable=as_json) as bar:
            tasks: dict[str, Any] = {}

            def step(name: str, done: int, total: int) -> None:
                if name not in tasks:
                    tasks[name] = bar.add_task(name, total=total or None)
                bar.update(tasks[name], completed=done)

            result = rebuild(db, tenant_id, progress=step)
    except CibleError as exc:
        fail(exc.message)
    finally:
        db.dispose()
    data = {
        "events": result.events,
        "visitors": result.visitors,
        "dailyRows": result.daily_rows,
        "orders": result.orders,
    }
    text = (
        f"rebuilt from {result.events} events: {result.visitors} visitor rows, "
        f"{result.daily_rows} daily rows, {result.orders} orders"
    )
    emit(data, as_json, text=text)


privacy_app = typer.Typer(help="Export or delete one visitor's data.", no_args_is_help=True)
app.add_typer(privacy_app, name="privacy")
VisitorId = Annotated[str, typer.Option("--id", help="One of the visitor's ids.")]
IdKind = Annotated[
    str,
    typer.Option(help="tntId, thirdPartyId, marketingCloudVisitorId or customerId:<code>."),
]


@privacy_app.command("export")
def privacy_export(
    tenant: Annotated[str, typer.Option(help="Tenant client code.")],
    visitor_id: VisitorId,
    kind: IdKind = "tntId",
) -> None:
    """Print everything held about one visitor as JSON (profile, assignments, events, ...)."""
    from cible import privacy
    from cible.tenants import service

    with session() as s:
        data = privacy.export_visitor(s, service.get_tenant(s, tenant).id, kind, visitor_id)
    emit(data, True)


@privacy_app.command("delete")
def privacy_delete(
    tenant: Annotated[str, typer.Option(help="Tenant client code.")],
    visitor_id: VisitorId,
    kind: IdKind = "tntId",
    as_json: JsonFlag = False,
) -> None:
    """Delete everything held about one visitor; prints the rows removed per kind of data."""
    from cible import privacy
    from cible.tenants import service

    with session() as s:
        removed = privacy.delete_visitor(s, service.get_tenant(s, tenant).id, kind, visitor_id)
    text = ", ".join(f"{name}: {n}" for name, n in removed.items())
    emit({"deleted": removed}, as_json, text=f"deleted ({text})")


def main() -> None:
    app()
