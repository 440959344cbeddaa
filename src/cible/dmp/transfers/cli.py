"""``cible dmp``: the real-time destinations' dead letters, listed and sent again.

Registered by ``cible.cli``; it takes the database from the settings as every command does.
Destination ids are unique across tenants, so an operator names a destination by id alone.
"""

from __future__ import annotations

import sys
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from cible.config import get_settings
from cible.dmp.transfers import s2s
from cible.dmp.transfers.tables import DEAD, Destination
from cible.errors import CibleError
from cible.store import Database

dmp_app = typer.Typer(help="Audience manager data exchange.", no_args_is_help=True)
_out = Console()
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _fail(message: str) -> None:
    sys.stderr.write(f"error: {' '.join(message.split())}\n")
    raise typer.Exit(1)


def _print(data: object, as_json: bool, table: Table) -> None:
    if as_json:
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        _out.print(table)


@dmp_app.command("dead-letters")
def dead_letters(
    destination: Annotated[int, typer.Argument(help="Destination id.")], as_json: JsonFlag = False
) -> None:
    """List the real-time messages of a destination that exhausted their attempts."""
    db = Database(get_settings().database_url)
    try:
        with db.session() as s:
            if s.get(Destination, destination) is None:
                _fail(f"destination {destination} does not exist")
            found = [s2s.message_json(m) for m in s2s.messages(s, destination, state=DEAD)]
    finally:
        db.dispose()
    table = Table("message", "users", "attempts", "last error")
    for m in found:
        table.add_row(str(m["messageId"]), str(m["users"]), str(m["attempts"]), m["lastError"])
    _print(found, as_json, table)


@dmp_app.command("retry")
def retry(
    destination: Annotated[int, typer.Argument(help="Destination id.")],
    messages: Annotated[
        list[int] | None, typer.Argument(help="Message ids (default: every dead letter).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Put dead letters of a destination back in the outbox; the worker sends them again."""
    db = Database(get_settings().database_url)
    try:
        with db.session() as s:
            if s.get(Destination, destination) is None:
                _fail(f"destination {destination} does not exist")
            ids = messages or [m.id for m in s2s.messages(s, destination, state=DEAD)]
            done = [s2s.message_json(s2s.retry(s, destination, i)) for i in ids]
    except CibleError as exc:
        _fail(exc.message)
    finally:
        db.dispose()
    table = Table("message", "state")
    for m in done:
        table.add_row(str(m["messageId"]), m["state"])
    _print(done, as_json, table)


__all__ = ["dmp_app"]


@dmp_app.command("import")
def import_file(
    path: Annotated[
        str,
        typer.Argument(help="An ftp_dpm_ onboarding file (.sync/.overwrite) or adobe_id_ ID sync."),
    ],
    as_json: JsonFlag = False,
) -> None:
    """Apply one onboarding or ID-sync file, with a progress bar; prints its receipt."""
    from pathlib import Path

    from rich.progress import Progress

    from cible.dmp.transfers import idsync
    from cible.dmp.transfers.inbound import Importer, count_lines

    file = Path(path)
    if not file.is_file():
        _fail(f"{path} is not a file")
    data = file.read_bytes()
    db = Database(get_settings().database_url)
    try:
        with Progress(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task(file.name, total=count_lines(data, file.name))
            kind = idsync.IdSyncImporter if idsync.parse_name(file.name) else Importer
            importer = kind(db, file.name, data, progress=lambda n: bar.update(task, completed=n))
            receipt = importer.run()
    except CibleError as exc:
        _fail(exc.message)
    finally:
        db.dispose()
    table = Table("counter", "value")
    for key, value in receipt.items():
        if key != "samples":
            table.add_row(key, str(value))
    _print(receipt, as_json, table)


@dmp_app.command("export")
def export_now(
    destination: Annotated[int, typer.Argument(help="Batch file (FILE) destination id.")],
    full: Annotated[bool, typer.Option("--full", help="Every member, not only changes.")] = False,
    at: Annotated[
        int | None,
        typer.Option(
            "--at",
            help="Scheduled time in epoch ms (file TIMESTAMP); default: now. Run again "
            "with the same time to finish an interrupted export.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Export a batch file destination now, with a progress bar; prints the files written."""
    from rich.progress import Progress

    from cible.dmp.transfers import export

    db = Database(get_settings().database_url)
    try:
        with Progress(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task(f"destination {destination}", total=None)
            outcome = export.run_export(
                db,
                destination,
                at if at is not None else export.now_ms(),
                "full" if full else "iter",
                progress=lambda n: bar.update(task, completed=n),
            )
    except CibleError as exc:
        _fail(exc.message)
    except Exception as exc:  # a location or engine failure: said once, without a traceback
        _fail(f"{type(exc).__name__}: {exc}")
    finally:
        db.dispose()
    result = {"runId": outcome.run_id, "rows": outcome.rows, "manifest": outcome.manifest,
              "files": outcome.files}  # fmt: skip
    table = Table("file", "lines", "bytes", "md5")
    for f in outcome.files:
        table.add_row(f["FileName"], str(f["FileLineCount"]), str(f["FileByteSize"]), f["md5"])
    _print(result, as_json, table)
