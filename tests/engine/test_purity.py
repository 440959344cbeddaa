"""`cible.engine` stays pure: standard library only, `mmh3` only behind an ImportError fallback,
and one pinned data package: `publicsuffixlist`, the Public Suffix List that page domains need
(issue 16), imported by `_context.py` alone.

Also checks that no module reaches for the clock, randomness, I/O or logging, which would make
decisions depend on something other than their arguments.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import cible.engine

ENGINE_DIR = Path(cible.engine.__file__).parent
MODULES = sorted(ENGINE_DIR.rglob("*.py"))
OPTIONAL_ACCELERATORS = {"mmh3"}
# The single exception to "standard library only": the module that may import it, and the package.
PUBLIC_SUFFIX_PACKAGE = "publicsuffixlist"
PUBLIC_SUFFIX_MODULE = "_context.py"
FORBIDDEN_MODULES = {
    "random",
    "secrets",
    "time",
    "logging",
    "uuid",
    "os",
    "socket",
    "subprocess",
    "threading",
    "asyncio",
    "io",
    "pathlib",
    "tempfile",
    "shutil",
    "urllib.request",
    "http",
}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "open", "print", "input"}


def _imports(tree: ast.AST) -> list[tuple[ast.AST, str, bool]]:
    """(node, top-level module, guarded by `except ImportError`) for every import."""
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            isinstance(handler.type, ast.Name) and handler.type.id == "ImportError"
            for handler in node.handlers
        ):
            for child in node.body:
                for inner in ast.walk(child):
                    guarded.add(id(inner))
    found: list[tuple[ast.AST, str, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node, alias.name, id(node) in guarded) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node, node.module, id(node) in guarded))
    return found


def test_engine_has_modules() -> None:
    names = {path.name for path in MODULES}
    assert {"__init__.py", "_hashing.py", "_jsonlogic.py", "_context.py", "_artifact.py"} <= names


@pytest.mark.parametrize("path", MODULES, ids=[path.name for path in MODULES])
def test_imports_only_standard_library(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node, module, guarded in _imports(tree):
        top = module.split(".")[0]
        where = f"{path.name}:{getattr(node, 'lineno', '?')}"
        if top == "cible":
            assert module.startswith("cible.engine"), f"{where} imports {module}"
        elif top in OPTIONAL_ACCELERATORS:
            assert guarded, f"{where}: {module} must sit in a try/except ImportError"
        elif top == PUBLIC_SUFFIX_PACKAGE:
            assert path.name == PUBLIC_SUFFIX_MODULE, f"{where}: only _context.py reads the list"
        else:
            assert top in sys.stdlib_module_names, f"{where} imports non-stdlib {module}"
        assert module not in FORBIDDEN_MODULES and top not in FORBIDDEN_MODULES, (
            f"{where} imports {module}: the engine has no clock, randomness, I/O or logging"
        )


@pytest.mark.parametrize("path", MODULES, ids=[path.name for path in MODULES])
def test_no_clock_io_or_randomness_calls(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            assert name not in FORBIDDEN_CALLS, f"{path.name}:{node.lineno} calls {name}()"


def test_every_module_opens_with_a_docstring() -> None:
    for path in MODULES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert ast.get_docstring(tree), f"{path.name} has no module docstring"


def test_the_public_suffix_package_is_pinned_and_the_only_exception() -> None:
    """The one non-standard dependency is pinned exactly, so the list cannot change under a
    decision without a commit, and no other engine module imports anything outside stdlib."""
    repository = Path(__file__).parents[2]
    manifests = [repository / "pyproject.toml", *repository.glob("packages/*/pyproject.toml")]
    pins = [path for path in manifests if f'"{PUBLIC_SUFFIX_PACKAGE}==' in path.read_text("utf-8")]
    assert pins, f"{PUBLIC_SUFFIX_PACKAGE} is not pinned with == in {manifests}"
    outside = {
        (path.name, module.split(".")[0])
        for path in MODULES
        for _node, module, _guarded in _imports(ast.parse(path.read_text(encoding="utf-8")))
        if module.split(".")[0] not in sys.stdlib_module_names
        and module.split(".")[0] not in {"cible", *OPTIONAL_ACCELERATORS}
    }
    assert outside == {(PUBLIC_SUFFIX_MODULE, PUBLIC_SUFFIX_PACKAGE)}
