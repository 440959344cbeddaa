"""The layer rules of DESIGN.md, beside the engine's purity test.

- Domain packages never import ``cible.web`` except in their HTTP modules (``routes.py``,
  ``*_routes.py``, or a module importing FastAPI or Starlette, such as a domain's request
  dependencies): services, tables, schemas and tasks know no HTTP.
- No function of a domain ``service.py`` takes a Starlette/FastAPI ``Request``.
- ``cible.store`` imports no domain package and nothing of ``cible.web``: it is the bottom layer
  (its ``models.py`` only gathers every domain's tables for Alembic).
- No module is wired by an ``importlib`` string literal: dependencies are imports or injected
  callables (discovering the modules of a package with ``pkgutil`` stays allowed).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import cible

ROOT = Path(cible.__file__).parent
# Packages of the web layer itself and the entry points that assemble everything.
ASSEMBLY = {"web", "ui", "cli.py", "__main__.py", "demo.py", "demo_banner.py"}
DOMAIN_MODULES = sorted(
    p
    for p in ROOT.rglob("*.py")
    if p.relative_to(ROOT).parts[0] not in ASSEMBLY and p.relative_to(ROOT).parts[0] != "store"
)
STORE_MODULES = sorted((ROOT / "store").rglob("*.py"))


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT.parent))


def _imported(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _is_http_module(path: Path, tree: ast.AST) -> bool:
    if path.name == "routes.py" or path.name.endswith("_routes.py"):
        return True
    return any(m.split(".")[0] in {"fastapi", "starlette"} for m in _imported(tree))


def test_the_scan_sees_the_domains() -> None:
    names = {_name(p) for p in DOMAIN_MODULES}
    assert "cible/activities/offers/service.py" in names
    assert "cible/delivery/seen.py" in names


@pytest.mark.parametrize("path", DOMAIN_MODULES, ids=_name)
def test_domain_modules_do_not_import_the_web_layer(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if _is_http_module(path, tree) and path.name != "service.py":
        return
    web = sorted(m for m in _imported(tree) if m.split(".")[:2] == ["cible", "web"])
    assert not web, f"{_name(path)} imports {web}: pass values in, or move it to cible.store"


@pytest.mark.parametrize("path", [p for p in DOMAIN_MODULES if p.name == "service.py"], ids=_name)
def test_services_take_no_request(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    http = sorted(m for m in _imported(tree) if m.split(".")[0] in {"fastapi", "starlette"})
    assert not http, f"{_name(path)} imports {http}"
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for arg in [*node.args.args, *node.args.kwonlyargs]:
                annotation = ast.unparse(arg.annotation) if arg.annotation else ""
                assert "Request" not in annotation.split("."), (
                    f"{_name(path)}: {node.name}({arg.arg}: {annotation}) takes an HTTP request"
                )


@pytest.mark.parametrize("path", STORE_MODULES, ids=_name)
def test_the_store_is_the_bottom_layer(path: Path) -> None:
    if path.name == "models.py" or "migrations" in path.parts:
        return  # gathers every domain's tables for Alembic, by design
    for module in _imported(ast.parse(path.read_text(encoding="utf-8"))):
        parts = module.split(".")
        if parts[0] == "cible":
            assert parts[1] in {"store", "errors", "isotime", "config"}, (
                f"{_name(path)} imports {module}"
            )


MODULE_PATH = re.compile(r"^cible(\.[a-z_][a-z0-9_]*)+$")


def string_wiring(tree: ast.AST) -> list[str]:
    """Module paths a call gets as strings (``import_module("cible.x")``), loggers aside."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or ast.unparse(node.func).endswith("getLogger"):
            continue
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            if isinstance(arg, ast.Constant) and MODULE_PATH.match(str(arg.value)):
                found.append(str(arg.value))
    return found


@pytest.mark.parametrize("path", [*DOMAIN_MODULES, *STORE_MODULES], ids=_name)
def test_nothing_is_wired_by_importlib_strings(path: Path) -> None:
    wired = string_wiring(ast.parse(path.read_text(encoding="utf-8")))
    assert not wired, f"{_name(path)} names {wired} by string: import them or take arguments"


def test_the_string_check_sees_string_wiring() -> None:
    source = 'def f():\n    return _service("cible.activities.mboxes.service", "record_seen")\n'
    assert string_wiring(ast.parse(source)) == ["cible.activities.mboxes.service"]
    assert string_wiring(ast.parse('log = logging.getLogger("cible.delivery")\n')) == []
