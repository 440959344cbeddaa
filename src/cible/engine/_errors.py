"""The engine's one exception, raised only while loading an artifact.

`decide` never raises on request data; everything it cannot use becomes a reason in its result.
An artifact, on the other hand, is produced by a compiler (Cible's or Adobe's) and must be
rejected whole when wrong, with a message that names the rule at fault, so that the publisher can
fix it before any visitor sees a half-loaded set of activities.

    ValueError
     └── ArtifactError      bad JSON, wrong types, unknown operator, unsupported version
"""

from __future__ import annotations

__all__ = ["ArtifactError"]


class ArtifactError(ValueError):
    """The artifact cannot be used; the message names the rule (ruleKey, mbox or view) at fault.

    >>> from cible.engine import load_artifact
    >>> try:
    ...     load_artifact({"version": "2.0.0"})
    ... except ArtifactError as error:
    ...     print(error)
    artifact version '2.0.0' is not supported (major version must be 1)
    """
