"""Cible's pure decisioning engine: Adobe Target's on-device `rules.json`, decided in Python.

The engine reads an artifact in Adobe Target's on-device decisioning format and decides delivery
requests against it, so that Cible decides from an artifact Adobe produced and Adobe's SDKs decide
from one Cible compiled. It is pure: standard library only (the `mmh3` C package, when installed,
speeds up hashing behind an identical pure-Python fallback), no clock, no randomness, no I/O, no
logging. Time, profile and artifact come in as arguments; the decision comes out with its reasons.

    >>> from datetime import datetime, UTC
    >>> from cible.engine import load_artifact, decide
    >>> artifact = load_artifact(b'{"version": "1.0.0", "rules": {"mboxes": {}, "views": {}}}')
    >>> result = decide(artifact, {"context": {"channel": "web"}, "id": {"tntId": "abc.28_0"},
    ...                            "execute": {"pageLoad": {}}},
    ...                 now=datetime(2026, 1, 1, tzinfo=UTC), client="acme")
    >>> result["execute"], result["status"]
    ({'pageLoad': {}}, 200)

Public API: `load_artifact`, `decide`, `Artifact`, `ArtifactError`, `EXTRA_KEY`,
`allocation_for` (documented in docs/engine.md).
"""

from cible.engine._artifact import Artifact, load_artifact
from cible.engine._decide import EXTRA_KEY, decide
from cible.engine._errors import ArtifactError
from cible.engine._hashing import allocation_for, allocation_visitor

__all__ = [
    "EXTRA_KEY",
    "Artifact",
    "ArtifactError",
    "allocation_for",
    "allocation_visitor",
    "decide",
    "load_artifact",
]
