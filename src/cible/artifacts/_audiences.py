"""Audiences of one compile, each translated once, including combined (``audienceRule``) ones.

An audience is used by many rules (every experience and location that lists it); translating it
once per compile keeps the compiler linear, and the cache is also where a combined audience that
includes itself is caught.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cible.artifacts.errors import ArtifactError, TargetRuleError
from cible.artifacts.targeting import JsonLogic, Translation, translate_target_rule

__all__ = ["AudienceBook"]


class AudienceBook:
    """Each audience translated once per compile; remote-ness and variables come along."""

    def __init__(self, audiences: Mapping[int, Mapping[str, Any]], at: datetime) -> None:
        self._audiences = audiences
        self._at = at
        self._done: dict[int, Translation] = {}
        self._open: set[int] = set()

    def get(self, audience_id: int, path: str) -> Translation:
        if audience_id in self._done:
            return self._done[audience_id]
        audience = self._audiences.get(audience_id)
        if not isinstance(audience, Mapping):
            raise ArtifactError(path, f"unknown audience {audience_id}")
        if audience_id in self._open:
            raise ArtifactError(path, f"audience {audience_id} includes itself")
        self._open.add(audience_id)
        where = f"audiences[{audience_id}]"
        if audience.get("targetRule") is None and audience.get("audienceRule") is not None:
            result = self._combined(audience["audienceRule"], f"{where}.audienceRule")
        else:
            rule = audience.get("targetRule")
            if rule is not None and not isinstance(rule, Mapping):
                raise TargetRuleError(f"{where}.targetRule", "targetRule is an object")
            result = translate_target_rule(rule, at=self._at, path=f"{where}.targetRule")
        self._open.discard(audience_id)
        self._done[audience_id] = result
        return result

    def _combined(self, rule: object, path: str) -> Translation:
        # Admin API `audienceRule` (CompositeSegmentRule): {restRuleOperator, rules} over
        # audience ids or nested rules. NOT is read as "none of the rules".
        if not isinstance(rule, Mapping):
            raise ArtifactError(path, "audienceRule is an object")
        operator = str(rule.get("restRuleOperator", "")).upper()
        items = rule.get("rules")
        if operator not in ("AND", "OR", "NOT") or not isinstance(items, list) or not items:
            raise ArtifactError(path, "audienceRule needs restRuleOperator AND|OR|NOT and rules")
        parts: list[Translation] = []
        for i, item in enumerate(items):
            if isinstance(item, int) and not isinstance(item, bool):
                parts.append(self.get(item, f"{path}.rules[{i}]"))
            else:
                parts.append(self._combined(item, f"{path}.rules[{i}]"))
        logics = [part.logic for part in parts]
        joined: JsonLogic = (
            logics[0] if len(logics) == 1 else {"and" if operator == "AND" else "or": logics}
        )
        logic = {"!": joined} if operator == "NOT" else joined
        return Translation(
            logic,
            any(part.remote for part in parts),
            frozenset().union(*(part.variables for part in parts)),
        )
