"""Puts ``cible/__init__.py``, ``cible/engine`` and ``cible/sdk`` from the repository's ``src/``
into the ``cible-sdk`` wheel (sources only: no ``__pycache__``).

An editable install (``uv sync`` in the workspace) gets nothing from here: the server's editable
install already puts ``src/`` on ``sys.path``, and copies in ``site-packages`` would shadow it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PACKAGES = ("engine", "sdk")


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version != "standard":
            return
        src = (Path(self.root) / ".." / ".." / "src" / "cible").resolve()
        included = build_data["force_include"]
        included[str(src / "__init__.py")] = "cible/__init__.py"
        for package in PACKAGES:
            for path in sorted((src / package).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                    included[str(path)] = f"cible/{package}/{path.relative_to(src / package)}"
