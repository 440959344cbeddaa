"""Compile what the Admin API stores into Adobe Target's on-device ``rules.json`` artifact.

Pure functions only: the rebuild job reads activities, offers and audiences from the database and
the ``/{client}/{env}/v1/rules.json`` route serves ``dump_artifact(compile_artifact(...))``.
Adobe's ``target-python-sdk`` decides on-device from the result unmodified; ``cible.engine``
decides from the same file. docs/artifacts.md describes input shapes, grammar and encodings.

>>> from datetime import UTC, datetime
>>> artifact = compile_artifact(
...     client="acme", environment="production", generated_at=datetime(2026, 1, 1, tzinfo=UTC),
...     activities=[{"id": 7, "type": "ab", "name": "Hero", "state": "approved",
...                  "options": [{"optionLocalId": 0, "offerId": 1}],
...                  "locations": {"mboxes": [{"locationLocalId": 0, "name": "hero"}]},
...                  "experiences": [{"experienceLocalId": 0, "name": "A", "visitorPercentage": 100,
...                                   "optionLocations": [{"locationLocalId": 0,
...                                                        "optionLocalId": 0}]}]}],
...     offers={1: {"id": 1, "name": "Banner", "type": "content", "content": "<b>Hi</b>"}},
...     audiences={})
>>> [rule["meta"]["experience.name"] for rule in artifact["rules"]["mboxes"]["hero"]]
['A']
"""

from cible.artifacts.compiler import (
    ARTIFACT_VERSION,
    DEFAULT_GLOBAL_MBOX,
    DEFAULT_RESPONSE_TOKENS,
    compile_artifact,
    dump_artifact,
)
from cible.artifacts.errors import ArtifactError, TargetRuleError
from cible.artifacts.targeting import compile_target_rule, translate_target_rule
from cible.artifacts.tokens import EventTokenRef, decode_event_token, event_token

__all__ = [
    "ARTIFACT_VERSION",
    "DEFAULT_GLOBAL_MBOX",
    "DEFAULT_RESPONSE_TOKENS",
    "ArtifactError",
    "EventTokenRef",
    "TargetRuleError",
    "compile_artifact",
    "compile_target_rule",
    "decode_event_token",
    "dump_artifact",
    "event_token",
    "translate_target_rule",
]
