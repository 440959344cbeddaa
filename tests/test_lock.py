"""``uv.lock`` locks what ``pyproject.toml`` declares: the same requirements, the same extras,
for the server (``cible``) and the SDK's distribution (``packages/cible-sdk``), the two members
of one uv workspace.

``scripts/install`` installs from the lock with ``uv sync --locked``; this test says which
requirement differs, without a network or uv itself, when someone edits one file and not the
other (run ``.venv/bin/uv lock`` and commit both).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


SDK = ROOT / "packages" / "cible-sdk"


def _declared(where: Path = ROOT) -> set[tuple[str, str, str]]:
    project = tomllib.loads((where / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    found = set()
    groups: dict[str | None, list[str]] = {None: project.get("dependencies", [])}
    groups.update(project.get("optional-dependencies", {}))
    for extra, requirements in groups.items():
        for text in requirements:
            req = Requirement(text)
            marker = f"extra == '{extra}'" if extra else ""
            if req.marker is not None:
                marker = f"{req.marker} and {marker}" if marker else str(req.marker)
            name = canonicalize_name(req.name) + (
                f"[{','.join(sorted(req.extras))}]" if req.extras else ""
            )
            found.add((name, str(req.specifier), marker))
    return found


def _locked(package: str = "cible") -> tuple[set[tuple[str, str, str]], dict[str, Any]]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    (cible,) = [p for p in lock["package"] if p["name"] == package]
    found = set()
    for item in cible["metadata"]["requires-dist"]:
        extras = item.get("extras")
        name = canonicalize_name(item["name"]) + (f"[{','.join(sorted(extras))}]" if extras else "")
        found.add((name, item.get("specifier", ""), item.get("marker", "")))
    return found, cible


def test_the_lock_holds_every_declared_requirement() -> None:
    declared = _declared()
    locked, _ = _locked()
    assert declared - locked == set(), "in pyproject.toml, not in uv.lock: run .venv/bin/uv lock"
    assert locked - declared == set(), "in uv.lock, not in pyproject.toml: run .venv/bin/uv lock"


def test_the_lock_has_the_declared_extras_and_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    _, cible = _locked()
    assert sorted(cible["metadata"]["provides-extras"]) == sorted(project["optional-dependencies"])
    assert cible["version"] == project["version"]
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    assert lock["requires-python"] == project["requires-python"]


def test_every_locked_dependency_has_a_pinned_version() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    unpinned = [p["name"] for p in lock["package"] if p["name"] != "cible" and not p.get("version")]
    assert not unpinned


def test_the_sdk_is_a_workspace_member_locked_as_declared() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    assert sorted(lock["manifest"]["members"]) == ["cible", "cible-sdk"]
    locked, sdk = _locked("cible-sdk")
    assert sdk["source"] == {"editable": "packages/cible-sdk"}  # never from a registry
    assert locked == _declared(SDK), "packages/cible-sdk/pyproject.toml changed: run uv lock"
    project = tomllib.loads((SDK / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert sdk["version"] == project["version"]
    assert sorted(sdk["metadata"]["provides-extras"]) == sorted(project["optional-dependencies"])
