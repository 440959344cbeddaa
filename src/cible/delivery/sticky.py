"""Sticky A/B assignment: a visitor keeps his experience for the life of an activity.

The engine allocates by hashing the visitor into the traffic bands of the artifact, so a
change of split would move visitors. Before deciding, the artifact is viewed through the
visitor's stored assignments: in an A/B activity he was assigned to, the rules of other
experiences never match, and the rule of his experience matches when its condition holds for
some allocation inside that experience's band (the audience and schedule parts still apply).
Activities whose stored experience no longer exists are decided afresh (and reassigned).
The view shares every other rule with the artifact; ``StickyIndex`` keeps the views made per
combination of assignments, so a returning visitor's view is usually a dictionary lookup.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cible.engine import Artifact

__all__ = ["AB_TYPE", "StickyIndex", "experiences_by_activity"]

AB_TYPE = "ab"


def _numbers(logic: Any) -> Iterable[float]:
    if isinstance(logic, bool):
        return
    if isinstance(logic, int | float):
        yield float(logic)
    elif isinstance(logic, list):
        for item in logic:
            yield from _numbers(item)
    elif isinstance(logic, Mapping):
        for item in logic.values():
            yield from _numbers(item)


def _candidates(source: Any) -> tuple[float, ...]:
    # A band is {"<=" or "<": [low, allocation]} and {">=": [high, allocation]}: allocations just
    # above each bound written in the condition cover every band.
    values: set[float] = set()
    for number in _numbers(source):
        for value in (number, number + 0.005):
            if 0 <= value < 100:
                values.add(round(value, 3))
    return tuple(sorted(values))


def _never(_context: Any) -> bool:
    return False


def _within_band(matches: Callable[[Any], bool], candidates: tuple[float, ...]) -> Any:
    def sticky_matches(context: Any) -> bool:
        original = context.get("allocation")
        try:
            for value in candidates:
                context["allocation"] = value
                if matches(context):
                    return True
            return False
        finally:
            if original is None:
                context.pop("allocation", None)
            else:
                context["allocation"] = original

    return sticky_matches


def _is_ab(rule: Any) -> bool:
    return bool(rule.reads_allocation) and rule.meta.get("activity.type", AB_TYPE) == AB_TYPE


def experiences_by_activity(artifact: Artifact) -> dict[int, set[int]]:
    """Every (A/B activity → experience ids) present in the artifact."""
    found: dict[int, set[int]] = {}
    for rules in (*artifact.mbox_rules.values(), *artifact.view_rules.values()):
        for rule in rules:
            if _is_ab(rule) and rule.experience_id is not None:
                found.setdefault(int(rule.activity_id), set()).add(int(rule.experience_id))
    return found


class StickyIndex:
    """What ``sticky_view`` needs of one artifact, computed once, and the views it made.

    Visitors share few combinations of assignments, so views are kept per combination (at most
    ``max_views``, least recently made first out); each keeps the artifact's unpinned rules.
    """

    def __init__(self, artifact: Artifact, max_views: int = 4096) -> None:
        self.artifact = artifact
        self.experiences = experiences_by_activity(artifact)
        self.max_views = max_views
        self._mbox_lists: dict[int, set[str]] = {}
        self._view_lists: dict[int, set[str]] = {}
        for lists, kind in (
            (artifact.mbox_rules, self._mbox_lists),
            (artifact.view_rules, self._view_lists),
        ):
            for name, rules in lists.items():
                for rule in rules:
                    if _is_ab(rule):
                        kind.setdefault(int(rule.activity_id), set()).add(name)
        self._views: dict[frozenset[tuple[int, int]], Artifact] = {}

    def view(self, assignments: Mapping[int, int]) -> Artifact:
        """``artifact`` as a visitor with these assignments sees it."""
        pinned = frozenset(
            (activity, experience)
            for activity, experience in assignments.items()
            if experience in self.experiences.get(activity, ())
        )
        if not pinned:
            return self.artifact
        found = self._views.get(pinned)
        if found is None:
            found = self._pin(dict(pinned))
            if len(self._views) >= self.max_views:
                self._views.clear()  # simpler than an LRU, and rare: combinations are few
            self._views[pinned] = found
        return found

    def _pin(self, pinned: dict[int, int]) -> Artifact:
        artifact = self.artifact

        def pin(
            rule_lists: Mapping[str, tuple[Any, ...]], names: set[str]
        ) -> Mapping[str, tuple[Any, ...]]:
            if not names:
                return rule_lists
            changed = {
                name: tuple(_pin_rule(rule, pinned) for rule in rule_lists[name]) for name in names
            }
            return {**rule_lists, **changed}

        mbox_names = set().union(*(self._mbox_lists.get(a, set()) for a in pinned))
        view_names = set().union(*(self._view_lists.get(a, set()) for a in pinned))
        return dataclasses.replace(
            artifact,
            mbox_rules=pin(artifact.mbox_rules, mbox_names),
            view_rules=pin(artifact.view_rules, view_names),
        )


def _pin_rule(rule: Any, pinned: Mapping[int, int]) -> Any:
    if not _is_ab(rule):
        return rule
    experience = pinned.get(int(rule.activity_id))
    if experience is None:
        return rule
    condition = rule.condition
    if rule.experience_id is None or int(rule.experience_id) != experience:
        matches: Callable[[Any], bool] = _never
    else:
        matches = _within_band(condition.matches, _candidates(condition.source))
    return dataclasses.replace(rule, condition=dataclasses.replace(condition, matches=matches))
