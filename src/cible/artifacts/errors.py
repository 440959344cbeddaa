"""Errors raised while compiling activities and audiences into a rules artifact.

Both carry the path of the offending field, so the Admin API can answer 400 with one
``(path, message)`` pair per problem (see ``cible.errors.BadRequest.fields``) without this package
knowing anything about HTTP.

::

    ValueError
     +-- ArtifactError          an activity, offer or audience that cannot be compiled
          +-- TargetRuleError   an audience ``targetRule`` outside the documented grammar
"""

from __future__ import annotations

__all__ = ["ArtifactError", "TargetRuleError"]


class ArtifactError(ValueError):
    """An input that cannot be compiled; ``path`` names the field, e.g. ``activities[2].state``."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class TargetRuleError(ArtifactError):
    """A ``targetRule`` outside the grammar; ``path`` is e.g. ``targetRule.and[1].equals``."""
