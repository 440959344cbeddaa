"""`cible.sdk` imports only `cible.engine`'s public API, the standard library and httpx
(DESIGN.md, dependency rule), so it installs and runs beside any web framework."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import cible.sdk

SDK = Path(cible.sdk.__file__).parent
ALLOWED_THIRD_PARTY = {"httpx"}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                found.append((node.lineno, "." * node.level + (node.module or "")))
            else:
                found.append((node.lineno, node.module or ""))
    return found


def forbidden(module: str) -> bool:
    top = module.split(".", 1)[0]
    if module.startswith("."):
        return True  # relative imports hide what a module depends on
    if top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY or top == "__future__":
        return False
    return module not in ("cible.engine", "cible.sdk") and not module.startswith("cible.sdk.")


def test_sdk_imports_only_engine_stdlib_and_httpx() -> None:
    files = sorted(SDK.rglob("*.py"))
    assert len(files) >= 10
    bad = [
        f"{path.relative_to(SDK)}:{line}: {module}"
        for path in files
        for line, module in imported_modules(path)
        if forbidden(module)
    ]
    assert bad == []


def test_the_rule_catches_what_it_must() -> None:
    assert forbidden("cible.engine._decide")
    assert forbidden("cible.web.app")
    assert forbidden("requests")
    assert forbidden(".client")
    assert not forbidden("cible.engine")
    assert not forbidden("json")
    assert not forbidden("httpx")


def test_public_api_is_pinned() -> None:
    assert sorted(cible.sdk.__all__) == [
        "ASGITransport",
        "AsyncTargetClient",
        "AsyncTransport",
        "AttributeNotFound",
        "Attributes",
        "Config",
        "DeliveryError",
        "HTTPTransport",
        "MockTransport",
        "TargetClient",
        "Transport",
    ]
    for name in cible.sdk.__all__:
        assert getattr(cible.sdk, name).__module__.startswith("cible.sdk")
