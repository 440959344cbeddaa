"""Documentation that cannot fall behind: settings, error codes and CLI commands."""

from __future__ import annotations

import re
from pathlib import Path

import cible.errors as errors
from cible.cli import app as cli_app
from cible.config import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_setting_is_documented() -> None:
    table = (DOCS / "settings.md").read_text()
    documented = set(re.findall(r"^\| `(CIBLE_[A-Z0-9_]+)` \|", table, re.MULTILINE))
    declared = {f"CIBLE_{name.upper()}" for name in Settings.model_fields}
    assert declared - documented == set(), "add these settings to docs/settings.md"
    assert documented - declared == set(), "docs/settings.md lists settings that do not exist"


def test_every_error_code_is_documented() -> None:
    text = (DOCS / "errors.md").read_text()
    codes = {
        cls.code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.CibleError)
    }
    missing = {c for c in codes if f"`{c}`" not in text}
    assert missing == set(), f"document these error codes in docs/errors.md: {missing}"


def test_every_cli_command_is_documented() -> None:
    text = (DOCS / "cli.md").read_text()
    import typer.main

    root = typer.main.get_command(cli_app)
    commands = []
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        subcommands = getattr(command, "commands", None)
        if subcommands:
            commands += [f"cible {name} {sub}" for sub in subcommands]
        else:
            commands.append(f"cible {name}")
    missing = [c for c in commands if f"`{c}" not in text]
    assert missing == [], f"document these commands in docs/cli.md: {missing}"
