"""The usage examples in the engine's docstrings run."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import cible.engine

MODULES = ["cible.engine"] + [
    f"cible.engine.{info.name}" for info in pkgutil.iter_modules(cible.engine.__path__)
]


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name: str) -> None:
    result = doctest.testmod(importlib.import_module(module_name))
    assert result.failed == 0
